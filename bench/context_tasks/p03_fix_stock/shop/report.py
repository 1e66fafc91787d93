from .inventory import StockItem


# fix: it crashes: use the attributes StockItem has
def stock_value(items: list[StockItem]) -> float:
    return sum(item.price * item.count for item in items)
