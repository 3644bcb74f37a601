import type { Test } from 'tap';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/db.js';
import type { AcceptedMessage } from '../../src/store/queue-store.js';
import { tempDir } from './relay.js';

/** A real SQLite file in a temp directory, closed in teardown. */
export function testDb(t: Test): { db: Db; file: string; dir: string } {
  const dir = tempDir(t);
  const file = join(dir, 'ferry.db');
  const db = openDatabase({ file });
  t.teardown(() => {
    if (db.open) db.close();
  });
  return { db, file, dir };
}

let seq = 0;
export function accepted(over: { id?: string; at?: number; recipients?: string[]; spoolFile?: string | null } = {}): AcceptedMessage {
  const id = over.id ?? `MSG${String(++seq).padStart(6, '0')}`;
  const at = over.at ?? 1_760_000_000_000;
  const headers = Buffer.from(`Received: test\r\nSubject: ${id}\r\n\r\n`);
  const body = over.spoolFile ? null : Buffer.from('body\r\n');
  return {
    message: {
      id,
      createdAt: at,
      sender: 'app@example.com',
      username: null,
      clientIp: '127.0.0.1',
      helo: 'client.test',
      tls: null,
      size: headers.length + 6,
      headers,
      body,
      spoolFile: over.spoolFile ?? null,
      headerFrom: 'app@example.com',
      messageIdHeader: null,
      subject: id,
      eightBit: false,
      smtputf8: false,
      kind: 'submission',
    },
    recipients: (over.recipients ?? ['a@example.net']).map((address) => ({
      address,
      domain: address.split('@')[1]!,
      status: 'queued' as const,
      reason: null,
      category: null,
    })),
  };
}
