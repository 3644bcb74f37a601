const D = require('better-sqlite3');
const db = new D('/tmp/lk/ferry.lock');
db.pragma('locking_mode = EXCLUSIVE');
db.exec('BEGIN EXCLUSIVE; COMMIT');
console.log('locked', require('fs').readdirSync('/tmp/lk'));
setTimeout(()=>{}, 100000);
