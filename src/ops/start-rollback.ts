/**
 * Parts started one after the other (the relay's listeners): the stop of each part that started
 * is kept, and when one cannot start, those already running stop again (the last started first)
 * before the error goes on to the caller. `running`: parts started before the first bind.
 */
export function createStartRollback(running: (() => unknown)[] = []): <T>(start: () => Promise<T>, stop: () => unknown) => Promise<T> {
  const undo = [...running];
  return async function bind<T>(start: () => Promise<T>, stop: () => unknown): Promise<T> {
    try {
      const address = await start();
      undo.unshift(stop);
      return address;
    } catch (err) {
      for (const step of undo) await step();
      throw err;
    }
  };
}
