def clamp(value: float, low: float, high: float) -> float:
    """`value` kept between `low` and `high`."""
    return max(low, min(high, value))
