#!/usr/bin/env bash
# tansu, the Kafka-protocol broker the stream tests and `make run-edge` start on loopback (in-memory storage), from
# crates.io at a pinned version with its own lockfile. Installed once into TANSU_ROOT (default
# ~/.cache/codecapsule/tansu-<version>-<features>), outside the checkout, so that a fresh clone on the same machine reuses it; a
# new machine builds it (about 10 minutes on 2 cores).
#
#   tools/tansu.sh install   installs it when missing
#   tools/tansu.sh path      prints the binary's path
set -euo pipefail

TANSU_VERSION=0.6.0
TANSU_FEATURES=dynostore
ROOT=${TANSU_ROOT:-$HOME/.cache/codecapsule/tansu-$TANSU_VERSION-$TANSU_FEATURES}
BIN=$ROOT/bin/tansu

case "${1:-}" in
  install)
    if [[ ! -x $BIN ]]; then
      # dynostore: the in-memory storage engine (memory://) the tests use.
      cargo install --quiet --locked --root "$ROOT" tansu --version "=$TANSU_VERSION" --features "$TANSU_FEATURES"
    fi
    ;;
  path) echo "$BIN" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
