export * from './dates.js';
export { slug as toSlug } from './text.js';
