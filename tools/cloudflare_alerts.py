#!/usr/bin/env python3
"""Cloudflare's billing notifications: `make cloudflare-alerts ALERT_EMAIL=…` (or run this file).

wrangler.toml cannot declare notifications, so this sets them through Cloudflare's Notifications API: one budget
alert policy (`billing_budget_alert`, account-wide usage-based spend in the billing period, dollars) per threshold of
the plan, $500, $1,500 and $3,000, emailing ALERT_EMAIL. It is idempotent: a policy is known by its name, created when
missing and updated in place when present, so running it again changes nothing and never adds duplicates; policies it
did not create are left alone.

Settings (environment): CLOUDFLARE_API_TOKEN (a token with Notifications Write on the account), CLOUDFLARE_ACCOUNT_ID,
ALERT_EMAIL; CLOUDFLARE_API_BASE only to point it elsewhere (the tests' recording server). `--dry-run` prints the
requests it would send and sends nothing (no token needed). Standard library only.
"""

import json
import os
import sys
import urllib.error
import urllib.request

API_BASE = "https://api.cloudflare.com/client/v4"
# The plan's Cloudflare thresholds, in whole dollars of spend in a billing period.
THRESHOLDS_USD = (500, 1500, 3000)
ALERT_TYPE = "billing_budget_alert"
REQUEST_TIMEOUT_S = 30


class AlertsError(Exception):
    """A failure to report as one line and exit status 1."""


def policy_name(threshold_usd):
    """The name that identifies the policy of one threshold (the script finds its own policies by it)."""
    return f"CodeCapsule spend above ${threshold_usd:,}"


def policy_body(threshold_usd, email):
    """The Notifications API body of the budget alert for `threshold_usd` dollars, emailing `email`."""
    return {
        "name": policy_name(threshold_usd),
        "description": f"Usage-based spend on the account passed ${threshold_usd:,} in this billing period "
                       "(CodeCapsule's credit plan: $500, $1,500, $3,000).",
        "alert_type": ALERT_TYPE,
        "enabled": True,
        "mechanisms": {"email": [{"id": email}]},
        "filters": {"total_spend_dollars": [str(threshold_usd)]},
    }


def plan(existing, email):
    """The requests that bring the account's policies to the plan: (method, path suffix, body) per threshold.

    `existing` is the API's list of policies; a policy of ours (by name) is updated, a missing one created."""
    ours = {policy["name"]: policy["id"] for policy in existing if policy.get("name")}
    requests = []
    for threshold in THRESHOLDS_USD:
        body = policy_body(threshold, email)
        known = ours.get(body["name"])
        requests.append(("PUT", f"/policies/{known}", body) if known else ("POST", "/policies", body))
    return requests


class Api:
    """Cloudflare's alerting API for one account, with its token."""

    def __init__(self, base, account_id, token):
        self.root = f"{base.rstrip('/')}/accounts/{account_id}/alerting/v3"
        self.token = token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.root + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            raise AlertsError(f"{method} {path}: HTTP {error.code}: {describe(error.read())}") from None
        except (urllib.error.URLError, TimeoutError) as error:
            raise AlertsError(f"{method} {path}: could not reach {self.root}: {error}") from None
        except ValueError:
            raise AlertsError(f"{method} {path}: the answer was not JSON") from None
        if not answer.get("success"):
            raise AlertsError(f"{method} {path}: {describe(json.dumps(answer).encode())}")
        return answer.get("result")


def describe(raw):
    """Cloudflare's `errors` as `code: message; …`, else the raw answer (shortened)."""
    try:
        errors = json.loads(raw).get("errors") or []
        text = "; ".join(f"{error.get('code')}: {error.get('message')}" for error in errors)
    except (ValueError, AttributeError):
        text = ""
    return text or raw.decode(errors="replace")[:300]


def setting(name):
    value = os.environ.get(name, "").strip()
    if not value:
        raise AlertsError(f"set {name}" + {
            "CLOUDFLARE_API_TOKEN": " (an API token with Notifications Write on the account)",
            "CLOUDFLARE_ACCOUNT_ID": " (the dashboard's account id: Workers & Pages, right column)",
            "ALERT_EMAIL": " (the address that receives the alerts)",
        }[name])
    return value


def main(argv):
    dry_run = "--dry-run" in argv
    unknown = [arg for arg in argv if arg != "--dry-run"]
    if unknown:
        print(f"unknown argument {unknown[0]!r}: the only option is --dry-run", file=sys.stderr)
        return 2
    try:
        email = setting("ALERT_EMAIL")
        if "@" not in email:
            raise AlertsError(f"ALERT_EMAIL {email!r} is not an email address")
        if dry_run:
            for method, path, body in plan([], email):
                print(method, path, json.dumps(body, sort_keys=True))
            return 0
        api = Api(os.environ.get("CLOUDFLARE_API_BASE") or API_BASE, setting("CLOUDFLARE_ACCOUNT_ID"),
                  setting("CLOUDFLARE_API_TOKEN"))
        for method, path, body in plan(api.call("GET", "/policies") or [], email):
            result = api.call(method, path, body)
            verb = "updated" if method == "PUT" else "created"
            print(f"{verb} {body['name']!r} ({(result or {}).get('id', '?')})")
    except AlertsError as error:
        print(f"cloudflare alerts: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
