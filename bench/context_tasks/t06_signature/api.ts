/** GET `url` as JSON; rejects after `timeoutMs`. */
export async function fetchJson<T>(url: string, options: { timeoutMs: number; retries?: number }): Promise<T> {
  const reply = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs) });
  return (await reply.json()) as T;
}
