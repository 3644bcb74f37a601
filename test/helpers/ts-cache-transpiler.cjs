'use strict';
// The TypeScript transpiler of the tap run (tsconfig.tap.json, which tap picks up by itself):
// ts-node's own transpile-only output, byte for byte, kept on disk by content so that each test
// process does not transpile again the ~240 source files it imports (seconds of CPU per test
// file that imports the relay, over 200 files, on 2 cores). A key covers the TypeScript version,
// the compiler options, the module kind, the file name and the source text, so an edited file is
// transpiled afresh; output with diagnostics (a syntax error) is never cached, so the error is
// reported every time. Delete the directory (os.tmpdir()/ferry-ts-cache) to start from nothing.
const { createHash, randomBytes } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { dirname, join } = require('node:path');

const dir = join(tmpdir(), 'ferry-ts-cache');

exports.create = function create({ service, nodeModuleEmitKind }) {
  const ts = service.projectLocalResolveHelper('typescript', true);
  const tsModule = require(ts);
  const tsNode = dirname(require.resolve('@isaacs/ts-node-temp-fork-for-pr-2009/package.json'));
  const { createTsTranspileModule } = require(join(tsNode, 'dist', 'ts-transpile-module.js'));
  const compilerOptions = service.config.options;
  const salt = JSON.stringify([tsModule.version, compilerOptions, nodeModuleEmitKind ?? null]);
  let transpile;
  return {
    transpile(input, { fileName }) {
      const key = createHash('sha256').update(salt).update('\0').update(fileName).update('\0').update(input).digest('hex');
      const file = join(dir, `${key}.json`);
      try {
        return JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        // not cached yet
      }
      transpile ??= createTsTranspileModule(tsModule, { compilerOptions, reportDiagnostics: true });
      const out = transpile(input, { fileName }, nodeModuleEmitKind === 'nodeesm' ? 'module' : 'commonjs');
      if (!out.diagnostics?.length) {
        mkdirSync(dir, { recursive: true });
        // A private name, then rename: another process (or worker thread) reads all of it or nothing.
        const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
        writeFileSync(tmp, JSON.stringify({ outputText: out.outputText, sourceMapText: out.sourceMapText }));
        renameSync(tmp, file);
      }
      return out;
    },
  };
};
