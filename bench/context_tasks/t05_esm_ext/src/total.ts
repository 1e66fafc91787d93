import type { Order } from './models.js';

export function orderTotal(order: Order): number {
  // gen: the sum of priceCents times qty over the order's items
}
