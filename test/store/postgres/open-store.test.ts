import t from 'tap';
import { buildConfig } from '../../../src/config/load.js';
import { openStore } from '../../../src/store/open.js';
import { tempDir } from '../../helpers/relay.js';
import { testPg } from '../../helpers/postgres.js';
import { freshWriterEntry } from '../../helpers/writer-entry.js';
import { message } from '../contract/fixtures.js';

// openStore is the one place an engine is chosen: store.url set → PostgreSQL, else SQLite in dataDir.

t.test('without store.url: the threaded SQLite store in dataDir', async (t) => {
  const dir = tempDir(t);
  const config = buildConfig({ dataDir: dir }, dir);
  const writerEntry = freshWriterEntry();
  const s = await openStore(config, writerEntry ? { writerEntry } : {});
  t.teardown(() => s.close());
  t.equal(s.engine, 'sqlite');
  t.equal(s.nodeName, null);
  await s.ping();
  const m = message();
  t.same(await s.queue.accept([m]), []);
  t.equal((await s.recipients.forMessage(m.message.id)).length, 1);
  await s.close();
  await t.rejects(s.ping(), { code: 'FERRY_ERR_STORE' }, 'a closed store is not healthy');
});

t.test('with store.url: the PostgreSQL engine as a node, or as an admin command beside it', async (t) => {
  const { url } = await testPg();
  const dir = tempDir(t);
  const config = buildConfig({ dataDir: dir, store: { url, nodeName: 'node-1', heartbeatMs: 1000 } }, dir);
  const node = await openStore(config);
  t.teardown(() => node.close());
  t.equal(node.engine, 'postgres');
  t.equal(node.nodeName, 'node-1');
  await node.ping();
  const m = message();
  await node.queue.accept([m]);
  // An admin command on the same store.url sees the cluster's data and is not a node.
  const admin = await openStore(config, { role: 'admin' });
  t.teardown(() => admin.close());
  t.equal((await admin.recipients.forMessage(m.message.id)).length, 1);
  if (admin.engine === 'postgres') t.same((await admin.nodes.list(Date.now())).map((n) => n.name), ['node-1'], 'the admin command registers no node');
  await node.close();
  await t.rejects(node.ping(), { code: 'FERRY_ERR_STORE' }, 'a closed store is not healthy');
});
