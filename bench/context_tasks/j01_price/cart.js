import { formatPrice } from './money.js';

export function total(items) {
  // gen: return the sum of item.cents of items, formatted with formatPrice in 'EUR'
}
