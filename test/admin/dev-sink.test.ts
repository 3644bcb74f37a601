import t from 'tap';
import nodemailer from 'nodemailer';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { createDevSink, type SinkMessage } from '../../src/admin/dev-sink.js';
import { tempDir } from '../helpers/relay.js';

t.test('the dev sink saves each message as a .eml file and answers with its name', async (t) => {
  const dir = join(tempDir(t), 'sink');
  const seen: SinkMessage[] = [];
  const errors: unknown[] = [];
  const sink = createDevSink({ listen: '127.0.0.1:0', dir, clock: new ManualClock(Date.UTC(2026, 0, 2, 3, 4, 5)), maxBytes: 2000, onMessage: (m) => seen.push(m), onError: (e) => errors.push(e) });
  const address = await sink.start();
  t.teardown(() => sink.close());
  const port = Number(address.split(':').pop());
  const tr = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true });
  t.teardown(() => tr.close());

  const info = await tr.sendMail({ from: 'a@x.test', to: ['b@y.test', 'c@y.test'], subject: 'one', text: 'hello' });
  t.equal(info.response, '250 2.0.0 Ok: saved as 2026-01-02T03-04-05-000Z-0001.eml');
  t.same(readdirSync(dir), ['2026-01-02T03-04-05-000Z-0001.eml'], 'no temp file left');
  t.match(readFileSync(join(dir, '2026-01-02T03-04-05-000Z-0001.eml'), 'utf8'), /Subject: one[\s\S]*hello/);
  t.match(seen[0], { from: 'a@x.test', to: ['b@y.test', 'c@y.test'], reply: info.response });

  await t.rejects(tr.sendMail({ from: 'a@x.test', to: 'b@y.test', subject: 'big', text: 'x'.repeat(5000) }), { responseCode: 552 });
  t.equal(seen.length, 1, 'too big: refused, not saved');
  t.same(errors, []);

  const other = createDevSink({ listen: address, dir, clock: new ManualClock(), maxBytes: 10, onMessage: () => undefined, onError: () => undefined });
  await t.rejects(other.start(), { code: 'FERRY_ERR_CONFIG', message: /cannot listen on/ });
});
