#!/usr/bin/env python3
"""Post-deployment smoke test of every core feature against any deployment: `make smoke BASE_URL=… [API_KEY=…]`.

One line per feature (ok / FAIL / skip, with what was seen) and exit status 1 when any failed. Features: health; each
language the deployment judges, with a tiny capsule from examples/; validate; events accepted and, where this machine
can start the processor (a loopback BASE_URL: `make run`), rolled up; generate when an LLM is configured; a 429 once an
anonymous client's free allowance is spent. Judging needs an identity: API_KEY (default: .data/dev-api-key, `make
run`'s development organization). Standard library only, so that it runs anywhere Python 3 does.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# A capsule for each language, and the verdict it must get (all of examples/ are correct solutions).
JUDGED = {
    "wat": "wat-function-add.json",
    "wasm": "wasi-sum.json",
    "python": "python-sum.json",
    "javascript": "javascript-sum.json",
    "ruby": "ruby-sum.json",
    "java": "java-sum.json",
    "csharp": None,  # no example yet: a one-liner below
}
CSHARP = {
    "language": "csharp",
    "source": "using System;\nclass P { static void Main() { var p = Console.ReadLine().Split(' ');"
    " Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }\n",
    "tests": [{"stdin": "1 2\n", "expected_stdout": "3\n"}],
}
# Function capsules (entry kind `function` with a `name`), per language that judges them.
FUNCTIONS = {
    "python": "python-function-two-sum.json",
}
# The free tier's requests a minute (README, Limits): the next anonymous one is refused.
FREE_PER_MINUTE = 10


class Smoke:
    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key
        self.failed = 0

    def call(self, method, path, body=None, key=True, content_type="application/json", timeout=60):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", content_type)
        if key and self.key:
            request.add_header("authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def report(self, outcome, feature, detail):
        print(f"{outcome:<4} {feature}: {detail}")
        if outcome == "FAIL":
            self.failed += 1

    def check(self, feature, run):
        try:
            outcome, detail = run()
        except Exception as err:  # a smoke test reports every failure, whatever it is
            outcome, detail = "FAIL", f"{type(err).__name__}: {err}"
        self.report(outcome, feature, detail)


def judged_languages(health):
    languages = set()
    for engine in health.get("engines", []):
        languages.update(engine.get("languages", []))
        if "language" in engine:
            languages.add(engine["language"])
        if engine.get("name") == "wasmi" and "languages" not in engine:
            languages.update(["wasm", "wat"])
    return languages


def dev_key():
    """`make run`'s development organization's API key, when this checkout has run it."""
    path = ROOT / ".data/dev-api-key"
    return path.read_text().strip() if path.is_file() else None


def main():
    base = os.environ.get("BASE_URL") or (sys.argv[1] if len(sys.argv) > 1 else "")
    if not base:
        print("usage: BASE_URL=https://… tools/smoke.py   (API_KEY: an organization's key)", file=sys.stderr)
        return 2
    smoke = Smoke(base, os.environ.get("API_KEY") or dev_key())

    status, text = smoke.call("GET", "/api/health", key=False)
    health = json.loads(text) if status in (200, 503) else {}
    smoke.report("ok" if status == 200 and health.get("status") == "ok" else "FAIL", "health",
                 f"{status} {health.get('status')} on {health.get('host')}, functions {health.get('functions')}")
    languages = judged_languages(health)

    checks = [(f"judge {language}", language, example) for language, example in JUDGED.items()]
    checks += [(f"judge {language} function", language, example) for language, example in FUNCTIONS.items()]
    for name, language, example in checks:
        def judge(language=language, example=example):
            if language not in languages:
                return "skip", "not judged by this deployment"
            request = CSHARP if example is None else json.loads((EXAMPLES / example).read_text())
            status, text = smoke.call("POST", "/api/judge", request)
            if status != 200:
                return "FAIL", f"{status} {text[:200]}"
            report = json.loads(text)
            verdict = report["verdict"]
            seconds = sum(test["time_ms"] for test in report["tests"]) / 1000
            outcome = "ok" if verdict == "accepted" else "FAIL"
            return outcome, f"{verdict}, {report['passed']}/{report['total']} tests, {seconds:.3f} s of runs"
        smoke.check(name, judge)

    def validate():
        capsule = json.loads((EXAMPLES / "wat-capsule.json").read_text())
        status, text = smoke.call("POST", "/api/validate", capsule)
        if status != 200:
            return "FAIL", f"{status} {text[:200]}"
        report = json.loads(text)
        return ("ok" if report["valid"] else "FAIL"), f"valid: {report['valid']}, problems {report['problems']}"
    smoke.check("validate", validate)

    def events():
        event = {"event_id": str(uuid.uuid4()), "type": "run", "capsule_id": str(uuid.uuid4()), "visitor_id": "smoke",
                 "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "duration_ms": 5}
        status, text = smoke.call("POST", "/api/events", {"events": [event]}, key=False, content_type="text/plain")
        if status != 202 or json.loads(text).get("accepted") != 1:
            return "FAIL", f"{status} {text[:200]}"
        if not base.split("//", 1)[-1].startswith(("127.0.0.1", "localhost")):
            return "ok", "1 accepted (the processor runs on its schedule: not started from here)"
        status, text = smoke.call("POST", "/analytics-processor", {}, key=False)
        rollup = json.loads(text).get("ReturnValue", {}).get("rollup", {}) if status == 200 else {}
        if status != 200 or rollup.get("events", 0) < 1:
            return "FAIL", f"accepted, but the processor run answered {status} {text[:200]}"
        return "ok", f"1 accepted, rolled up by the processor ({rollup['events']} event(s), {rollup['hours']} hour(s))"
    smoke.check("events", events)

    def generate():
        request = json.loads((EXAMPLES / "generate-sum.json").read_text())
        status, text = smoke.call("POST", "/api/generate", request, timeout=300)
        if status == 503 and '"ai_disabled"' in text:
            return "skip", "no LLM configured"
        if status != 200:
            return "FAIL", f"{status} {text[:200]}"
        last = json.loads(text.strip().splitlines()[-1])
        if last.get("event") != "done":
            return "FAIL", f"the job ended {last.get('event')}: {last.get('code')} {last.get('detail')}"
        capsule = (last.get("result") or {}).get("status")
        return "ok", f"job done: capsule {last.get('capsule_id')} saved ({capsule})"
    smoke.check("generate", generate)

    def rate_limit():
        # Anonymous, empty batches: each one costs the client's free bucket one request.
        for attempt in range(1, FREE_PER_MINUTE + 3):
            status, text = smoke.call("POST", "/api/events", {"events": []}, key=False)
            if status == 429:
                return "ok", f"429 on request {attempt} ({json.loads(text)['detail']})"
        return "FAIL", f"no 429 after {FREE_PER_MINUTE + 2} anonymous requests (is the guard off? see health)"
    smoke.check("rate limit", rate_limit)

    print(f"smoke: {smoke.failed} failed" if smoke.failed else "smoke: every feature answered")
    return 1 if smoke.failed else 0


if __name__ == "__main__":
    sys.exit(main())
