/**
 * The bound on a wait for something that must happen (a delivery, a reply, a row). It only ever
 * matters when the test is about to fail, so it is generous: a bound sized for a quiet machine
 * (5-15 s) turned a slow CI machine, or two test files at once on two cores, into failures of
 * tests whose behaviour was right. A test that needs "nothing happens" checks that separately.
 */
export const LIVENESS_FLOOR_MS = 60_000;

export function livenessBound(timeoutMs: number): number {
  return Math.max(timeoutMs, LIVENESS_FLOOR_MS);
}
