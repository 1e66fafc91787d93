import { Stack } from './stack.js';

export function reverse(items) {
  // gen: push every item on a new Stack, then pop them all into a new array and return it
}
