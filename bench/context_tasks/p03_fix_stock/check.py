from shop.inventory import StockItem
from shop.report import stock_value

assert stock_value([StockItem("a", 2, 1.5), StockItem("b", 1, 4.0)]) == 7.0
