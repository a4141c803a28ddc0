/** Bounded waiting for the tests: one way to poll, so every wait names what it waited for and for how long. */

/** Polls `cond` every 20 ms until it holds; a wall-clock bound so a wait on a loaded machine still ends, naming `what`. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not reached in ${ms} ms`);
    await sleep(20);
  }
}

/** Resolves after `ms`: for spacing requests out, or giving a wrong move the time to show. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `fn` until it resolves (every 100 ms, at most `ms`), e.g. a client's first request after etcd restarted. */
export async function eventually<T>(fn: () => Promise<T>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(100);
    }
  }
}
