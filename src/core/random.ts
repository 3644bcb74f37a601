import { randomBytes, randomInt } from 'node:crypto';

/** Randomness is injected so tests can make shuffles and jitter repeatable. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** n random bytes. */
  bytes(n: number): Buffer;
}

export const systemRandom: Random = {
  // randomInt's range (max - min) must stay below 2^48
  next: () => randomInt(0, 2 ** 48 - 1) / 2 ** 48,
  bytes: (n) => randomBytes(n),
};

/** Deterministic generator for tests (mulberry32). */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
}
