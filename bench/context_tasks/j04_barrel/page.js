import { isoDay, toSlug } from './utils/index.js';

export function pagePath(date, title) {
  // gen: return '/' + isoDay(date) + '/' + toSlug(title)
}
