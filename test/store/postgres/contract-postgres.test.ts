import t from 'tap';
import { openTestStore, testPg } from '../../helpers/postgres.js';
import { storeContract } from '../../helpers/engine-contract.js';

// The store contract (test/helpers/engine-contract.ts) on the PostgreSQL engine, a fresh database per test.
storeContract(t, async (t) => openTestStore(t, (await testPg()).url, 'contract'));
