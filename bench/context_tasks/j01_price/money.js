/** Cents as a price: formatPrice(250, 'EUR') is '2.50 EUR'. */
export function formatPrice(cents, currency = 'USD') {
  return `${(cents / 100).toFixed(2)} ${currency}`;
}
