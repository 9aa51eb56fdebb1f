#!/usr/bin/env bash
# Starts the built server for one Playwright project on a database of its own:
#   serve.sh sqlite PORT    → a fresh SQLite file in a temp directory
#   serve.sh postgres PORT  → a fresh PostgreSQL database, dropped when the server stops
# Beside it runs the SMTP sink (testkit) on PORT+10, its mail listed at http://127.0.0.1:PORT+20/mails,
# the fake Discord (testkit) on PORT+30 (its state at /_fake/state), and one bot process.
set -euo pipefail
backend="$1"; port="$2"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
tmp="$(mktemp -d)"
export BIND_ADDR="127.0.0.1:$port" PUBLIC_URL="http://127.0.0.1:$port" SITE_ROOT="$target/site" DATA_DIR="$tmp/data" RUST_LOG="${RUST_LOG:-warn}"
source "$root/end2end/fakes.sh" "$port"
unset DATABASE_URL
admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db=""
if [ "$backend" = postgres ]; then
  db="e2e_$(date +%s)_$$"
  psql "$admin" -q -c "CREATE DATABASE \"$db\"" >/dev/null
  export DATABASE_URL="${admin%/*}/$db"
fi
# The tests run the operator CLI against this same database.
mkdir -p "$root/end2end/.state"
{ echo "DATA_DIR=$DATA_DIR"; [ -n "$db" ] && echo "DATABASE_URL=$DATABASE_URL"; echo "DISCORD_STATE=$DISCORD_API_URL/_fake/state"; } > "$root/end2end/.state/$backend.env"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "${bot:-}" ] && kill "$bot" 2>/dev/null && wait "$bot" 2>/dev/null || true
  for f in "${fakes_pids[@]:-}"; do [ -n "$f" ] && kill "$f" 2>/dev/null && wait "$f" 2>/dev/null || true; done
  [ -n "$db" ] && psql "$admin" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 0' TERM INT
start_fakes "$target"
"$target/debug/server" &
pid=$!
# The bot waits for the server's migrations: it starts once the server answers.
for _ in $(seq 1 100); do curl -sf "$PUBLIC_URL/readyz" >/dev/null && break; sleep 0.2; done
"$target/debug/bot" &
bot=$!
wait "$pid"
