import t from 'tap';
import { signingNiceness } from '../../src/sign/sign-worker.js';
import { THROUGHPUT_THREAD_NICENESS } from '../../src/core/thread-priority.js';
import { SMTP_THREAD_NICENESS } from '../../src/receive/smtp-thread-priority.js';

t.test('a signing thread runs ten nice levels below the SMTP thread, within 0..19', async (t) => {
  t.equal(signingNiceness(0), THROUGHPUT_THREAD_NICENESS, 'SMTP thread at the normal priority (not raised): signing at 10, as before');
  t.equal(signingNiceness(SMTP_THREAD_NICENESS), 0, 'SMTP thread raised to -10: signing at the normal priority, not 10');
  t.equal(signingNiceness(-5), 5);
  t.equal(signingNiceness(-20), 0, 'never above the normal priority: that would need a privilege');
  t.equal(signingNiceness(15), 19, 'never past the lowest');
});
