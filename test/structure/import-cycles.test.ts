import t from 'tap';
import { fileURLToPath } from 'node:url';
import { cycles, folderOf, loopThrough, readImports, ROOT, type ImportEdge } from '../helpers/import-graph.js';

// The house rules of DESIGN.md, checked on the code as it stands: folders import each other in
// one direction only (shared contracts live in src/core/), no two files import each other, and
// nothing imports the composition root. Run alone: npx tap test/structure/import-cycles.test.ts
const repo = fileURLToPath(new URL('../..', import.meta.url));
const { files, edges } = readImports(repo);

function describeLoop(loop: string[], between: (a: string, b: string) => ImportEdge[]): string {
  const lines = [loop.join(' -> ')];
  for (let i = 0; i + 1 < loop.length; i++) {
    lines.push(`  ${loop[i]} -> ${loop[i + 1]}:`);
    for (const e of between(loop[i]!, loop[i + 1]!)) lines.push(`    ${e.from} imports '${e.specifier}'`);
  }
  return lines.join('\n');
}

t.test('the graph is read: src/ has files and imports', async (t) => {
  // A reader that found nothing would pass every check below.
  t.ok(files.includes('src/main.ts'), 'src/main.ts is read');
  t.ok(edges.some((e) => e.from === 'src/main.ts' && e.to === 'src/core/clock.ts'), "main.ts's import of core/clock.ts is seen");
  t.ok(edges.length > files.length, `${edges.length} imports among ${files.length} files`);
});

t.test('no import cycle between folders (src/<folder>, the root files as one)', async (t) => {
  const folderEdges = edges.filter((e) => folderOf(e.from) !== folderOf(e.to));
  const next = new Map<string, Set<string>>();
  for (const e of folderEdges) {
    const set = next.get(folderOf(e.from)) ?? new Set<string>();
    set.add(folderOf(e.to));
    next.set(folderOf(e.from), set);
  }
  const nodes = [...new Set(files.map(folderOf))].sort();
  const after = (n: string) => [...(next.get(n) ?? [])].sort();
  const found = cycles(nodes, after);
  const between = (a: string, b: string) => folderEdges.filter((e) => folderOf(e.from) === a && folderOf(e.to) === b);
  for (const component of found) t.fail(`folders import each other: ${describeLoop(loopThrough(component, after), between)}`);
  t.equal(found.length, 0, 'no folder cycle');
});

t.test('no import cycle between files', async (t) => {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const after = (n: string) => [...new Set(next.get(n) ?? [])].sort();
  const found = cycles(files, after);
  const between = (a: string, b: string) => edges.filter((e) => e.from === a && e.to === b);
  for (const component of found) t.fail(`files import each other: ${describeLoop(loopThrough(component, after), between)}`);
  t.equal(found.length, 0, 'no file cycle');
});

// The `ferry` command's process edge hands the composition root's factory to `ferry start`:
// the one import of main.ts there is, and the only way from a folder up to the root files.
const PROCESS_ENTRY = 'src/admin/entry.ts';

t.test('nothing imports the composition root, and no folder imports the root files', async (t) => {
  const intoMain = edges.filter((e) => e.to === 'src/main.ts' && e.from !== PROCESS_ENTRY);
  for (const e of intoMain) t.fail(`${e.from} imports '${e.specifier}': main.ts only wires, nothing imports it`);
  const upward = edges.filter((e) => folderOf(e.to) === ROOT && folderOf(e.from) !== ROOT && e.from !== PROCESS_ENTRY);
  for (const e of upward) t.fail(`${e.from} imports '${e.specifier}': the root sits above every folder`);
  t.equal(intoMain.length + upward.length, 0);
  t.ok(
    edges.some((e) => e.from === PROCESS_ENTRY && e.to === 'src/main.ts'),
    `${PROCESS_ENTRY} is where the relay comes from (when it moves, this rule moves with it)`,
  );
});

t.test('the checks find what they are meant to find', async (t) => {
  // Guards the checks themselves: a made-up graph with a loop through three nodes.
  const graph: Record<string, string[]> = { a: ['b'], b: ['c'], c: ['a', 'd'], d: [] };
  const after = (n: string) => graph[n] ?? [];
  const found = cycles(Object.keys(graph), after);
  t.same(found, [['a', 'b', 'c']]);
  t.same(loopThrough(found[0]!, after), ['a', 'b', 'c', 'a']);
  t.equal(folderOf('src/receive/intake.ts'), 'src/receive');
  t.equal(folderOf('src/http/console/plugin.ts'), 'src/http');
  t.equal(folderOf('src/main.ts'), ROOT);
});
