import type { Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/load.js';
import { createFerry, type Ferry, type FerryDeps } from '../../src/main.js';
import { hashPassword } from '../../src/policy/passwords.js';
import { createUsersRepo } from '../../src/store/users-repo.js';
import type { Db } from '../../src/store/db.js';
import { testCert } from './tls.js';
import { freshWriterEntry } from './writer-entry.js';

export interface RelayOverrides {
  smtp?: Record<string, unknown>;
  spool?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface StartedRelay {
  ferry: Ferry;
  smtpPort: number;
  smtpsPort: number | null;
  dataDir: string;
}

/** A fresh temp directory removed in teardown (after everything else registered before it closed). */
export function tempDir(t: Test, prefix = 'ferry-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A real relay on 127.0.0.1 with a real SQLite file in a temp directory; stopped in teardown.
 * `overrides.smtp` is merged into the smtp section; other keys replace top-level sections.
 */
export async function startRelay(t: Test, overrides: RelayOverrides = {}, deps: FerryDeps = {}): Promise<StartedRelay> {
  const dataDir = (overrides.dataDir as string | undefined) ?? tempDir(t);
  const { smtp, ...rest } = overrides;
  const config = buildConfig(
    {
      dataDir,
      hostname: 'ferry.test',
      log: { level: (process.env.FERRY_TEST_LOG ?? 'silent') as 'silent' },
      // Traffic stays on loopback: unless a test brings its own DNS server, lookups (MX, DMARC)
      // go to a closed port and fail at once (a temporary failure: recipients are deferred).
      dns: { servers: ['127.0.0.1:9'], timeoutMs: 300, tries: 1 },
      // The HTTP endpoint defaults to 127.0.0.1:8025: parallel tests would fight over it.
      http: { listen: null },
      // Signing on the test's own thread: a signing thread loads its TypeScript through the test
      // runner's compiler, which takes seconds on a busy machine. Tests of the threads set it.
      sign: { threads: 0 },
      ...rest,
      smtp: { listen: '127.0.0.1:0', ...(smtp ?? {}) },
    },
    dataDir,
  );
  seedTls(dataDir, smtp);
  const writerEntry = freshWriterEntry();
  const ferry = createFerry(config, { ...(writerEntry ? { storeWriterEntry: writerEntry } : {}), ...deps });
  const addresses = await ferry.start();
  t.teardown(() => ferry.stop());
  return {
    ferry,
    smtpPort: portOf(addresses.smtp),
    smtpsPort: addresses.smtps ? portOf(addresses.smtps) : null,
    dataDir,
  };
}

/**
 * RSA key generation takes most of a relay's start-up on a busy machine: unless the test brings
 * its own certificate (smtp.tls) or the data directory already has one, the process-wide test
 * certificate is put where Ferry keeps its generated one, and Ferry loads it from there.
 * test/receive/tls-cert.test.ts covers the generation itself.
 */
function seedTls(dataDir: string, smtp: Record<string, unknown> | undefined): void {
  if (smtp?.tls) return;
  const dir = join(dataDir, 'tls');
  if (existsSync(join(dir, 'selfsigned.crt'))) return;
  const { key, cert } = testCert();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'selfsigned.key'), key, { mode: 0o600 });
  writeFileSync(join(dir, 'selfsigned.crt'), cert);
}

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}

/** Adds an SMTP user directly through the repository (as `ferry users add` does). */
export async function addUser(target: Ferry | Db, name: string, password: string, fromDomains: string[] = []): Promise<void> {
  const db = 'db' in target && 'queue' in target ? target.db : (target as Db);
  const ok = createUsersRepo(db).add(name, await hashPassword(password), fromDomains, Date.now());
  if (!ok) throw new Error(`user ${name} already exists`);
}

/** The whole stored message (header block, then body) as Ferry will send it. */
export async function storedMessage(ferry: Ferry, id: string): Promise<Buffer> {
  const row = ferry.queue.messages.get(id);
  if (!row) throw new Error(`no message ${id}`);
  const chunks: Buffer[] = [];
  for await (const c of ferry.spool.open({ headers: row.headers, inline: row.body, file: row.spoolFile })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Number of messages accepted over SMTP (any status; DSNs Ferry wrote itself are not counted). */
export function messageCount(ferry: Ferry): number {
  return (ferry.db.prepare("SELECT COUNT(*) AS n FROM messages WHERE kind = 'submission'").get() as { n: number }).n;
}

/** What intake recorded for each recipient of a message: [address, status at acceptance]. */
export function acceptedRecipients(ferry: Ferry, id: string): [string, string][] {
  const first = new Map<string, string>();
  for (const e of ferry.queue.events.forMessage(id)) {
    if (e.recipient !== null && !first.has(e.recipient)) first.set(e.recipient, e.type);
  }
  return ferry.queue.recipients.forMessage(id).map((r) => [r.address, first.get(r.address) ?? '(no event)']);
}

/** The queue id in a "250 2.0.0 Ok: queued as <id>" reply. */
export function queuedId(response: string): string {
  const m = /^250 2\.0\.0 Ok: queued as ([0-9A-Z]+)$/.exec(response.trim());
  if (!m) throw new Error(`not a queued reply: ${response}`);
  return m[1]!;
}
