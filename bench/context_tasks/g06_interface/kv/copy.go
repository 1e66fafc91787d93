package kv

// Copy copies the given keys from src to dst, skipping missing ones.
func Copy(dst, src Store, keys []string) {
	// gen: for each key, Fetch it from src and Store it in dst when found
}
