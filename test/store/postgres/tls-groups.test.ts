import t, { type Test } from 'tap';
import type { Store } from '../../../src/core/store.js';
import { openTestStore, testPg } from '../../helpers/postgres.js';
import { TLS_CONTRACT } from '../contract/groups-tls.js';

// The mtaSts and tlsReports contract (test/store/contract/groups-tls.ts) on the PostgreSQL engine,
// until that engine joins test/store/contract/engines.ts.
const engine = { name: 'postgres', open: async (t: Test) => (await openTestStore(t, (await testPg()).url, 'tls')) as unknown as Store };
for (const [group, run] of Object.entries(TLS_CONTRACT)) t.test(group, (t) => run(t, engine));
