import t from 'tap';
import { testDb } from '../../helpers/store.js';
import { storeContract, type ContractStore } from '../../helpers/engine-contract.js';
import { createQueueStore } from '../../../src/store/queue-store.js';
import { createSuppressionsRepo } from '../../../src/store/suppressions-repo.js';
import { createLimitsRepo } from '../../../src/store/limits-repo.js';
import { createWebhooksRepo } from '../../../src/store/webhooks-repo.js';
import { createUsersRepo } from '../../../src/store/users-repo.js';
import { createAdminsRepo } from '../../../src/store/admins-repo.js';
import { createDkimKeysRepo } from '../../../src/store/dkim-keys-repo.js';
import { createAttemptsRepo } from '../../../src/store/attempts-repo.js';
import { createDsnOutboxRepo } from '../../../src/store/dsn-outbox-repo.js';
import { createQueueAdminRepo } from '../../../src/store/queue-admin-repo.js';
import { createStatsRepo } from '../../../src/store/stats-repo.js';
import { createQuotaRepo } from '../../../src/store/quota-repo.js';

/** A synchronous repository with every method returning a Promise (what the async interface will do). */
function asAsync(repo: object): Record<string, (...args: unknown[]) => Promise<unknown>> {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [k, v] of Object.entries(repo)) if (typeof v === 'function') out[k] = async (...args) => (v as (...a: unknown[]) => unknown)(...args);
  return out;
}

// The same contract on today's SQLite repositories, so the two engines are held to one behaviour.
storeContract(t, async (t) => {
  const { db } = testDb(t);
  const q = createQueueStore(db);
  return {
    queue: asAsync(q),
    messages: asAsync(q.messages),
    recipients: asAsync(q.recipients),
    events: asAsync(q.events),
    suppressions: asAsync(createSuppressionsRepo(db)),
    limits: asAsync(createLimitsRepo(db)),
    webhooks: asAsync(createWebhooksRepo(db)),
    users: asAsync(createUsersRepo(db)),
    admins: asAsync(createAdminsRepo(db)),
    dkimKeys: asAsync(createDkimKeysRepo(db)),
    attempts: asAsync(createAttemptsRepo(db)),
    dsnOutbox: asAsync(createDsnOutboxRepo(db)),
    queueAdmin: asAsync(createQueueAdminRepo(db)),
    stats: asAsync(createStatsRepo(db)),
    quota: asAsync(createQuotaRepo(db)),
  } as unknown as ContractStore;
});
