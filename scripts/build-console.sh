#!/usr/bin/env bash
# Builds the web console (frontend/) into frontend/dist, which the gateway serves at `/`.
# Only crates.io and npm packages, nothing prebuilt is downloaded:
#   1. the wasm32 target through rustup;
#   2. wasm-bindgen-cli from crates.io, at exactly the wasm-bindgen version of Cargo.lock (cached);
#   3. the console compiled to wasm32 with the size-optimised `console` profile;
#   4. wasm-bindgen's JavaScript glue;
#   5. wasm-opt -Oz from the npm package binaryen (it ships as WebAssembly) when npm is available; skipped
#      with a note otherwise (the bundle works without it, about a third larger);
#   6. gzip siblings that the gateway serves to browsers that accept gzip.
# Usage: scripts/build-console.sh            (prints the bundle's sizes)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
CACHE_DIR="${SWITCHYARD_CACHE_DIR:-$HOME/.cache/switchyard}"
TOOLS="$CACHE_DIR/tools"
BINARYEN_VERSION="132.0.0"
DIST="frontend/dist"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v rustup >/dev/null 2>&1 || die "rustup is needed to add the wasm32 target (https://rustup.rs)"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$WB_VERSION" ] || die "no wasm-bindgen in Cargo.lock"
WASM_BINDGEN="$TOOLS/wasm-bindgen-$WB_VERSION/bin/wasm-bindgen"
if [ ! -x "$WASM_BINDGEN" ]; then
  say "installing wasm-bindgen-cli $WB_VERSION (once, about 2 minutes)"
  # No --locked: the registry here lacks a crate version that the CLI's own lockfile pins.
  cargo install wasm-bindgen-cli --version "=$WB_VERSION" --root "$TOOLS/wasm-bindgen-$WB_VERSION" --quiet
fi

say "cargo build -p switchyard-console --target wasm32-unknown-unknown --profile console"
cargo build -p switchyard-console --target wasm32-unknown-unknown --profile console --quiet
WASM="$CARGO_TARGET_DIR/wasm32-unknown-unknown/console/switchyard_console.wasm"

# Nothing to do when the module and the static files are those of the bundle already in place.
INPUTS="$(cat "$WASM" frontend/static/* | sha256sum | cut -d' ' -f1) wasm-bindgen-$WB_VERSION"
if [ -f "$DIST/index.html" ] && [ "$(cat "$DIST/.inputs" 2>/dev/null)" = "$INPUTS" ]; then
  say "console in $DIST is up to date"
  exit 0
fi

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
"$WASM_BINDGEN" --target web --no-typescript --out-dir "$STAGE" "$WASM"

WASM_OPT="$TOOLS/binaryen-$BINARYEN_VERSION/node_modules/.bin/wasm-opt"
if [ ! -x "$WASM_OPT" ] && command -v npm >/dev/null 2>&1; then
  say "installing wasm-opt (npm binaryen@$BINARYEN_VERSION, once)"
  mkdir -p "$TOOLS/binaryen-$BINARYEN_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/binaryen-$BINARYEN_VERSION" "binaryen@$BINARYEN_VERSION" \
    || printf 'note: could not install binaryen from npm; the bundle is not size-optimised\n' >&2
fi
if [ -x "$WASM_OPT" ]; then
  say "wasm-opt -Oz"
  if "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    -o "$STAGE/opt.wasm" "$STAGE/switchyard_console_bg.wasm"; then
    mv "$STAGE/opt.wasm" "$STAGE/switchyard_console_bg.wasm"
  else
    printf 'note: wasm-opt failed; the bundle is not size-optimised\n' >&2
  fi
else
  printf 'note: wasm-opt not available (needs npm); the bundle is not size-optimised\n' >&2
fi

cp frontend/static/index.html frontend/static/boot.js frontend/static/style.css "$STAGE/"
for file in "$STAGE"/*.wasm "$STAGE"/*.js "$STAGE"/*.css "$STAGE"/*.html; do
  gzip -9 -n -k -f "$file"
done
# Each file is renamed into place (atomic), index.html last: a running gateway never serves a half-written
# file, nor an index that names files not there yet.
mkdir -p "$DIST"
for file in $(cd "$STAGE" && ls | grep -v '^index\.html'; echo index.html.gz; echo index.html); do
  cp "$STAGE/$file" "$DIST/.$file.$$" && mv -f "$DIST/.$file.$$" "$DIST/$file"
done
printf '%s' "$INPUTS" > "$DIST/.inputs"

raw=0 gz=0
for file in "$DIST"/*; do
  case "$file" in *.gz) gz=$((gz + $(stat -c %s "$file"))) ;; *) raw=$((raw + $(stat -c %s "$file"))) ;; esac
done
say "console built in $DIST: $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped"
