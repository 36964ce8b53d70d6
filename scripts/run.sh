#!/usr/bin/env bash
# Builds and starts Switchyard on the embedded default (SQLite under ./data, in-process state) with the bundled
# mock provider serving the model `demo`, and prints a key and the lines to try it with.
# Extra arguments go to `switchyard serve` (e.g. --config switchyard.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
exec cargo run --quiet -p switchyard --bin switchyard -- serve --demo "$@"
