from money import Money


def total(prices: list[Money]) -> Money:
    # gen: the sum of prices with Money.add, starting from Money(0, "EUR")
