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
smtp_port=$((port + 10)); mail_port=$((port + 20))
export SMTP_URL="smtp://127.0.0.1:$smtp_port"
# Every browser test signs up from 127.0.0.1.
export SIGN_UPS_PER_ADDRESS=10000
# The Playwright payment tests sign their webhooks with this.
export SELLAPP_WEBHOOK_SECRETS="e2e-webhook-secret"
# Discord: the fake on PORT+30 with the customers' server and three tier roles.
discord_port=$((port + 30))
export DISCORD_API_URL="http://127.0.0.1:$discord_port" DISCORD_CLIENT_ID="900000000000000001" \
  DISCORD_CLIENT_SECRET="fake-client-secret" DISCORD_BOT_TOKEN="fake-bot-token" \
  CUSTOMER_GUILD_ID="1300000000000000000" JOB_LEASE_SECONDS=10 \
  TIER_ROLES="basic=1300000000000000001,advanced=1300000000000000002,pro=1300000000000000003"
# Attachments are fetched from the fake's CDN routes instead of cdn.discordapp.com.
export ATTACHMENT_SOURCES="$DISCORD_API_URL"
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
  [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null && wait "$sink" 2>/dev/null || true
  [ -n "${bot:-}" ] && kill "$bot" 2>/dev/null && wait "$bot" 2>/dev/null || true
  [ -n "${discord:-}" ] && kill "$discord" 2>/dev/null && wait "$discord" 2>/dev/null || true
  [ -n "$db" ] && psql "$admin" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 0' TERM INT
"$target/debug/testkit" smtp --port "$smtp_port" --http-port "$mail_port" >/dev/null &
sink=$!
"$target/debug/testkit" discord --port "$discord_port" --guild "$CUSTOMER_GUILD_ID" \
  --roles "Basic=1300000000000000001,Advanced=1300000000000000002,Pro=1300000000000000003" \
  --redirect-uri "$PUBLIC_URL/account/discord/callback" >/dev/null &
discord=$!
"$target/debug/server" &
pid=$!
# The bot waits for the server's migrations: it starts once the server answers.
for _ in $(seq 1 100); do curl -sf "$PUBLIC_URL/readyz" >/dev/null && break; sleep 0.2; done
"$target/debug/bot" &
bot=$!
wait "$pid"
