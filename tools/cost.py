#!/usr/bin/env python3
"""The cost model: `make cost BASE_URL=… [JUDGEMENTS=… EVENTS=… GENERATIONS=…]`.

From measured figures, not guesses: it times requests against a running deployment (default `make run`'s; its
debug build overstates times, so point BASE_URL at a release build or the cloud for real figures), takes each
function's memory size from template.yaml and the prices from docs/prices.json (one dated table), and prints what
1,000 requests of each kind cost on AWS Lambda (arm64 and x86_64: GB-seconds, requests, the HTTP API) and on Azure
Functions consumption; the LLM's $ per generated capsule from the generation's own llm_call events; and, for a monthly
traffic given on the command line, the months the credits last. Standard library only.
"""

import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import smoke  # noqa: E402  (the same requests and examples as the smoke test)

ROOT = Path(__file__).resolve().parent.parent
PRICES = json.loads((ROOT / "docs/prices.json").read_text())
# Which functions a request of each kind runs on AWS: validate forwards python, java and csharp to their judge
# functions and waits for them, so both bill for the duration.
FUNCTIONS_OF = {
    "wat": ["ValidateFunction"], "wasm": ["ValidateFunction"], "javascript": ["ValidateFunction"],
    "ruby": ["ValidateFunction"], "python": ["ValidateFunction", "PythonJudgeFunction"],
    "java": ["ValidateFunction", "JavaJudgeFunction"], "csharp": ["ValidateFunction", "CsharpJudgeFunction"],
    "events": ["AnalyticsIngestFunction"], "generation": ["GenerateFunction"],
}
# Requests that go through the HTTP API (generation is on generate's function URL, judges behind validate).
THROUGH_HTTP_API = {"wat", "wasm", "javascript", "ruby", "python", "java", "csharp", "events"}


def memory_sizes(template):
    """Each function's MemorySize in MiB, from template.yaml (the Globals' where a function sets none)."""
    default = int(re.search(r"Globals:\n  Function:\n(?:    .*\n)*?    MemorySize: (\d+)", template).group(1))
    sizes = {}
    for match in re.finditer(r"^  (\w+Function):\n    Type: AWS::Serverless::Function\n((?:    .*\n|\n)*?)(?=^  \w)",
                             template, re.M):
        own = re.search(r"^      MemorySize: (\d+)", match.group(2), re.M)
        sizes[match.group(1)] = int(own.group(1)) if own else default
    return sizes


def per_thousand(milliseconds, memory_mb, kind):
    """$ per 1,000 requests of `kind` taking `milliseconds` on functions of `memory_mb` each (a list)."""
    aws, azure = PRICES["aws_lambda"], PRICES["azure_functions_consumption"]
    gb_seconds = sum(mb / 1024 for mb in memory_mb) * milliseconds / 1000
    requests = len(memory_mb)
    api = aws["http_api_requests_per_million_usd"] / 1e6 if kind in THROUGH_HTTP_API else 0.0
    lambda_cost = {arch: 1000 * (gb_seconds * price + requests * aws["requests_per_million_usd"] / 1e6 + api)
                   for arch, price in aws["gb_second_usd"].items()}
    step = azure["memory_granularity_mb"]
    azure_gb_seconds = sum(-(-mb // step) * step / 1024 for mb in memory_mb) * max(milliseconds, azure["minimum_ms"]) / 1000
    azure_cost = 1000 * (azure_gb_seconds * azure["gb_second_usd"] + requests * azure["executions_per_million_usd"] / 1e6)
    return lambda_cost, azure_cost


def runway(monthly_usd, credits_usd):
    return float("inf") if monthly_usd <= 0 else credits_usd / monthly_usd


def timed(run, samples):
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    base = os.environ.get("BASE_URL") or "http://127.0.0.1:8080"
    samples = int(os.environ.get("SAMPLES") or 5)
    traffic = {kind: int(os.environ.get(var) or default)
               for kind, var, default in [("judgement", "JUDGEMENTS", 100_000), ("events", "EVENTS", 1_000_000),
                                          ("generation", "GENERATIONS", 1_000)]}
    key = os.environ.get("API_KEY") or smoke.dev_key()
    client = smoke.Smoke(base, key)
    sizes = memory_sizes((ROOT / "template.yaml").read_text())
    status, text = client.call("GET", "/api/health", key=False)
    languages = smoke.judged_languages(json.loads(text)) if status in (200, 503) else set()

    rows = []
    for language, example in smoke.JUDGED.items():
        if language not in languages:
            continue
        request = smoke.CSHARP if example is None else json.loads((smoke.EXAMPLES / example).read_text())
        client.call("POST", "/api/judge", request)  # warm: a runtime loads once per instance
        rows.append((language, timed(lambda: client.call("POST", "/api/judge", request), samples)))

    def event():
        body = {"events": [{"event_id": str(uuid.uuid4()), "type": "view", "capsule_id": str(uuid.uuid4()),
                            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]}
        client.call("POST", "/api/events", body, content_type="text/plain")
    rows.append(("events", timed(event, samples)))

    llm_usd = None
    started = time.perf_counter()
    status, text = client.call("POST", "/api/generate", json.loads((smoke.EXAMPLES / "generate-sum.json").read_text()),
                               timeout=300)
    if status == 200:
        rows.append(("generation", (time.perf_counter() - started) * 1000))
        lines = [json.loads(line) for line in text.strip().splitlines()]
        llm_usd = sum(line.get("cost_usd", 0.0) for line in lines if line.get("event") == "llm_call")

    print(f"cost model at {base} ({samples} samples, medians), prices of {PRICES['as_of']} (docs/prices.json)")
    print(f"{'request':<11} {'ms':>8} {'memory MiB':>14} {'$/1k arm64':>11} {'$/1k x86':>10} {'$/1k Azure':>11}")
    monthly = {"arm64": 0.0, "x86_64": 0.0, "azure": 0.0}
    judgement_costs = []
    for kind, milliseconds in rows:
        memory = [sizes[function] for function in FUNCTIONS_OF[kind]]
        lambda_cost, azure_cost = per_thousand(milliseconds, memory, kind)
        print(f"{kind:<11} {milliseconds:>8.1f} {'+'.join(map(str, memory)):>14} {lambda_cost['arm64']:>11.4f} "
              f"{lambda_cost['x86_64']:>10.4f} {azure_cost:>11.4f}")
        if kind in smoke.JUDGED:
            judgement_costs.append((lambda_cost, azure_cost))
        else:
            volume = traffic["events"] if kind == "events" else traffic["generation"]
            for arch in ("arm64", "x86_64"):
                monthly[arch] += lambda_cost[arch] * volume / 1000
            monthly["azure"] += azure_cost * volume / 1000
    if judgement_costs:
        # The month's judgements spread evenly over the languages measured.
        share = traffic["judgement"] / 1000 / len(judgement_costs)
        for lambda_cost, azure_cost in judgement_costs:
            for arch in ("arm64", "x86_64"):
                monthly[arch] += lambda_cost[arch] * share
            monthly["azure"] += azure_cost * share
    if llm_usd is not None:
        print(f"LLM per generated capsule: ${llm_usd:.4f} (the generation's llm_call events)")
        for cloud in monthly:
            monthly[cloud] += llm_usd * traffic["generation"]
    else:
        print("LLM per generated capsule: not measured (no LLM configured at BASE_URL)")
    credits = PRICES["credits_usd"]
    print(f"a month of {traffic['judgement']:,} judgements, {traffic['events']:,} events, "
          f"{traffic['generation']:,} generations:")
    for cloud, label, pot in [("arm64", "AWS Lambda arm64", "aws"), ("x86_64", "AWS Lambda x86_64", "aws"),
                              ("azure", "Azure consumption", "azure")]:
        months = runway(monthly[cloud], credits[pot])
        print(f"  {label:<18} ${monthly[cloud]:>9.2f} a month: ${credits[pot]:,} of credits last {months:.1f} months")
    return 0


if __name__ == "__main__":
    sys.exit(main())
