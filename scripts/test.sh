#!/usr/bin/env bash
# Runs every test of the workspace, starting what the tests need:
#   - PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (used if they answer, started if installed);
#   - a throwaway virtualenv with the official OpenAI Python SDK (for the SDK compatibility suite);
#   - cargo-nextest when available (plain `cargo test` otherwise);
#   - the web console (scripts/build-console.sh) and its browser suite (e2e/) in Debian's Chromium, installing
#     Chromium (apt-get, as root) and the suite's npm packages when they are missing.
# Usage: scripts/test.sh [extra nextest / cargo test arguments]
# SWITCHYARD_SKIP_E2E=1 leaves out the console and the browser suite (for a quick backend-only run).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
CACHE_DIR="${SWITCHYARD_CACHE_DIR:-$HOME/.cache/switchyard}"
OPENAI_SDK_VERSION="3.57.0"
ANTHROPIC_SDK_VERSION="2.14.0"
PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- PostgreSQL -------------------------------------------------------------------------------------------
pg_answers() { (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null; }
# A server given through SWITCHYARD_TEST_DATABASE_URL is used as it is.
if [ -z "${SWITCHYARD_TEST_DATABASE_URL:-}" ] && ! pg_answers; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    die "PostgreSQL is not answering on $PG_HOST:$PG_PORT and is not installed; install it (Debian: apt-get install postgresql) or set SWITCHYARD_TEST_DATABASE_URL to a server with trust auth"
  fi
  for _ in $(seq 1 50); do pg_answers && break; sleep 0.2; done
  pg_answers || die "PostgreSQL did not come up on $PG_HOST:$PG_PORT"
fi
export SWITCHYARD_TEST_DATABASE_URL="${SWITCHYARD_TEST_DATABASE_URL:-postgres://postgres@$PG_HOST:$PG_PORT/postgres}"
# Databases left behind by interrupted runs. Without `force`: a database still in use belongs to a run going on
# elsewhere on this machine and is left alone.
if command -v psql >/dev/null 2>&1; then
  psql "$SWITCHYARD_TEST_DATABASE_URL" -Atc "select datname from pg_database where datname like 'sy\_test\_%' or datname like 'sy\_e2e\_%'" 2>/dev/null \
    | while read -r db; do psql "$SWITCHYARD_TEST_DATABASE_URL" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
fi

# --- Redis ------------------------------------------------------------------------------------------------
redis_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; }
if [ -z "${SWITCHYARD_TEST_REDIS_URL:-}" ] && ! redis_answers; then
  command -v redis-server >/dev/null 2>&1 || die "Redis is not answering on 127.0.0.1:$REDIS_PORT and redis-server is not installed (Debian: apt-get install redis-server)"
  say "starting Redis"
  mkdir -p "$CACHE_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$CACHE_DIR/redis" --logfile "$CACHE_DIR/redis/redis.log"
  for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
  redis_answers || die "Redis did not come up on 127.0.0.1:$REDIS_PORT"
fi
export SWITCHYARD_TEST_REDIS_URL="${SWITCHYARD_TEST_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}"

command -v curl >/dev/null 2>&1 || die "curl is needed by the documented admin walkthrough test (Debian: apt-get install curl)"

# --- The official OpenAI and Anthropic Python SDKs in a throwaway virtualenv ------------------------------
command -v python3 >/dev/null 2>&1 || die "python3 is needed for the SDK suites (Debian: apt-get install python3 python3-venv)"
VENV="$CACHE_DIR/venv-openai-$OPENAI_SDK_VERSION-anthropic-$ANTHROPIC_SDK_VERSION"
if ! "$VENV/bin/python" -c "import openai, anthropic" >/dev/null 2>&1; then
  say "installing openai==$OPENAI_SDK_VERSION and anthropic==$ANTHROPIC_SDK_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "openai==$OPENAI_SDK_VERSION" "anthropic==$ANTHROPIC_SDK_VERSION"
fi
export SWITCHYARD_TEST_PYTHON="$VENV/bin/python"

# --- What the browser suite needs, checked before the long part -----------------------------------------
E2E=1
[ "${SWITCHYARD_SKIP_E2E:-}" = "1" ] && E2E=0
CHROMIUM="${SWITCHYARD_E2E_CHROMIUM:-/usr/bin/chromium}"
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}
if [ "$E2E" = 1 ]; then
  command -v rustup >/dev/null 2>&1 \
    || die "rustup is needed for the console's wasm32 target (https://rustup.rs), or set SWITCHYARD_SKIP_E2E=1"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "installing Debian's nodejs and npm"
    apt_install nodejs npm || true
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
      || die "node and npm are needed for the console's browser suite (Debian: apt-get install nodejs npm), or set SWITCHYARD_SKIP_E2E=1"
  fi
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$node_major" -ge 20 ] \
    || die "the browser suite needs Node.js 20 or later (found $(node --version)); install a newer one, or set SWITCHYARD_SKIP_E2E=1"
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client || true
  command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools || true
  command -v psql >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
    || die "psql and redis-cli are needed by the browser suite (Debian: apt-get install postgresql-client redis-tools), or set SWITCHYARD_SKIP_E2E=1"
  # The suite makes its throwaway database on the same server, and uses the same Redis, as the other tests.
  export SWITCHYARD_E2E_POSTGRES_URL="${SWITCHYARD_E2E_POSTGRES_URL:-${SWITCHYARD_TEST_DATABASE_URL%/*}}"
  export SWITCHYARD_E2E_REDIS_URL="${SWITCHYARD_E2E_REDIS_URL:-$SWITCHYARD_TEST_REDIS_URL}"
  if [ ! -x "$CHROMIUM" ]; then
    say "installing Debian's chromium (the suite never downloads a browser)"
    apt_install chromium || true
    [ -x "$CHROMIUM" ] || die "Chromium is needed at $CHROMIUM for the browser suite (Debian: apt-get install chromium), or set SWITCHYARD_SKIP_E2E=1"
  fi
  if ! cmp -s e2e/package-lock.json e2e/node_modules/.installed-lock.json 2>/dev/null; then
    say "npm ci in e2e/ (playwright-core only; no browser download)"
    npm --prefix e2e ci --silent --no-audit --no-fund
    cp e2e/package-lock.json e2e/node_modules/.installed-lock.json
  fi
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
fi

# --- Lints and tests --------------------------------------------------------------------------------------
# The console is a workspace member compiled only to wasm32; host builds take the default members.
say "clippy"
cargo clippy --all-targets --quiet -- -D warnings
if [ "$E2E" = 1 ]; then
  cargo clippy -p switchyard-console --target wasm32-unknown-unknown --quiet -- -D warnings
fi
status=0
if cargo nextest --version >/dev/null 2>&1; then
  say "cargo nextest run"
  cargo nextest run --no-fail-fast "$@" || status=1
else
  say "cargo test (cargo-nextest not installed)"
  cargo test --no-fail-fast "$@" || status=1
fi

if [ "$E2E" = 1 ]; then
  bash scripts/build-console.sh
  cargo build -p switchyard -p mock-provider --bins --quiet
  say "browser suite (e2e/, headless Chromium)"
  SWITCHYARD_E2E_BIN="$CARGO_TARGET_DIR/debug/switchyard" SWITCHYARD_E2E_MOCK_BIN="$CARGO_TARGET_DIR/debug/mock-provider" \
    node e2e/run.mjs || status=1
fi
exit "$status"
