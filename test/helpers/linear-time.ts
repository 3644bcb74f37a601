/**
 * Time bounds for parsers of untrusted input, robust on a loaded machine: the CPU time of the
 * smallest of several runs at size n and at size 8n. Linear work gives a ratio near 8; a
 * quadratic parser gives 64. The bound asserted is 20 (growth clearly below quadratic), with the
 * minimum over runs taken so that another process stealing the CPU cannot make one run look slow.
 */
export async function cpuMs(fn: () => unknown): Promise<number> {
  const start = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

export async function growth(make: (n: number) => unknown, run: (input: never) => unknown, n: number, runs = 7): Promise<{ small: number; large: number; ratio: number }> {
  const small = make(n) as never;
  const large = make(8 * n) as never;
  await run(small); // warm up (JIT)
  let a = Infinity;
  let b = Infinity;
  for (let i = 0; i < runs; i++) {
    a = Math.min(a, await cpuMs(() => run(small)));
    b = Math.min(b, await cpuMs(() => run(large)));
  }
  // Below half a millisecond the clock and scheduler noise dominate: count such a run as 0.5 ms.
  return { small: a, large: b, ratio: b / Math.max(a, 0.5) };
}

/** The bound asserted on `growth(...).ratio`: 8n costs less than 20x n. */
export const LINEAR_RATIO_BOUND = 20;
