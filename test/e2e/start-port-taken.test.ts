import t from 'tap';
import { createServer, type Server } from 'node:net';
import { buildConfig } from '../../src/config/load.js';
import { createFerry } from '../../src/main.js';
import { freePort } from '../helpers/cli.js';
import { tempDir } from '../helpers/relay.js';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * A start that cannot bind one of its listeners stops those already bound: the HTTP endpoint
 * bound first is released again when the SMTP port is taken, and the relay can start once the
 * port is free.
 */
t.test('the SMTP port is taken: start fails naming it, and the HTTP port bound before is free again', async (t) => {
  const dataDir = tempDir(t);
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const squatter = await listen(smtpPort);
  const config = buildConfig(
    { dataDir, hostname: 'ferry.test', smtp: { listen: `127.0.0.1:${smtpPort}` }, http: { listen: `127.0.0.1:${httpPort}` }, log: { level: 'silent' } },
    dataDir,
  );
  const first = createFerry(config);
  await t.rejects(first.start(), { code: 'FERRY_ERR_CONFIG', message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${smtpPort}`) });
  const probe = await listen(httpPort);
  t.pass('the HTTP port was released');
  await new Promise((r) => probe.close(r));
  await first.stop();
  await new Promise((r) => squatter.close(r));

  const second = createFerry(config);
  const addresses = await second.start();
  t.equal(addresses.http, `127.0.0.1:${httpPort}`, 'a later start binds both');
  await second.stop();
});
