import t from 'tap';
import { readFileSync } from 'node:fs';
import { buildConfig, loadConfig } from '../../src/config/load.js';

// config/ferry.example.yaml promises to document every key: it must load, and every setting
// the schema knows must appear in it.

const root = new URL('../../', import.meta.url).pathname;

t.test('the example configuration loads and names every key of the schema', async (t) => {
  const text = readFileSync(`${root}config/ferry.example.yaml`, 'utf8');
  t.doesNotThrow(() => loadConfig({ file: 'config/ferry.example.yaml', env: {}, cwd: root }), 'it validates');
  t.doesNotThrow(() => loadConfig({ file: 'config/docker.yaml', env: {}, cwd: root }), 'the Docker configuration validates');

  const defaults = buildConfig({}, root) as unknown as Record<string, unknown>;
  const missing: string[] = [];
  const walk = (obj: Record<string, unknown>, path: string[]) => {
    for (const [key, value] of Object.entries(obj)) {
      const here = [...path, key];
      if (!new RegExp(`^\\s*#?\\s*${key}:`, 'm').test(text)) missing.push(here.join('.'));
      if (value && typeof value === 'object' && !Array.isArray(value) && key !== 'routes') walk(value as Record<string, unknown>, here);
    }
  };
  walk(defaults, []);
  t.same(missing, [], 'every key is documented');
});
