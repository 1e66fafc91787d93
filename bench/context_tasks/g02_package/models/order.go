package models

// Order is one customer order.
type Order struct {
	ID    int
	Items []Item
}

// Item is one line of an order.
type Item struct {
	SKU   string
	Cents int
}

// Total is the order's price in cents.
func (o Order) Total() int {
	t := 0
	for _, it := range o.Items {
		t += it.Cents
	}
	return t
}
