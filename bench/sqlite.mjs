// The better-sqlite3 build for this Node version, chosen as src/store/sqlite-driver.ts does:
// 13 (Node-API, the `better-sqlite3-napi` alias) from Node 22 on, 12 on Node 20.
import { createRequire } from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
export default createRequire(import.meta.url)(major >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3');
