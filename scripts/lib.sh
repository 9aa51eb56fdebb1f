# Shared by scripts/run and scripts/test: each ensure_* installs one missing tool, saying so,
# and stops the script with a clear message if that fails. Sourced, not executed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Where cargo puts build output for these scripts. The test script points it outside the clone
# (see scripts/test); everything below reads it from here, never from a hard-coded target/.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUTPUT_NAME=signaldesk
CARGO_LEPTOS_VERSION=0.3.10
export PATH="$HOME/.cargo/bin:$PATH"
# Keep the leptos crates' compile-time view identical for cargo-leptos and our scripted build,
# so the two share build artifacts and name the wasm the same way.
export LEPTOS_OUTPUT_NAME="$OUTPUT_NAME"

step() { printf '\n\033[1;36m==> %s\033[0m\n' "$*"; }
fail() { printf '\n\033[1;31mFAILED: %s\033[0m\n' "$*" >&2; exit 1; }
run_or_fail() { local what="$1"; shift; "$@" || fail "$what (command: $*)"; }

apt_install() {
  command -v apt-get >/dev/null || fail "apt-get not found: install $* with your package manager"
  if [ -z "${APT_UPDATED:-}" ]; then
    run_or_fail "apt-get update" apt-get update -qq
    APT_UPDATED=1
  fi
  run_or_fail "installing $*" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "Installing the wasm32-unknown-unknown Rust target"
    run_or_fail "rustup target add" rustup target add wasm32-unknown-unknown
  fi
}

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

ensure_wasm_bindgen() {
  local want; want="$(wasm_bindgen_version)"
  [ -n "$want" ] || fail "cannot read the wasm-bindgen version from Cargo.lock"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    step "Installing wasm-bindgen-cli $want (matches Cargo.lock; takes about 10 minutes once)"
    # Not --locked: its lock file does not resolve on this toolchain (see docs in README).
    run_or_fail "cargo install wasm-bindgen-cli" cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

ensure_cargo_leptos() {
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    step "Installing cargo-leptos $CARGO_LEPTOS_VERSION (no downloads; takes about 25 minutes once)"
    run_or_fail "cargo install cargo-leptos" \
      cargo install --locked --features no_downloads cargo-leptos --version "$CARGO_LEPTOS_VERSION"
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    step "Installing Debian's Chromium for the browser tests"
    apt_install chromium
  fi
}

# The reverse proxy of the deployment smoke test (end2end/deploy.sh runs its own instance on a
# high port; Debian's packaged service, if it started, is left alone).
ensure_nginx() {
  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    step "Installing nginx for the deployment smoke test"
    apt_install nginx-light
  fi
}

ensure_node_modules() {
  command -v npm >/dev/null || apt_install nodejs npm
  local dir="$ROOT/end2end"
  if [ ! -d "$dir/node_modules/@playwright/test" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    step "Installing the Playwright test runner (npm ci; browsers come from Debian, never downloaded)"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) || fail "npm ci in end2end/"
  fi
}

# schemathesis (the API conformance run) in a virtualenv of its own, at a pinned version.
SCHEMATHESIS_VERSION=4.32.5
VENV="${SIGNALDESK_VENV:-$HOME/.cache/signaldesk/venv}"
ensure_schemathesis() {
  if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $3}')" != "$SCHEMATHESIS_VERSION" ]; then
    step "Installing schemathesis $SCHEMATHESIS_VERSION (PyPI, into $VENV)"
    command -v python3 >/dev/null || apt_install python3 python3-venv
    python3 -m venv "$VENV" || { apt_install python3-venv && python3 -m venv "$VENV"; } || fail "python3 -m venv"
    run_or_fail "pip install schemathesis" "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

# moto's S3-compatible server, for the blob store's S3 test (domain/tests/blob_store_s3.rs).
MOTO_VERSION=5.1.22
ensure_moto() {
  if [ "$("$VENV/bin/pip" show moto 2>/dev/null | awk '/^Version:/ {print $2}')" != "$MOTO_VERSION" ]; then
    step "Installing moto $MOTO_VERSION (a local S3-compatible server for the blob store test; PyPI, into $VENV)"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" || fail "python3 -m venv"
    run_or_fail "pip install moto" "$VENV/bin/pip" install -q "moto[server]==$MOTO_VERSION"
  fi
  export S3_TEST_SERVER="$VENV/bin/moto_server"
}

# cargo-fuzz for the bounded fuzzing run (scripts/fuzz).
ensure_cargo_fuzz() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    step "Installing cargo-fuzz (about a minute once)"
    run_or_fail "cargo install cargo-fuzz" cargo install cargo-fuzz --locked
  fi
}

# The PostgreSQL tests never skip: start the local server if it is installed but stopped,
# install it if it is missing.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    step "Installing PostgreSQL"
    apt_install postgresql
  fi
  step "Starting the local PostgreSQL"
  local version; version="$(ls /etc/postgresql | sort -V | tail -n1)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start \
    || fail "could not start PostgreSQL $version"
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || fail "PostgreSQL did not become ready on 127.0.0.1:5432"
  # The tests connect as the postgres superuser over TCP; make sure trust/peer setups allow it.
  psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1 \
    || fail "cannot connect as postgres@127.0.0.1:5432 (set TEST_POSTGRES_URL to a superuser URL)"
}

# A debug build of the browser side without cargo-leptos: the wasm bundle, the CSS and static
# files, laid out exactly as cargo-leptos lays them out in target/site.
# The server binary itself is built by the caller: `cargo build -p server` for running,
# or `cargo test --no-run` in the test script (whose feature set differs; building both would
# compile the tree twice).
build_wasm_bundle() {
  local site="$TARGET_DIR/site"
  step "Building the browser bundle (wasm)"
  run_or_fail "cargo build -p frontend" cargo build -p frontend --lib --target wasm32-unknown-unknown
  mkdir -p "$site/pkg"
  run_or_fail "wasm-bindgen" wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name "$OUTPUT_NAME" \
    "$TARGET_DIR/wasm32-unknown-unknown/debug/frontend.wasm"
  # cargo-leptos names the wasm <name>.wasm when it sets LEPTOS_OUTPUT_NAME; do the same.
  mv -f "$site/pkg/${OUTPUT_NAME}_bg.wasm" "$site/pkg/$OUTPUT_NAME.wasm"
  cp "$ROOT/style/main.css" "$site/pkg/$OUTPUT_NAME.css"
  cp -r "$ROOT/public/." "$site/"
}
