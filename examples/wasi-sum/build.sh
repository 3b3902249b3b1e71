#!/usr/bin/env bash
# Rebuilds sum.wasm from main.rs and the ready request ../wasi-sum.json that embeds it.
# Needs the wasm32-wasip1 target: rustup target add wasm32-wasip1
set -euo pipefail
cd "$(dirname "$0")"
rustc --edition 2021 --target wasm32-wasip1 -C opt-level=s -C strip=symbols -C panic=abort -o sum.wasm main.rs
python3 - <<'PY'
import base64, json
module = base64.b64encode(open("sum.wasm", "rb").read()).decode()
request = {
    "language": "wasm",
    "module_base64": module,
    "entry": {"kind": "wasi"},
    "tests": [
        {"id": "small", "stdin": "1 2\n", "expected_stdout": "3\n"},
        {"id": "negative", "stdin": "-5 5 -7\n", "expected_stdout": "-7\n"},
        {"id": "empty", "stdin": "", "expected_stdout": "0\n"},
        {"id": "hidden-large", "stdin": "1000000000 2000000000 3000000000\n", "expected_stdout": "6000000000\n", "hidden": True},
    ],
    "limits": {"time_ms": 1000, "memory_mb": 64, "output_kb": 16},
}
json.dump(request, open("../wasi-sum.json", "w"), indent=1)
PY
echo "built sum.wasm ($(stat -c %s sum.wasm) bytes) and ../wasi-sum.json"
