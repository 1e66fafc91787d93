package limits

// MaxCartItems is how many items a cart may hold.
const MaxCartItems = 50
