// The runner: a Web Worker that runs a program in the reader's browser, in the same WebAssembly runtime the server
// judges with (the pack named by the packs store's index.json, its module checked against the manifest's SHA-256),
// through a WASI shim: stdin in, stdout and stderr out (each capped), the exit status. The widget terminates the
// worker when the time limit passes, so a program that never ends costs nothing but a new worker.
//
// A runtime's module is fetched once and kept in the browser's Cache Storage under its hash; a worker compiles it once
// and keeps it for every later run.
import { ConsoleStdout, File, OpenFile, WASI, WASIProcExit } from "@bjorn3/browser_wasi_shim";
import type { RunOutcome } from "../embed/api";
import type { RunMessage, RunnerMessage } from "./protocol";

interface Manifest {
  language: string;
  module: string;
  sha256: string;
  launch: { kind: "command" | "quickjs_reactor" | "ruby_reactor"; args: string[] };
}

interface Runtime {
  manifest: Manifest;
  module: WebAssembly.Module;
}

const CACHE_NAME = "codecapsule-runtimes-v1";
const runtimes = new Map<string, Promise<Runtime>>();

/** How a language's program is started in the browser: the pack's own command line where it needs no driver. The
 * server's CPython starts from a snapshot holding its driver (which makes it behave as `python -c`): here, with no
 * snapshot, it is `python -c` itself. */
function argsOf(manifest: Manifest, source: string): string[] {
  if (manifest.language === "python") return ["python", "-I", "-S", "-c", source];
  return manifest.launch.args.map((arg) => (arg === "{source}" ? source : arg));
}

async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return (await response.json()) as T;
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The module's bytes, from Cache Storage when a run fetched them before; checked against `sha256` either way. */
async function moduleBytes(url: string, sha256: string): Promise<ArrayBuffer> {
  const key = `${url}#sha256=${sha256}`;
  const cache = typeof caches === "undefined" ? undefined : await caches.open(CACHE_NAME).catch(() => undefined);
  const cached = await cache?.match(key);
  const bytes = cached ? await cached.arrayBuffer() : await fetch(url).then((response) => {
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return response.arrayBuffer();
  });
  const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
  if (digest !== sha256) {
    await cache?.delete(key);
    throw new Error(`the runtime at ${url} is not the one its manifest names (SHA-256 ${digest})`);
  }
  if (!cached) await cache?.put(key, new Response(bytes.slice(0))).catch(() => {});
  return bytes;
}

function load(packs: string, language: string): Promise<Runtime> {
  const known = runtimes.get(language);
  if (known) return known;
  const loading = (async () => {
    const index = await fetchJson<Record<string, string>>(`${packs}/index.json`);
    const pack = index[language];
    if (!pack) throw new Error(`no runtime for ${language} in ${packs}/index.json`);
    const manifest = await fetchJson<Manifest>(`${packs}/${pack}/manifest.json`);
    if (manifest.launch.kind === "ruby_reactor") throw new Error(`${language} does not run in the browser`);
    const module = await WebAssembly.compile(await moduleBytes(`${packs}/${pack}/${manifest.module}`, manifest.sha256));
    return { manifest, module };
  })();
  runtimes.set(language, loading);
  loading.catch(() => runtimes.delete(language));
  return loading;
}

/** A capped output stream: what fits in `limit` bytes, and whether more was written. */
class Capture {
  private chunks: Uint8Array[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  write = (bytes: Uint8Array) => {
    const room = this.limit - this.size;
    if (bytes.length > room) this.truncated = true;
    const kept = bytes.subarray(0, Math.max(0, room));
    if (kept.length > 0) {
      this.chunks.push(kept.slice());
      this.size += kept.length;
    }
  };
  text(): string {
    const all = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    return new TextDecoder().decode(all);
  }
}

type Exports = {
  memory: WebAssembly.Memory;
  _start?: () => unknown;
  _initialize?: () => unknown;
  malloc?: (size: number) => number;
  qjs_init_argv?: (argc: number, argv: number) => number;
};

/** QuickJS-NG's reactor: the arguments copied into its memory with its malloc, then qjs_init_argv evaluates them
 * (0, or -1 after printing the uncaught exception). */
function runQuickjsReactor(exports: Exports, args: string[]): number {
  const { malloc, qjs_init_argv: init, memory } = exports;
  if (!malloc || !init) throw new Error("the JavaScript runtime exports no malloc or qjs_init_argv");
  const encoder = new TextEncoder();
  const pointers = args.map((arg) => {
    const text = encoder.encode(`${arg}\0`);
    const at = malloc(text.length);
    if (at === 0) throw new Error("the runtime could not allocate the program's text");
    new Uint8Array(memory.buffer, at, text.length).set(text);
    return at;
  });
  const argv = malloc(pointers.length * 4);
  const view = new DataView(memory.buffer);
  pointers.forEach((pointer, index) => view.setUint32(argv + index * 4, pointer, true));
  return init(pointers.length, argv) === 0 ? 0 : 1;
}

async function run(message: RunMessage): Promise<RunOutcome> {
  const runtime = await load(message.packs, message.language);
  post({ id: message.id, kind: "ready" });
  const stdout = new Capture(message.outputLimitBytes);
  const stderr = new Capture(message.outputLimitBytes);
  const stdin = new OpenFile(new File(new TextEncoder().encode(message.stdin)));
  const args = argsOf(runtime.manifest, message.source);
  const wasi = new WASI(args, [], [stdin, new ConsoleStdout(stdout.write), new ConsoleStdout(stderr.write)], { debug: false });
  const started = performance.now();
  const instance = await WebAssembly.instantiate(runtime.module, { wasi_snapshot_preview1: wasi.wasiImport });
  const exports = instance.exports as unknown as Exports;
  let exitCode: number;
  let status = "ok";
  try {
    if (runtime.manifest.launch.kind === "quickjs_reactor") {
      wasi.initialize(instance as unknown as { exports: { memory: WebAssembly.Memory; _initialize?: () => unknown } });
      exitCode = runQuickjsReactor(exports, args);
    } else {
      exitCode = wasi.start(instance as unknown as { exports: { memory: WebAssembly.Memory; _start: () => unknown } });
    }
  } catch (err) {
    if (err instanceof WASIProcExit) exitCode = err.code;
    else {
      // A trap (unreachable, out of bounds, stack overflow): the program failed as it would on the server.
      exitCode = 1;
      stderr.write(new TextEncoder().encode(`\n${err instanceof Error ? err.message : String(err)}\n`));
    }
  }
  if (exitCode !== 0) status = "runtime_error";
  if (stdout.truncated || stderr.truncated) status = "output_limit_exceeded";
  return {
    status,
    stdout: stdout.text(),
    stderr: stderr.text(),
    exit_code: exitCode,
    time_ms: Math.round(performance.now() - started),
    output_truncated: stdout.truncated || stderr.truncated,
  };
}

function post(message: RunnerMessage): void {
  (self as unknown as Worker).postMessage(message);
}

self.addEventListener("message", (event: MessageEvent<RunMessage>) => {
  const message = event.data;
  run(message).then(
    (outcome) => post({ id: message.id, kind: "done", outcome }),
    (err) => post({ id: message.id, kind: "failed", message: err instanceof Error ? err.message : String(err) }),
  );
});
