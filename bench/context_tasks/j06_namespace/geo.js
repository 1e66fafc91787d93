export const ORIGIN = { x: 0, y: 0 };

export function distance(a, b) {
  return Math.hypot(a.x - b.x, a.y - b.y);
}
