#!/usr/bin/env python3
"""Judging latency through POST /api/judge: `make judge-latency BASE_URL=… [API_KEY=…]`.

1-test and 10-test capsules summing their input, in Python, JavaScript and Ruby judged in WebAssembly and in Python
judged natively, timed end to end over HTTP in interleaved rounds (each side sees the same machine load), medians and
the ratio to the native Python judge. The language's runtime is loaded by a first, untimed request. BASE_URL defaults
to `make run`'s (the debug build: an upper bound); API_KEY as for tools/smoke.py. Standard library only.
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import smoke  # noqa: E402  (its HTTP client and API key lookup)

ROUNDS = 7
SUM = {
    "python": "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
    "javascript": "console.log(std.in.readAsString().trim().split(/\\s+/).map(Number).reduce((a, b) => a + b, 0));",
    "ruby": "puts STDIN.read.split.map(&:to_i).sum",
}
SIDES = [("python", "wasm"), ("javascript", "wasm"), ("ruby", "wasm"), ("python", "native")]


def capsule(language, engine, tests):
    return {
        "language": language, "engine": engine, "source": SUM[language],
        "tests": [{"stdin": f"{n} {2 * n} {3 * n}\n", "expected_stdout": f"{6 * n}\n"} for n in range(1, tests + 1)],
    }


def judged(client, request):
    """Milliseconds one judging took over HTTP; fails loudly unless every test was accepted."""
    started = time.perf_counter()
    status, text = client.call("POST", "/api/judge", request)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or json.loads(text)["verdict"] != "accepted":
        raise SystemExit(f"{request['language']} ({request['engine']}): {status} {text[:300]}")
    return elapsed


def main():
    base = os.environ.get("BASE_URL") or "http://127.0.0.1:8080"
    key = os.environ.get("API_KEY") or smoke.dev_key()
    client = smoke.Smoke(base, key)
    for language, engine in SIDES:
        judged(client, capsule(language, engine, 1))  # loads the runtime: a cold instance's cost, not timed here
    samples = {(side, tests): [] for side in SIDES for tests in (1, 10)}
    for _ in range(ROUNDS):
        for side in SIDES:
            for tests in (1, 10):
                samples[(side, tests)].append(judged(client, capsule(*side, tests)))
    native = statistics.median(samples[(("python", "native"), 10)])
    print(f"POST /api/judge at {base}, {ROUNDS} interleaved rounds, medians\n")
    print("| language (engine) | 1 test | 10 tests | 10 tests: ratio to native Python |")
    print("|---|---:|---:|---:|")
    for side in SIDES:
        one, ten = (statistics.median(samples[(side, tests)]) for tests in (1, 10))
        print(f"| {side[0]} ({side[1]}) | {one:.1f} ms | {ten:.1f} ms | {ten / native:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
