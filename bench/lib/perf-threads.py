# Summarizes `perf script -F tid,ip,sym` output (perf record -g -p PID): samples per thread, the
# top leaf functions of each, and which of them hang under V8's GC or libuv's pool.
# python3 bench/lib/perf-threads.py tmp/perf/all.txt [roles-dir]
import collections, os, sys
path = sys.argv[1]
roles = {}
if len(sys.argv) > 2:
    for n in os.listdir(sys.argv[2]):
        roles[int(n)] = open(os.path.join(sys.argv[2], n)).read().strip()
tid_count = collections.Counter(); top = collections.defaultdict(collections.Counter); kind = collections.defaultdict(collections.Counter)
cur = None; frames = []
def flush():
    if cur is None: return
    tid_count[cur] += 1
    if frames: top[cur][frames[0]] += 1
    s = ' '.join(frames)
    k = 'GC' if ('Heap::' in s or 'Scavenge' in s or 'MarkCompact' in s or 'Sweeper' in s or 'ConcurrentMarking' in s or 'GCTracer' in s) else 'libuv pool' if 'uv__worker' in s or 'worker(void' in s else 'SQLite' if 'sqlite3' in s else 'crypto' if 'EVP_' in s or 'ossl' in s or 'sha256' in s.lower() else 'other'
    kind[cur][k] += 1
for line in open(path):
    if not line.strip():
        flush(); cur = None; frames = []; continue
    if not line.startswith('\t'):
        flush(); cur = int(line.split()[0]); frames = []; continue
    parts = line.strip().split(None, 1)
    frames.append(parts[1] if len(parts) > 1 else parts[0])
flush()
tot = sum(tid_count.values())
for tid, c in tid_count.most_common():
    print(f"tid {tid} {roles.get(tid, '')}: {c} samples {100 * c / tot:.1f}%  " + ', '.join(f"{k} {v}" for k, v in kind[tid].most_common()))
    for s, n in top[tid].most_common(6): print(f"     {n:5d} {s[:110]}")
