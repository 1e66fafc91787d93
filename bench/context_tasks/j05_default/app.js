import createLogger from './logger.js';

export function greeting(name) {
  // gen: create a logger with the prefix 'app' and return its format of 'hello ' + name
}
