package cart

import "example.com/shop/limits"

// Full says whether a cart of n items is full.
func Full(n int) bool {
	// gen: whether n reached the limit in the limits package
}
