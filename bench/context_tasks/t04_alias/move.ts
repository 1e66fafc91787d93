import type { Vec } from './point';

export function add(a: Vec, b: Vec): Vec {
  // gen: the component-wise sum of a and b
}
