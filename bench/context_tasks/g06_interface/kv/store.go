package kv

// Store is a key-value store.
type Store interface {
	Fetch(key string) (string, bool)
	Store(key, value string)
}
