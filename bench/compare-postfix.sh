#!/usr/bin/env bash
# Ferry against Postfix on the same loopback load. Installs Postfix (for smtp-source and
# smtp-sink too) if missing, then runs bench/compare-postfix.mjs, which prints the table.
#   bench/compare-postfix.sh [--cases 4k,100k,5m] [--scale 1] [--dist DIR]
# Needs root (a private Postfix instance is started with `postfix -c`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v smtp-source >/dev/null || [ ! -x /usr/lib/postfix/sbin/master ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix
fi
[ -f dist/admin/entry.js ] || npm run build
exec node bench/compare-postfix.mjs "$@"
