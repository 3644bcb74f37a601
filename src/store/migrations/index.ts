import type { Migration } from './types.js';
import { migration001 } from './001-queue.js';
import { migration002 } from './002-delivery.js';
import { migration003 } from './003-dkim-keys.js';
import { migration004 } from './004-suppressions.js';
import { migration005 } from './005-limits.js';
import { migration006 } from './006-webhooks.js';
import { migration007 } from './007-ops-indexes.js';
import { migration008 } from './008-dsn-outbox.js';
import { migration009 } from './009-rcpt-reply.js';
import { migration010 } from './010-retention.js';
import { migration011 } from './011-dsn-unsubscribe.js';
import { migration012 } from './012-console.js';
import { migration014 } from './014-wait-reason.js';
import { migration016 } from './016-mta-sts.js';
import { migration017 } from './017-attempt-tls.js';
import { migration018 } from './018-tls-reports.js';
import { migration019 } from './019-require-tls.js';
import { migration020 } from './020-message-bodies.js';
import { migration021 } from './021-writer-indexes.js';

/** Every migration, in any order (sorted by version when applied). Add new files here. */
export const MIGRATIONS: readonly Migration[] = [migration001, migration002, migration003, migration004, migration005, migration006, migration007, migration008, migration009, migration010, migration011, migration012, migration014, migration016, migration017, migration018, migration019, migration020, migration021];
export type { Migration };
