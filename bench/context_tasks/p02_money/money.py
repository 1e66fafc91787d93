class Money:
    """An amount in cents of one currency."""

    def __init__(self, cents: int, currency: str) -> None:
        self.cents = cents
        self.currency = currency

    def add(self, other: "Money") -> "Money":
        """The sum; both in the same currency."""
        if other.currency != self.currency:
            raise ValueError("currencies differ")
        return Money(self.cents + other.cents, self.currency)
