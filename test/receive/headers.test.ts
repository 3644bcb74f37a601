import t from 'tap';
import { readHeaderFacts } from '../../src/receive/headers.js';

const block = (from: string) => Buffer.from(`From: ${from}\r\nTo: r@dest.test\r\nSubject: s\r\n`, 'latin1');

// The address parser's reading of a From value is remembered (headers.ts): the second message
// with the same value must read exactly like the first, and nothing a caller does to one
// message's facts may show in the next one's.
t.test('a From value read again gives the same facts, whatever the first caller did with them', async (t) => {
  for (const from of ['App <noreply@app.test>', 'bench@source.test', 'Team: a@x.test, "B" <b@y.test>;', '"Quoted, Name" <q@z.test> (comment)', '']) {
    const first = readHeaderFacts(block(from));
    const expected = JSON.parse(JSON.stringify(first)) as unknown;
    first.from.mailboxes.length = 0;
    first.from.mailboxes.push({ address: 'changed@evil.test', name: null });
    const second = readHeaderFacts(block(from));
    t.same(second, expected, JSON.stringify(from));
  }
});

t.test('the facts of a group and of several mailboxes', async (t) => {
  const facts = readHeaderFacts(block('Team: a@x.test, "B" <b@y.test>;'));
  t.equal(facts.from.group, true);
  t.same(facts.from.mailboxes, [
    { address: 'a@x.test', name: null },
    { address: 'b@y.test', name: 'B' },
  ]);
  t.equal(facts.fromAddress, 'a@x.test');
  const plain = readHeaderFacts(block('App <noreply@app.test>'));
  t.equal(plain.from.group, false);
  t.equal(plain.fromAddress, 'noreply@app.test');
  t.equal(plain.fromName, 'App');
});
