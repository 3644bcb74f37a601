import t from 'tap';
import { buildConfig } from '../../src/config/load.js';
import { FerryError } from '../../src/core/errors.js';

t.test('sign.threads: "auto" by default, 0 to 32 accepted, anything else named with what is allowed', async (t) => {
  t.equal(buildConfig({}, '/').sign.threads, 'auto');
  t.equal(buildConfig({ sign: { threads: 0 } }, '/').sign.threads, 0, '0: sign on the SMTP thread');
  t.equal(buildConfig({ sign: { threads: 2 } }, '/').sign.threads, 2);
  for (const bad of ['many', -1, 1.5, 33]) {
    let err: unknown;
    try {
      buildConfig({ sign: { threads: bad } }, '/');
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof FerryError, `${JSON.stringify(bad)} refused`);
    t.match((err as Error).message, new RegExp(`sign\\.threads = ${JSON.stringify(bad).replace(/[.]/g, '\\.')}: expected "auto" or a whole number of threads from 0 \\(sign on the main thread\\) to 32`));
  }
  let unknown: unknown;
  try {
    buildConfig({ sign: { thread: 1 } }, '/');
  } catch (e) {
    unknown = e;
  }
  t.match((unknown as Error).message, /sign/, 'an unknown key in the block is refused');
});
