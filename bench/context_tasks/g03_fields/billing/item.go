package billing

// Line is one billed line.
type Line struct {
	Label      string
	PriceCents int
	Quantity   int
}
