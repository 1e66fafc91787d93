from mathutil import clamp


# fix: the percentage is wrong: check the order of clamp's arguments
def percent(x: float) -> float:
    return clamp(0, 100, x * 100)
