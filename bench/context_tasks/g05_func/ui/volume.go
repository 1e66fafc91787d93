package ui

import "example.com/shop/mathx"

// Volume is the level after a step, kept between 0 and 100.
func Volume(level, step int) int {
	// gen: level plus step, clamped with the mathx package
}
