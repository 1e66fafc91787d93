from cart import total
from money import Money

t = total([Money(150, "EUR"), Money(250, "EUR")])
assert (t.cents, t.currency) == (400, "EUR")
assert total([]).cents == 0
