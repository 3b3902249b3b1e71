// The runner: a Web Worker that runs a program in the reader's browser, in the same WebAssembly runtime the server
// judges with (the pack named by the packs store's index.json, its module checked against the manifest's SHA-256),
// through a WASI shim: stdin in, stdout and stderr out (each capped), the exit status. The widget terminates the
// worker when the time limit passes, so a program that never ends costs nothing but a new worker.
//
// A runtime's module is fetched once and kept in the browser's Cache Storage under its hash; a worker compiles it once
// and keeps it for every later run. Every run has an instance of its own (nothing of one run reaches the next); Ruby's,
// which takes a second or more to boot, is booted as soon as the previous run ends.
import { ConsoleStdout, File, OpenFile, WASI, WASIProcExit } from "@bjorn3/browser_wasi_shim";
import type { RunOutcome } from "../embed/api";
import type { RunMessage, RunnerMessage } from "./protocol";

interface Manifest {
  language: string;
  module: string;
  sha256: string;
  launch: { kind: "command" | "quickjs_reactor" | "ruby_reactor"; args: string[]; warm_up?: string; run?: string };
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

/** The shapes the shim's `start` and `initialize` take an instance in. */
type Command = { exports: { memory: WebAssembly.Memory; _start: () => unknown } };
type Reactor = { exports: { memory: WebAssembly.Memory; _initialize?: () => unknown } };

/** Copies `bytes` into guest memory at what `allocate` (the runtime's own allocator) answers; the address. */
function copyIn(memory: WebAssembly.Memory, allocate: (size: number) => number, bytes: Uint8Array): number {
  const at = allocate(bytes.length);
  if (at === 0) throw new Error("the runtime could not allocate the program's text");
  new Uint8Array(memory.buffer, at, bytes.length).set(bytes);
  return at;
}

/** `text` as a C string: its UTF-8 and a NUL. */
const cString = (text: string) => new TextEncoder().encode(`${text}\0`);

type QuickjsExports = {
  memory: WebAssembly.Memory;
  malloc?: (size: number) => number;
  qjs_init_argv?: (argc: number, argv: number) => number;
};

/** QuickJS-NG's reactor: the arguments copied into its memory with its malloc, then qjs_init_argv evaluates them
 * (0, or -1 after printing the uncaught exception). */
function runQuickjsReactor(exports: QuickjsExports, args: string[]): number {
  const { malloc, qjs_init_argv: init, memory } = exports;
  if (!malloc || !init) throw new Error("the JavaScript runtime exports no malloc or qjs_init_argv");
  const pointers = args.map((arg) => copyIn(memory, malloc, cString(arg)));
  const argv = malloc(pointers.length * 4);
  const view = new DataView(memory.buffer);
  pointers.forEach((pointer, index) => view.setUint32(argv + index * 4, pointer, true));
  return init(pointers.length, argv) === 0 ? 0 : 1;
}

/** A run's streams. An instance's WASI descriptors may be made before its run (Ruby's, when it is booted ahead):
 * the shim keeps the array it was given, so the run's input replaces its first entry, and the outputs write to
 * whichever captures the run set. */
class Streams {
  stdout = new Capture(0);
  stderr = new Capture(0);
  private readonly table = [
    new OpenFile(new File([])),
    new ConsoleStdout((bytes) => this.stdout.write(bytes)),
    new ConsoleStdout((bytes) => this.stderr.write(bytes)),
  ];
  descriptors() {
    return this.table;
  }
  setInput(bytes: Uint8Array) {
    this.table[0] = new OpenFile(new File(bytes));
  }
}

/** An instance ready to run one program, and how it runs it (its exit status). */
interface Prepared {
  streams: Streams;
  execute: (source: string) => number;
}

function imports(wasi: WASI, module: WebAssembly.Module): WebAssembly.Imports {
  const table: WebAssembly.Imports = { wasi_snapshot_preview1: wasi.wasiImport };
  for (const wanted of WebAssembly.Module.imports(module)) {
    if (wanted.module === "wasi_snapshot_preview1" || wanted.kind !== "function") continue;
    const functions = (table[wanted.module] ??= {}) as Record<string, (...args: number[]) => number | void>;
    // ruby.wasm's canonical-ABI resource table: nothing outside the module holds a Ruby value, so a handle is the
    // value itself (as on the server, crates/wasm/src/runtimes/ruby.rs).
    if (wanted.module === "canonical_abi" && wanted.name.startsWith("resource_drop_")) functions[wanted.name] = () => {};
    else if (wanted.module === "canonical_abi") functions[wanted.name] = (value: number) => value;
    else {
      const call = wanted.name.split(":")[0];
      functions[wanted.name] = () => {
        throw new Error(`the program called \`${call}\`, which needs a JavaScript host (Ruby's \`js\` library); programs run without one`);
      };
    }
  }
  return table;
}

/** ruby.wasm's reactor, as the server drives it: `_initialize`, `ruby-init(args)`, the pack's driver evaluated with
 * rb-eval-string-protect; then the program through the driver's `run`, which leaves through `exit!`. Booting takes a
 * second or more, so the next instance is booted as soon as a run ends. */
function bootRuby(runtime: Runtime): Prepared {
  const { launch } = runtime.manifest;
  const streams = new Streams();
  const wasi = new WASI(launch.args, [], streams.descriptors(), { debug: false });
  const instance = new WebAssembly.Instance(runtime.module, imports(wasi, runtime.module));
  const exports = instance.exports as Record<string, unknown> & { memory: WebAssembly.Memory; cabi_realloc: (...args: number[]) => number };
  const named = (name: string) => Object.entries(exports).find(([key]) => key.split(":")[0] === name)?.[1] as (...args: number[]) => number;
  const bytesAt = (bytes: Uint8Array, align: number) =>
    copyIn(exports.memory, (size) => exports.cabi_realloc(0, 0, align, size), bytes);
  // Ruby reads strings as C strings: each carries a NUL that its length counts.
  const stringAt = (text: string): [number, number] => {
    const bytes = cString(text);
    return [bytesAt(bytes, 1), bytes.length];
  };
  const evaluate = (code: string) => {
    const [at, length] = stringAt(code);
    const result = named("rb-eval-string-protect")(at, length);
    return new DataView(exports.memory.buffer).getInt32(result + 4, true);
  };
  wasi.initialize(instance as unknown as Reactor);
  const pairs = new DataView(new ArrayBuffer(launch.args.length * 8));
  launch.args.forEach((arg, index) => {
    const [at, length] = stringAt(arg);
    pairs.setUint32(index * 8, at, true);
    pairs.setUint32(index * 8 + 4, length, true);
  });
  named("ruby-init")(bytesAt(new Uint8Array(pairs.buffer), 4), launch.args.length);
  if (evaluate(launch.warm_up ?? "") !== 0) throw new Error("the Ruby pack's driver did not load");
  return {
    streams,
    execute: (source) => {
      const hex = Array.from(new TextEncoder().encode(source), (byte) => byte.toString(16).padStart(2, "0")).join("");
      // The driver leaves through exit! (WASIProcExit); returning means it could not run the program at all.
      return evaluate((launch.run ?? "").replace("{source}", hex)) === 0 ? 0 : 1;
    },
  };
}

let spareRuby: Prepared | undefined;

function prepare(runtime: Runtime, args: string[]): Prepared {
  if (runtime.manifest.launch.kind === "ruby_reactor") {
    const booted = spareRuby ?? bootRuby(runtime);
    spareRuby = undefined;
    return booted;
  }
  const streams = new Streams();
  return {
    streams,
    execute: () => {
      const wasi = new WASI(args, [], streams.descriptors(), { debug: false });
      const instance = new WebAssembly.Instance(runtime.module, imports(wasi, runtime.module));
      if (runtime.manifest.launch.kind === "quickjs_reactor") {
        wasi.initialize(instance as unknown as Reactor);
        return runQuickjsReactor(instance.exports as unknown as QuickjsExports, args);
      }
      return wasi.start(instance as unknown as Command);
    },
  };
}

async function run(message: RunMessage): Promise<RunOutcome> {
  const runtime = await load(message.packs, message.language);
  const prepared = prepare(runtime, argsOf(runtime.manifest, message.source));
  const { streams } = prepared;
  streams.setInput(new TextEncoder().encode(message.stdin));
  streams.stdout = new Capture(message.outputLimitBytes);
  streams.stderr = new Capture(message.outputLimitBytes);
  post({ id: message.id, kind: "ready" });
  const started = performance.now();
  let exitCode: number;
  try {
    exitCode = prepared.execute(message.source);
  } catch (err) {
    if (err instanceof WASIProcExit) exitCode = err.code;
    else {
      // A trap (unreachable, out of bounds, stack overflow): the program failed as it would on the server.
      exitCode = 1;
      streams.stderr.write(new TextEncoder().encode(`\n${err instanceof Error ? err.message : String(err)}\n`));
    }
  }
  const { stdout, stderr } = streams;
  const truncated = stdout.truncated || stderr.truncated;
  const outcome: RunOutcome = {
    status: truncated ? "output_limit_exceeded" : exitCode === 0 ? "ok" : "runtime_error",
    stdout: stdout.text(),
    stderr: stderr.text(),
    exit_code: exitCode,
    time_ms: Math.round(performance.now() - started),
    output_truncated: truncated,
  };
  if (runtime.manifest.launch.kind === "ruby_reactor") {
    setTimeout(() => {
      try {
        spareRuby ??= bootRuby(runtime);
      } catch {
        // The next run boots its own instance, and reports what stops it.
      }
    }, 0);
  }
  return outcome;
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
