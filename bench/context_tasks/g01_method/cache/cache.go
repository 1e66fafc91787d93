package cache

// Cache holds values until they expire.
type Cache struct {
	entries map[string]entry
}

type entry struct {
	value   string
	expires int64
}
