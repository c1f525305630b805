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

/**
 * Runs `fn` on each of `items` once `ready(item)` has resolved, in the order they become ready (a
 * fetch running alongside delivers them), with at most `limit` calls in flight. The first rejection,
 * of `ready` or of `fn`, rejects the whole call; calls already started are left to finish, and no
 * new ones start.
 */
export async function mapAsReady<T>(
  items: readonly T[],
  limit: number,
  ready: (item: T) => Promise<void>,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const queue: T[] = [];
  let taken = 0;
  let notReady = items.length;
  let failure: { err: unknown } | undefined;
  const sleepers: (() => void)[] = [];
  const wake = (): void => sleepers.splice(0).forEach((w) => w());
  for (const item of items) {
    ready(item).then(
      () => {
        notReady--;
        queue.push(item);
        wake();
      },
      (err: unknown) => {
        notReady--;
        failure ??= { err };
        wake();
      },
    );
  }
  async function lane(): Promise<void> {
    for (;;) {
      if (failure) throw failure.err;
      if (taken < queue.length) {
        const item = queue[taken++] as T;
        try {
          await fn(item);
        } catch (err) {
          failure ??= { err };
          wake();
          throw err;
        }
        continue;
      }
      if (notReady === 0) return;
      await new Promise<void>((resolve) => sleepers.push(resolve));
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => lane()));
}
