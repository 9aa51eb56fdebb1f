#!/usr/bin/env bash
# The deployment layout of deploy/ on this machine, for the Playwright project "deploy":
#   deploy.sh PORT
# nginx (deploy/nginx/signaldesk.conf, ports rewritten) on PORT in front of two server processes
# (PORT+1, PORT+2) and two bot processes, all on one fresh PostgreSQL database; beside them the
# SMTP sink (PORT+10, its mail at PORT+20) and the fake Discord (PORT+30), as serve.sh does.
# nginx logs which server answered each request to .state/deploy-upstreams.log.
set -euo pipefail
port="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
tmp="$(mktemp -d)"
chmod 755 "$tmp"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
one=$((port + 1)); two=$((port + 2))
export PUBLIC_URL="http://127.0.0.1:$port" SITE_ROOT="$target/site" DATA_DIR="$tmp/data" RUST_LOG="${RUST_LOG:-warn}"
export TRUSTED_PROXIES="127.0.0.1"
source "$root/end2end/fakes.sh" "$port"
admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="deploy_$(date +%s)_$$"
psql "$admin" -q -c "CREATE DATABASE \"$db\"" >/dev/null
export DATABASE_URL="${admin%/*}/$db"
state="$root/end2end/.state"
mkdir -p "$state"
upstreams="$state/deploy-upstreams.log"
: > "$upstreams"
{ echo "DATA_DIR=$DATA_DIR"; echo "DATABASE_URL=$DATABASE_URL"; echo "DISCORD_STATE=$DISCORD_API_URL/_fake/state"; } > "$state/deploy.env"
pids=()
cleanup() {
  [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$admin" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 0' TERM INT

start_fakes "$target"
pids+=("${fakes_pids[@]}")
# Both servers start at once on the fresh database (one migrates, the other waits for it).
BIND_ADDR="127.0.0.1:$one" "$target/debug/server" &
pids+=($!)
BIND_ADDR="127.0.0.1:$two" "$target/debug/server" &
pids+=($!)
for p in "$one" "$two"; do
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$p/readyz" >/dev/null || { echo "server on $p did not become ready" >&2; exit 1; }
done
"$target/debug/bot" &
pids+=($!)
"$target/debug/bot" &
pids+=($!)

# The shipped site configuration, pointed at this run's ports, inside a minimal nginx.conf.
mkdir -p "$tmp/nginx/logs" "$tmp/nginx/temp"
chmod 777 "$tmp/nginx/temp"
sed -e "s/listen 80;/listen 127.0.0.1:$port;/" \
    -e "s/server 127.0.0.1:3001 /server 127.0.0.1:$one /" \
    -e "s/server 127.0.0.1:3002 /server 127.0.0.1:$two /" \
    "$root/deploy/nginx/signaldesk.conf" > "$tmp/nginx/signaldesk.conf"
cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $tmp/nginx/temp/body;
    proxy_temp_path $tmp/nginx/temp/proxy;
    fastcgi_temp_path $tmp/nginx/temp/fastcgi;
    uwsgi_temp_path $tmp/nginx/temp/uwsgi;
    scgi_temp_path $tmp/nginx/temp/scgi;
    types { text/html html; application/javascript js; application/wasm wasm; text/css css; }
    log_format upstreams '\$upstream_addr \$status \$request_method \$uri';
    access_log $upstreams upstreams;
    include $tmp/nginx/signaldesk.conf;
}
CONF
"$nginx_bin" -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >/dev/null 2>&1 \
  || { "$nginx_bin" -t -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"; exit 1; }
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
wait "$nginx_pid"
