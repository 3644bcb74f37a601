import type { RecipientStatus } from '../core/types.js';
import { sourcesOf } from '../core/status.js';
import { FerryError } from '../core/errors.js';
import { relaxedDurability, type Db } from './db.js';
import type { RecipientRow, NewRecipient, StatusChange } from '../core/store-types.js';
import { recipientFromRaw, type RawRecipient } from './recipient-rows.js';
export type { RecipientRow, NewRecipient, StatusChange } from '../core/store-types.js';
export { RATE_LIMITED } from '../core/store-types.js';

/** The only code that knows the SQL of the `recipients` table. */
export function createRecipientsRepo(db: Db) {
  const insert = db.prepare(
    `INSERT INTO recipients (message_id, address, domain, status, next_attempt_at, created_at, updated_at, last_reply, category, dsn_notify, dsn_orcpt)
     VALUES (@messageId, @address, @domain, @status, @next, @at, @at, @reason, @category, @notify, @orcpt)`,
  );
  const markDelay = db.prepare('UPDATE recipients SET dsn_delay_at = ? WHERE id = ? AND dsn_delay_at IS NULL');
  const byMessage = db.prepare('SELECT * FROM recipients WHERE message_id = ? ORDER BY id');
  const byId = db.prepare('SELECT * FROM recipients WHERE id = ?');
  // A claim pushes next_attempt_at to the lease's end: the row stops being due (so the
  // scheduler never sees its own in-flight work as due) and, if this node dies, becomes due
  // again by itself when the lease runs out.
  // INDEXED BY: without statistics SQLite prefers recipients_status_domain for the status term
  // and then sorts every waiting row: with 100,000 waiting, each claim and each nextDueAt scanned
  // them all. The partial due index answers both from its first entries.
  // LIMIT +@limit, not LIMIT @limit: SQLite's planner reads a bare bound LIMIT's value (for its
  // ORDER BY ... LIMIT estimate) and so marks the statement as depending on it; every new binding
  // of it, even the same value, then re-compiles the statement inside its step (sqlite3Prepare
  // under sqlite3_step: 2.5 % of the writer thread; measured in a loop, 28 µs per claim with
  // nothing due against 7 µs written this way). The unary plus hides the value from the planner;
  // INDEXED BY fixes the plan anyway.
  const due = db.prepare(
    `SELECT * FROM recipients INDEXED BY recipients_due WHERE status IN ('queued','deferred') AND next_attempt_at <= @now
     ORDER BY next_attempt_at LIMIT +@limit`,
  );
  const lease = db.prepare(
    'UPDATE recipients SET lease_until = @until, lease_owner = @owner, next_attempt_at = @until, wait_reason = NULL WHERE id = @id',
  );
  const claim = db.transaction((now: number, until: number, owner: string, limit: number) => {
    const rows = (due.all({ now, limit }) as RawRecipient[]).map(recipientFromRaw);
    for (const r of rows) {
      lease.run({ until, owner, id: r.id });
      r.leaseUntil = until;
      r.leaseOwner = owner;
    }
    return rows;
  });
  // Leases held through a long transfer: only rows still pending under this owner's lease (a
  // row whose fate was written, that was released, or that another owner claimed is left alone).
  // next_attempt_at moves with the lease, as at the claim: not due while held. `+status`: by id,
  // never by the status index (the planner picked recipients_pending_age and read every waiting
  // recipient for each renewal; test/store/query-plans.test.ts).
  const renew = db.prepare(
    `UPDATE recipients SET lease_until = @until, next_attempt_at = @until
     WHERE id IN (SELECT value FROM json_each(@ids)) AND lease_owner = @owner AND +status IN ('queued','deferred') RETURNING id`,
  );
  const leaseOf = db.prepare('SELECT status, lease_until, lease_owner FROM recipients WHERE id = ?');
  const release = db.prepare(
    "UPDATE recipients SET lease_until = NULL, lease_owner = NULL, next_attempt_at = @at, wait_reason = @reason WHERE id = @id AND status IN ('queued','deferred')",
  );
  const releaseMany = db.transaction((items: { id: number; at: number; reason?: string | null }[]) => {
    for (const i of items) release.run({ id: i.id, at: i.at, reason: i.reason ?? null });
  });
  // Rows the throttle handed back (queued: never attempted, not leased, due later) become due
  // now: the limits changed, so they are scheduled again under the new ones.
  const wakeHeld = db.prepare(
    `UPDATE recipients INDEXED BY recipients_due SET next_attempt_at = @now
     WHERE status IN ('queued','deferred') AND next_attempt_at > @now AND status = 'queued' AND lease_owner IS NULL`,
  );
  const releaseOwned = db.prepare(
    `UPDATE recipients SET lease_until = NULL, lease_owner = NULL, next_attempt_at = @at
     WHERE lease_owner = @owner AND status IN ('queued','deferred')`,
  );
  // Waiting recipients whose maximum age has passed and whose next attempt lies beyond it (held
  // back by a rate limit, or maxAgeHours lowered by a reload): nothing will try them again in time.
  const overdue = db.prepare(
    `SELECT * FROM recipients INDEXED BY recipients_pending_age
     WHERE status IN ('queued','deferred') AND created_at <= @now - @maxAgeMs
       AND next_attempt_at > created_at + @maxAgeMs AND COALESCE(lease_until, 0) <= @now
     ORDER BY created_at LIMIT +@limit`,
  );
  const nextDue = db.prepare("SELECT MIN(next_attempt_at) AS t FROM recipients INDEXED BY recipients_due WHERE status IN ('queued','deferred')");
  const complained = db.prepare('UPDATE recipients SET complained_at = coalesce(complained_at, ?) WHERE id = ?');
  const changeStatements = new Map<RecipientStatus, ReturnType<Db['prepare']>>();

  // A category says why mail did not go: a delivered recipient keeps none from earlier deferrals.
  const categoryOn = (to: RecipientStatus): string => (to === 'delivered' ? '@category' : 'COALESCE(@category, category)');

  function changeStatement(to: RecipientStatus) {
    let stmt = changeStatements.get(to);
    if (!stmt) {
      const from = sourcesOf(to).map((s) => `'${s}'`).join(',');
      stmt = db.prepare(
        `UPDATE recipients SET status = @status, updated_at = @at, next_attempt_at = @nextAttemptAt, lease_until = NULL, lease_owner = NULL,
           attempts = attempts + @attempted,
           last_code = COALESCE(@code, last_code), last_enhanced = COALESCE(@enhanced, last_enhanced),
           last_reply = COALESCE(@reply, last_reply), category = ${categoryOn(to)},
           mx_host = COALESCE(@mxHost, mx_host), remote_ip = COALESCE(@remoteIp, remote_ip),
           tls_protocol = COALESCE(@tlsProtocol, tls_protocol), tls_cipher = COALESCE(@tlsCipher, tls_cipher)
         WHERE id = @id AND status IN (${from || "''"})`,
      );
      changeStatements.set(to, stmt);
    }
    return stmt;
  }

  return {
    insert(r: NewRecipient): number {
      const info = insert.run({
        messageId: r.messageId,
        address: r.address,
        domain: r.domain,
        status: r.status,
        next: r.status === 'queued' ? r.at : null,
        at: r.at,
        reason: r.reason,
        category: r.category,
        notify: r.dsnNotify && r.dsnNotify.length ? r.dsnNotify.join(',') : null,
        orcpt: r.dsnOrcpt ?? null,
      });
      return Number(info.lastInsertRowid);
    },
    /** Records that a delay DSN is due for the recipient; false when one already was (at most one each). */
    markDelayReported(id: number, at: number): boolean {
      return markDelay.run(at, id).changes === 1;
    },
    forMessage(messageId: string): RecipientRow[] {
      return (byMessage.all(messageId) as RawRecipient[]).map(recipientFromRaw);
    },
    get(id: number): RecipientRow | undefined {
      const r = byId.get(id) as RawRecipient | undefined;
      return r && recipientFromRaw(r);
    },
    /** Claims up to `limit` due recipients for `owner` until `until`, oldest due first. */
    claim(now: number, until: number, owner: string, limit: number): RecipientRow[] {
      return relaxedDurability(db, () => claim(now, until, owner, limit));
    },
    /** Renews the leases `owner` still holds among `ids` until `until`; returns the ids renewed. */
    renew(owner: string, ids: readonly number[], until: number): number[] {
      if (ids.length === 0) return [];
      return relaxedDurability(db, () => (renew.all({ owner, until, ids: JSON.stringify(ids) }) as { id: number }[]).map((r) => r.id));
    },
    /** The recipient's status and lease, as a fate re-reads it inside its transaction; undefined: gone. */
    leaseOf(id: number): { status: RecipientStatus; leaseUntil: number | null; leaseOwner: string | null } | undefined {
      const r = leaseOf.get(id) as { status: RecipientStatus; lease_until: number | null; lease_owner: string | null } | undefined;
      return r && { status: r.status, leaseUntil: r.lease_until, leaseOwner: r.lease_owner };
    },
    /** Gives a claimed recipient back, due at `at` (no attempt counted). */
    release(id: number, at: number): void {
      release.run({ id, at, reason: null });
    },
    /** Gives claimed recipients back, each due at its own time (and why it waits), in one transaction. */
    releaseMany(items: { id: number; at: number; reason?: string | null }[]): void {
      if (items.length) releaseMany(items);
    },
    /** Never-attempted recipients waiting for budget are due now (after a limits change). Returns how many. */
    wakeHeld(now: number): number {
      return wakeHeld.run({ now }).changes;
    },
    /** Start-up: whatever this node held when it died is due again now. Returns how many. */
    releaseOwned(owner: string, at: number): number {
      return releaseOwned.run({ owner, at }).changes;
    },
    /** Waiting, not in flight, past their maximum age, and not due again before it: to be expired now. */
    overdue(now: number, maxAgeMs: number, limit: number): RecipientRow[] {
      return (overdue.all({ now, maxAgeMs, limit }) as RawRecipient[]).map(recipientFromRaw);
    },
    /** The earliest time something becomes due, or null when nothing waits. */
    nextDueAt(): number | null {
      return (nextDue.get() as { t: number | null }).t;
    },
    /**
     * The recipient's provider reported the message as spam: its state shows "spam" from now on
     * (the first complaint's time is kept). Not a status change: delivered stays delivered.
     */
    markComplained(id: number, at: number): void {
      complained.run(at, id);
    },
    /**
     * The one place a recipient's status changes after intake. The SQL only matches rows in a
     * status from which the move is legal, so a racing writer cannot turn delivered into deferred.
     */
    changeStatus(id: number, change: StatusChange): void {
      const info = changeStatement(change.status).run({
        id,
        status: change.status,
        at: change.at,
        nextAttemptAt: change.nextAttemptAt,
        attempted: change.attempted ? 1 : 0,
        code: change.code ?? null,
        enhanced: change.enhanced ?? null,
        reply: change.reply ?? null,
        category: change.category ?? null,
        mxHost: change.mxHost ?? null,
        remoteIp: change.remoteIp ?? null,
        tlsProtocol: change.tlsProtocol ?? null,
        tlsCipher: change.tlsCipher ?? null,
      });
      if (info.changes !== 1) {
        const current = byId.get(id) as RawRecipient | undefined;
        throw new FerryError(
          'FERRY_ERR_ILLEGAL_TRANSITION',
          current ? `recipient ${id}: ${current.status} cannot become ${change.status}` : `recipient ${id} does not exist`,
        );
      }
    },
  };
}

export type RecipientsRepo = ReturnType<typeof createRecipientsRepo>;
