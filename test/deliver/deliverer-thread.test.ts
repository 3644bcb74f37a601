/**
 * deliverer.test.ts again, every session on the delivery thread (src/deliver/session-thread.ts):
 * the thread boundary must not change what a delivery comes to.
 */
process.env.FERRY_TEST_DELIVERY_THREAD = '1';
await import('./deliverer.test.js');
