/** Whether `text` looks like an email address. */
export function isEmail(text) {
  return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text);
}
