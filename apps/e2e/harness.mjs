// The browser tests' world: `make run`'s dev host (the built binary, in a temporary working directory with its own
// embedded PostgreSQL, object store and ports; the checkout's built apps and runtime packs), a second origin that
// embeds the widget, and Debian's Chromium driven by playwright-core. Nothing is written into the checkout but the
// screenshots, into ARTIFACTS_DIR.
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, "..", "..");
export const ARTIFACTS = process.env.ARTIFACTS_DIR ?? join(tmpdir(), "codecapsule-artifacts");

/** A port nobody listens on now. */
export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
    server.on("error", fail);
  });
}

/** The dev host, started as `make run` starts it, answering once the example capsule is published. */
export async function startDevHost({ corsOrigin }) {
  const work = mkdtempSync(join(tmpdir(), "codecapsule-e2e-"));
  // As root, the embedded PostgreSQL runs as its own user, which must reach its data directory below.
  chmodSync(work, 0o755);
  const port = await freePort();
  const binary = process.env.DEVHOST_BIN ?? join(REPO, "target", "debug", "codecapsule-dev");
  const env = {
      ...process.env,
      PORT: String(port),
      LOCAL_POSTGRES_PORT: String(await freePort()),
      APPS_DIR: join(REPO, "apps", "dist"),
      RUNTIME_PACKS_DIR: join(REPO, ".data", "objects", "runtimes"),
      OBJECTS_DIR: join(work, "objects"),
      CORS_ALLOWED_ORIGINS: corsOrigin,
      // The recorded model (examples/transcripts): generation runs without an account, as in CI's smoke test.
      LLM_REPLAY_FILE: join(REPO, "examples", "transcripts", "sum-python.jsonl"),
      // The allowance change below is seen within a second.
      RUNTIME_CONFIG_TTL_SECONDS: "1",
      RUST_LOG: "warn",
  };
  const child = spawn(binary, [], { cwd: work, detached: true, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (chunk) => (log += chunk));
  child.stderr.on("data", (chunk) => (log += chunk));
  const stop = async () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    await new Promise((done) => (child.exitCode !== null ? done() : child.once("exit", done)));
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the dev host exited (${child.exitCode}):\n${log}`);
      if (/Apps:/.test(log)) break;
      if (Date.now() > deadline) throw new Error(`the dev host did not start within 180 s:\n${log}`);
      await new Promise((wait) => setTimeout(wait, 250));
    }
    const capsule = /the example capsule \(([0-9a-f-]{36})\)/.exec(log)?.[1];
    if (!capsule) throw new Error(`the dev host published no example capsule:\n${log}`);
    const key = readFileSync(join(work, ".data", "dev-api-key"), "utf8").trim();
    // Every page of these tests is one anonymous reader at 127.0.0.1, which the free tier allows 10 requests a
    // minute: the operators' command lets 50 times as many through (the buckets are tested on their own).
    await raiseAllowance(work, env.LOCAL_POSTGRES_PORT);
    return { base: `http://127.0.0.1:${port}`, capsule, key, log: () => log, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `make emergency-rate-limit FACTOR=50` on the dev host's embedded PostgreSQL. */
function raiseAllowance(work, postgresPort) {
  const ops = process.env.OPS_BIN ?? join(REPO, "target", "debug", "codecapsule-ops");
  return new Promise((done, fail) => {
    const child = spawn(ops, ["rate-limit", "50", "--reason", "browser tests: every page is one address"], {
      cwd: work,
      env: { ...process.env, LOCAL_POSTGRES_PORT: postgresPort },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", fail);
    child.on("exit", (code) => (code === 0 ? setTimeout(done, 1_100) : fail(new Error(`codecapsule-ops failed (${code}): ${output}`))));
  });
}

/** A page of another origin: `html(url)` at `/`, nothing else. */
export async function startOtherOrigin(port, html) {
  const server = createServer((request, response) => {
    const url = new URL(request.url, "http://localhost");
    const found = url.pathname === "/";
    response.writeHead(found ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    response.end(found ? html(url) : "");
  });
  await new Promise((done) => server.listen(port, "127.0.0.1", done));
  return { origin: `http://127.0.0.1:${port}`, stop: () => new Promise((done) => server.close(done)) };
}

/** Debian's Chromium, headless, as root (no sandbox), with nothing reaching out to the closed network. */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "codecapsule-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    context: browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** The API called as the dev organization. */
export async function asOrganization(host, path, init = {}) {
  const response = await fetch(`${host.base}${path}`, { ...init, headers: { authorization: `Bearer ${host.key}`, ...(init.headers ?? {}) } });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}
