import t from 'tap';
import { parseReply } from '../../src/deliver/reply.js';

t.test('parseReply', async (t) => {
  const cases: [string, ReturnType<typeof parseReply>][] = [
    ['250 2.0.0 Ok: queued as ABC', { code: 250, enhanced: '2.0.0', text: '250 2.0.0 Ok: queued as ABC' }],
    ['550 5.1.1 <x@y>: Recipient address rejected', { code: 550, enhanced: '5.1.1', text: '550 5.1.1 <x@y>: Recipient address rejected' }],
    ['550-5.7.1 Message rejected\r\n550 5.7.1 as spam', { code: 550, enhanced: '5.7.1', text: '550-5.7.1 Message rejected 550 5.7.1 as spam' }],
    ['451 Try again later', { code: 451, enhanced: null, text: '451 Try again later' }],
    ['421', { code: 421, enhanced: null, text: '421' }],
    ['550 4.1.1 class mismatch is not believed', { code: 550, enhanced: null, text: '550 4.1.1 class mismatch is not believed' }],
    ['452 4.5.3 Too many recipients\n', { code: 452, enhanced: '4.5.3', text: '452 4.5.3 Too many recipients' }],
    ['not a reply', null],
    ['', null],
  ];
  for (const [raw, want] of cases) t.same(parseReply(raw), want, JSON.stringify(raw));
});
