const D = require('better-sqlite3');
const db = new D('/tmp/lk/ferry.lock', {timeout: 0});
db.pragma('locking_mode = EXCLUSIVE');
try { db.exec('BEGIN EXCLUSIVE; COMMIT'); console.log('b got lock'); } catch (e) { console.log('b', e.code, e.message); }
const r = new D('/tmp/lk/ferry.lock', {readonly: true, timeout: 0});
try { r.prepare('select count(*) from sqlite_master').get(); console.log('reader got shared'); } catch (e) { console.log('r', e.code, e.message); }
