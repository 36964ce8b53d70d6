#!/usr/bin/env bash
# Builds and starts Switchyard on the embedded default (SQLite under ./data, in-process state) with the bundled
# mock provider serving the model `demo`, and prints a key and the lines to try it with. The web console is
# built first (scripts/build-console.sh) and served at http://127.0.0.1:8080/.
# Extra arguments go to `switchyard serve` (e.g. --config switchyard.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
# The gateway works without the console (the APIs are the product); a failed console build is reported, not fatal.
bash scripts/build-console.sh \
  || printf '\033[1mwarning: the web console could not be built (see above); starting the gateway without it\033[0m\n' >&2
exec cargo run --quiet -p switchyard --bin switchyard -- serve --demo "$@"
