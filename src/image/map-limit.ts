/**
 * Bounded parallelism for block transfers: enough requests in flight to fill a link, few enough that
 * one pull does not hog the registry or the thread pool.
 */

/**
 * Runs `fn` over `items` with at most `limit` calls in flight and returns the results in input
 * order. The first rejection rejects the whole call; calls already started are left to finish, and
 * no new ones start.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  async function lane(): Promise<void> {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  }
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => lane());
  await Promise.all(lanes);
  return results;
}
