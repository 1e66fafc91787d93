"""Orders, stock and prices for a small online shop."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

log = logging.getLogger(__name__)

VAT_RATE = 0.2
FREE_SHIPPING_FROM_CENTS = 5000


@dataclass
class Item:
    """One product the shop sells."""

    sku: str
    name: str
    price_cents: int
    quantity: int = 0
    tags: list[str] = field(default_factory=list)

    @property
    def in_stock(self) -> bool:
        return self.quantity > 0

    def price_with_vat(self) -> int:
        """The shelf price, VAT included, rounded to the cent."""
        return round(self.price_cents * (1 + VAT_RATE))


@dataclass
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass
class Order:
    number: str
    customer: str
    placed_on: date
    lines: list[OrderLine] = field(default_factory=list)
    shipped: bool = False

    def subtotal_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    def shipping_cents(self) -> int:
        if self.subtotal_cents() >= FREE_SHIPPING_FROM_CENTS:
            return 0
        return 495


class Inventory:
    """The shop's stock, by SKU."""

    def __init__(self, items: list[Item] | None = None) -> None:
        self._items: dict[str, Item] = {item.sku: item for item in items or []}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, sku: str) -> Item | None:
        return self._items.get(sku)

    def add(self, item: Item) -> None:
        if item.sku in self._items:
            raise ValueError(f"duplicate SKU {item.sku}")
        self._items[item.sku] = item

    def restock(self, sku: str, quantity: int) -> Item:
        item = self._items[sku]
        item.quantity += quantity
        log.info("restocked %s: %d", sku, item.quantity)
        return item

    def reserve(self, order: Order) -> list[str]:
        """Take the order's quantities out of stock; the SKUs that were short."""
        short = []
        for line in order.lines:
            item = self._items.get(line.sku)
            if item is None or item.quantity < line.quantity:
                short.append(line.sku)
                continue
            item.quantity -= line.quantity
        return short

    def low_stock(self, threshold: int = 3) -> list[Item]:
        return sorted(
            (item for item in self._items.values() if item.quantity <= threshold),
            key=lambda item: item.quantity,
        )

    def items(self) -> list[Item]:
        return list(self._items.values())


def load_inventory(path: Path) -> Inventory:
    """Read the inventory from a JSON file of item objects."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Inventory([Item(**entry) for entry in raw])


def save_inventory(inventory: Inventory, path: Path) -> None:
    data = [item.__dict__ for item in inventory.items()]
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def order_total_cents(order: Order) -> int:
    """What the customer pays: lines, VAT and shipping."""
    subtotal = order.subtotal_cents()
    vat = round(subtotal * VAT_RATE)
    return subtotal + vat + order.shipping_cents()


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def orders_between(orders: list[Order], start: date, end: date) -> list[Order]:
    return [order for order in orders if start <= order.placed_on <= end]


def unshipped(orders: list[Order]) -> list[Order]:
    return [order for order in orders if not order.shipped]


def revenue_by_customer(orders: list[Order]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for order in orders:
        totals[order.customer] = totals.get(order.customer, 0) + order_total_cents(order)
    return totals


def parse_order(record: dict[str, object]) -> Order:
    lines = [OrderLine(**line) for line in record.get("lines", [])]  # type: ignore[arg-type]
    placed = datetime.strptime(str(record["placed_on"]), "%Y-%m-%d").date()
    return Order(
        number=str(record["number"]),
        customer=str(record["customer"]),
        placed_on=placed,
        lines=lines,
        shipped=bool(record.get("shipped", False)),
    )


def report(inventory: Inventory, orders: list[Order]) -> str:
    lines = [f"{len(inventory)} products, {len(orders)} orders"]
    for item in inventory.low_stock():
        lines.append(f"low: {item.sku} {item.name} ({item.quantity} left)")
    for customer, total in sorted(revenue_by_customer(orders).items()):
        lines.append(f"{customer}: {format_cents(total)}")
    return "\n".join(lines)
