package cache

// Lookup returns the value of key and whether it was there at time now.
func (c *Cache) Lookup(key string, now int64) (string, bool) {
	e, ok := c.entries[key]
	if !ok || e.expires < now {
		return "", false
	}
	return e.value, true
}
