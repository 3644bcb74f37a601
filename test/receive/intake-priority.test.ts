import t from 'tap';
import type { Logger } from '../../src/core/logger.js';
import { createIntake, type IntakeDeps } from '../../src/receive/intake.js';
import type { RaisePriorityResult } from '../../src/receive/smtp-thread-priority.js';

// Only what building an intake touches; receive() is covered by the e2e tests.
function deps(raisePriority: IntakeDeps['raisePriority'], logged: [string, unknown, string][]): IntakeDeps {
  const logger = {
    info: (o: unknown, m: string) => logged.push(['info', o, m]),
    warn: (o: unknown, m: string) => logged.push(['warn', o, m]),
  } as unknown as Logger;
  return {
    spool: {} as IntakeDeps['spool'],
    store: { queue: { accept: async () => undefined } } as unknown as IntakeDeps['store'],
    clock: { now: () => 0 } as unknown as IntakeDeps['clock'],
    newId: () => 'id',
    hostname: 'mx.test',
    maxHeaderBytes: 1000,
    maxMessageSizeBytes: 1000,
    checks: [],
    logger,
    ...(raisePriority === undefined ? {} : { raisePriority }),
  };
}

t.test('building the intake raises the SMTP thread priority once and says so', async (t) => {
  const logged: [string, unknown, string][] = [];
  let calls = 0;
  createIntake(deps(() => (calls++, { ok: true, tid: 7, niceness: -10 }), logged));
  t.equal(calls, 1);
  t.same(logged, [['info', { tid: 7, niceness: -10 }, 'intake: the SMTP thread runs at a raised priority']]);
});

t.test('refused (no CAP_SYS_NICE): a warning with the reason, and the intake still works', async (t) => {
  const logged: [string, unknown, string][] = [];
  const refused: RaisePriorityResult = { ok: false, reason: 'setpriority(7, -10): EACCES' };
  const intake = createIntake(deps(() => refused, logged));
  t.type(intake.receive, 'function');
  t.equal(logged.length, 1);
  t.equal(logged[0]![0], 'warn');
  t.same(logged[0]![1], { reason: 'setpriority(7, -10): EACCES' });
});

t.test('null leaves the priority alone', async (t) => {
  const logged: [string, unknown, string][] = [];
  createIntake(deps(null, logged));
  t.same(logged, []);
});

t.test('absent (tests, tools): the priority is left alone, nothing is raised implicitly', async (t) => {
  const logged: [string, unknown, string][] = [];
  createIntake(deps(undefined, logged));
  t.same(logged, []);
});
