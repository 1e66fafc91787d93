import * as geo from './geo.js';

export function farthest(points) {
  // gen: return the point of points with the largest geo.distance from geo.ORIGIN
}
