/** A logger whose lines start with `[prefix]`. */
export default function createLogger(prefix) {
  return {
    format(message) {
      return `[${prefix}] ${message}`;
    },
  };
}
