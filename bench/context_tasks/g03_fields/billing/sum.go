package billing

// Sum is the total of the lines in cents.
func Sum(lines []Line) int {
	// gen: the sum of PriceCents times Quantity over lines
}
