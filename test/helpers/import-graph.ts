import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

/** One import of a source file that names another file of src/ (paths relative to the repository). */
export interface ImportEdge {
  from: string;
  to: string;
  /** The module specifier as written ('../receive/intake.js'). */
  specifier: string;
}

/** The node of the folder graph a file belongs to: src/<folder>, or the root for files directly under src/. */
export const ROOT = 'src/*.ts (the root)';

export function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : ROOT;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/**
 * Every import of every src/**\/*.ts file that names another file of src/, static, type-only,
 * re-export or dynamic import() alike: the TypeScript compiler's own pre-processor reads them
 * (strings and comments that merely look like imports are not taken).
 */
export function readImports(repo: string): { files: string[]; edges: ImportEdge[] } {
  const files = sourceFiles(join(repo, 'src')).map((f) => relative(repo, f).split(sep).join('/')).sort();
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(join(repo, file), 'utf8'), true, true);
    for (const imported of info.importedFiles) {
      const specifier = imported.fileName;
      if (!specifier.startsWith('.')) continue;
      // NodeNext: a TypeScript source is imported under its emitted name ('./x.js' is ./x.ts).
      const target = posix.normalize(posix.join(dirname(file), specifier)).replace(/\.js$/, '.ts');
      if (known.has(target)) edges.push({ from: file, to: target, specifier });
    }
  }
  return { files, edges };
}

/** Strongly connected components with more than one node (Tarjan), each as its nodes. */
export function cycles(nodes: readonly string[], next: (node: string) => readonly string[]): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  function visit(v: string): void {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  }
  for (const v of nodes) if (!idx.has(v)) visit(v);
  return out;
}

/** One closed path through a component, shortest from its first node back to it: a → b → … → a. */
export function loopThrough(component: readonly string[], next: (node: string) => readonly string[]): string[] {
  const inside = new Set(component);
  const start = component[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of next(v)) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(cameFrom.get(path[0]!)!);
        return [...path, start];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}
