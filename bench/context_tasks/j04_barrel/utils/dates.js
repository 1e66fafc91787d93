/** The day of `date` as YYYY-MM-DD (UTC). */
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}
