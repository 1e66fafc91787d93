package api

import (
	"fmt"

	"example.com/shop/models"
)

// Describe says "order 7: 1250 cents".
func Describe(o models.Order) string {
	// gen: the order's ID and its Total() formatted with fmt.Sprintf
}
