import t from 'tap';
import { STORE_GROUPS } from '../../../src/core/store.js';
import { ENGINES } from './engines.js';
import { CONTRACT as BASE } from './groups.js';
import { TLS_CONTRACT } from './groups-tls.js';
import { CONSOLE_CONTRACT } from './groups-console.js';
import { AUDITED_CONTRACT } from './groups-audited.js';

const CONTRACT = { ...BASE, ...TLS_CONTRACT, ...AUDITED_CONTRACT };

// Each group opens a fresh store; a threaded engine started from TypeScript sources (no fresh
// build, see freshWriterEntry) takes seconds per writer thread.
t.setTimeout(900_000);

t.test('the contract covers every group of the Store interface', async (t) => {
  t.same(Object.keys(CONTRACT).sort(), [...STORE_GROUPS].sort());
  t.same(Object.keys(CONSOLE_CONTRACT).filter((g) => !(STORE_GROUPS as readonly string[]).includes(g)), [], "the console's reads belong to groups of the interface");
});

// FERRY_STORE_ENGINES=postgres (comma-separated names) runs only those engines, for a quick look at one.
const only = process.env.FERRY_STORE_ENGINES?.split(',');
for (const engine of ENGINES.filter((e) => !only || only.includes(e.name))) {
  t.test(engine.name, async (t) => {
    for (const [group, run] of Object.entries(CONTRACT)) {
      await t.test(group, async (t) => {
        await run(t, engine);
        // The web console's reads of this group (groups-console.ts), on a store of their own.
        const reads = CONSOLE_CONTRACT[group];
        if (reads) await t.test('console reads', (t) => reads(t, engine));
      });
    }
  });
}
