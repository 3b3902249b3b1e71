"""tools/cloudflare_alerts.py: its request bodies, and whole runs against a local server that answers as
Cloudflare's Notifications API does and records every request (Cloudflare itself cannot be reached from here)."""

import contextlib
import io
import json
import os
import threading
import unittest
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import cloudflare_alerts as alerts

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "test-token"


class Notifications(BaseHTTPRequestHandler):
    """Cloudflare's policies endpoints for one account, kept in memory; `refuse` answers every call with it."""

    def log_message(self, *args):
        pass

    def answer(self, status, payload):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def handle_any(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        server.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        if server.refuse:
            return self.answer(server.refuse[0], {"success": False, "errors": [server.refuse[1]], "result": None})
        root = f"/client/v4/accounts/{ACCOUNT}/alerting/v3/policies"
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.answer(403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]})
        if self.command == "GET" and self.path == root:
            return self.answer(200, {"success": True, "errors": [], "result": list(server.policies.values())})
        if self.command == "POST" and self.path == root:
            policy = dict(body, id=uuid.uuid4().hex)
            server.policies[policy["id"]] = policy
            return self.answer(200, {"success": True, "errors": [], "result": {"id": policy["id"]}})
        if self.command == "PUT" and self.path.startswith(root + "/"):
            policy_id = self.path.rsplit("/", 1)[1]
            if policy_id not in server.policies:
                return self.answer(404, {"success": False, "errors": [{"code": 17104, "message": "not found"}]})
            server.policies[policy_id] = dict(body, id=policy_id)
            return self.answer(200, {"success": True, "errors": [], "result": {"id": policy_id}})
        return self.answer(404, {"success": False, "errors": [{"code": 7003, "message": "No route"}]})

    do_GET = do_POST = do_PUT = handle_any


class FakeCloudflare:
    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Notifications)
        self.server.seen, self.server.policies, self.server.refuse = [], {}, None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def run(server, *argv, email="ops@example.com", token=TOKEN):
    """Runs the script's main against `server`; returns (exit status, stdout, stderr)."""
    env = {"CLOUDFLARE_API_BASE": f"http://127.0.0.1:{server.server_port}/client/v4", "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
           "CLOUDFLARE_API_TOKEN": token, "ALERT_EMAIL": email}
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = alerts.main(list(argv))
    return status, out.getvalue(), err.getvalue()


class Bodies(unittest.TestCase):
    def test_a_budget_alert_per_threshold_of_the_plan(self):
        bodies = [alerts.policy_body(threshold, "ops@example.com") for threshold in alerts.THRESHOLDS_USD]
        self.assertEqual([body["filters"] for body in bodies],
                         [{"total_spend_dollars": ["500"]}, {"total_spend_dollars": ["1500"]},
                          {"total_spend_dollars": ["3000"]}])
        for body in bodies:
            self.assertEqual(body["alert_type"], "billing_budget_alert")
            self.assertIs(body["enabled"], True)
            self.assertEqual(body["mechanisms"], {"email": [{"id": "ops@example.com"}]})
        self.assertEqual(len({body["name"] for body in bodies}), 3)

    def test_existing_policies_of_ours_are_updated_and_others_ignored(self):
        existing = [{"id": "a1", "name": alerts.policy_name(1500)}, {"id": "b2", "name": "someone else's"}]
        requests = alerts.plan(existing, "ops@example.com")
        self.assertEqual([(method, path) for method, path, _ in requests],
                         [("POST", "/policies"), ("PUT", "/policies/a1"), ("POST", "/policies")])


class Runs(unittest.TestCase):
    def test_first_run_creates_three_and_a_second_changes_nothing_new(self):
        with FakeCloudflare() as server:
            self.assertEqual(run(server)[0], 0)
            first = dict(server.policies)
            self.assertEqual(sorted(p["filters"]["total_spend_dollars"][0] for p in first.values()),
                             ["1500", "3000", "500"])
            status, out, _ = run(server, email="oncall@example.com")
            self.assertEqual(status, 0)
            self.assertEqual(out.count("updated"), 3)
            self.assertEqual(server.policies.keys(), first.keys(), "a second run must not add policies")
            self.assertTrue(all(p["mechanisms"] == {"email": [{"id": "oncall@example.com"}]}
                                for p in server.policies.values()))
            self.assertTrue(all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in server.seen))

    def test_cloudflares_refusal_is_reported_and_fails(self):
        with FakeCloudflare() as server:
            server.refuse = (400, {"code": 17106, "message": "Invalid filter"})
            status, _, err = run(server)
            self.assertEqual(status, 1)
            self.assertIn("HTTP 400: 17106: Invalid filter", err)
            self.assertEqual(len(server.seen), 1, "nothing is sent after a refusal")

    def test_a_wrong_token_fails_with_cloudflares_message(self):
        with FakeCloudflare() as server:
            status, _, err = run(server, token="wrong")
            self.assertEqual((status, "Authentication error" in err), (1, True))
            self.assertEqual(server.policies, {})

    def test_dry_run_sends_nothing_and_needs_no_token(self):
        with FakeCloudflare() as server:
            out = io.StringIO()
            with mock.patch.dict(os.environ, {"ALERT_EMAIL": "ops@example.com", "CLOUDFLARE_API_TOKEN": ""}), \
                    contextlib.redirect_stdout(out):
                self.assertEqual(alerts.main(["--dry-run"]), 0)
            self.assertEqual(out.getvalue().count("POST /policies"), 3)
            self.assertEqual(server.seen, [])

    def test_missing_settings_are_named(self):
        err = io.StringIO()
        with mock.patch.dict(os.environ, {"ALERT_EMAIL": "ops@example.com", "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
                                          "CLOUDFLARE_API_TOKEN": ""}), contextlib.redirect_stderr(err):
            self.assertEqual(alerts.main([]), 1)
        self.assertIn("set CLOUDFLARE_API_TOKEN", err.getvalue())
        with mock.patch.dict(os.environ, {"ALERT_EMAIL": "not-an-address"}), contextlib.redirect_stderr(err):
            self.assertEqual(alerts.main(["--dry-run"]), 1)
        self.assertIn("is not an email address", err.getvalue())


if __name__ == "__main__":
    unittest.main()
