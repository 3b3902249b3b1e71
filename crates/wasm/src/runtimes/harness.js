// CodeCapsule's function-call harness for JavaScript (QuickJS-NG in WebAssembly). The judge runs the program as one
// module: the line `const __codecapsule = __codecapsule_harness(...)` is put in front of the program's first line
// (so the program's line numbers stay its own), and this file after the program, followed by the call that hands
// the harness the program's function. The protocol (stdin, records, markers) is described in
// crates/core/src/function/protocol.rs.
//
// The harness reads its input and binds everything it needs before the program's first statement runs; the nonce
// lives only in this closure, out of the program's reach. Results are serialised by the harness's own encoder from
// functions held before the program ran, so patching JSON, toJSON or prototypes changes nothing.
function __codecapsule_harness(std, JSON, Object, Array, String, Number, Error) {
  const parse = JSON.parse;
  const keys = Object.keys;
  const isArray = Array.isArray;
  const isInteger = Number.isInteger;
  const isFinite = Number.isFinite;
  const call = Function.prototype.call;
  const codeAt = call.bind(String.prototype.charCodeAt);
  const hex = call.bind(Number.prototype.toString);
  const join = call.bind(Array.prototype.join);
  const slice = call.bind(String.prototype.slice);
  const apply = call.bind(Function.prototype.apply);
  const push = call.bind(Array.prototype.push);
  const getPrototypeOf = Object.getPrototypeOf;
  const objectPrototype = Object.prototype;
  const out = std.out, err = std.err, exit = std.exit;
  const puts = call.bind(out.puts), flush = call.bind(out.flush);
  const errPuts = call.bind(err.puts), errFlush = call.bind(err.flush);

  const lines = std.in.readAsString().split("\n");
  const nonce = lines[0].split(" ")[0];
  const calls = [];
  for (let at = 1; at < lines.length; at++) {
    if (lines[at] === "") continue;
    const space = lines[at].indexOf(" ");
    calls.push([lines[at].slice(0, space), lines[at].slice(space + 1)]);
  }
  let current = "load";
  let served = false;

  function record(kind, payload) {
    flush(out);
    puts(out, "\x1e" + nonce + " " + current + " " + kind + " 0 " + payload + "\n");
    flush(out);
    errFlush(err);
    errPuts(err, "\x1e" + nonce + " " + current + "\n");
    errFlush(err);
  }

  function text(value) {
    const parts = ['"'];
    for (let at = 0; at < value.length; at++) {
      const code = codeAt(value, at);
      if (code === 34) push(parts, '\\"');
      else if (code === 92) push(parts, "\\\\");
      else if (code < 32) push(parts, "\\u" + slice("000" + hex(code, 16), -4));
      else push(parts, value[at]);
    }
    push(parts, '"');
    return join(parts, "");
  }

  function unsupported(what) {
    const error = new Error(what);
    error.unsupported = true;
    return error;
  }

  function encode(value, depth) {
    if (depth > 64) throw unsupported("a value nested deeper than 64 levels");
    if (value === null) return "null";
    switch (typeof value) {
      case "boolean":
        return value ? "true" : "false";
      case "number":
        return isFinite(value) ? "" + value : text("" + value);
      case "string":
        return text(value);
      case "object": {
        const parts = [];
        if (isArray(value)) {
          for (let at = 0; at < value.length; at++) push(parts, encode(value[at], depth + 1));
          return "[" + join(parts, ",") + "]";
        }
        const prototype = getPrototypeOf(value);
        if (prototype !== objectPrototype && prototype !== null) {
          throw unsupported("an object that is not a plain object (a class instance, a Map, a Set)");
        }
        const names = keys(value);
        for (let at = 0; at < names.length; at++) {
          push(parts, text(names[at]) + ":" + encode(value[names[at]], depth + 1));
        }
        return "{" + join(parts, ",") + "}";
      }
      default:
        throw unsupported(typeof value === "undefined" ? "undefined (no `return`?)" : "a " + typeof value);
    }
  }

  function describe(error) {
    try {
      if (error instanceof Error) {
        // The stack from the program's frames on: the harness's own (from `apply` down) are not the program's.
        const stack = "" + (error.stack || "");
        const own = stack.indexOf("    at apply (native)");
        errPuts(err, error.name + ": " + error.message + "\n" + (own < 0 ? stack : slice(stack, 0, own)));
        return text(error.name + ": " + error.message);
      }
      return text("a thrown " + typeof error + ": " + error);
    } catch (failed) {
      return text("an exception that cannot be described");
    }
  }

  return {
    serve(name, arity, fn) {
      if (served) return;
      served = true;
      if (typeof fn !== "function") {
        record("missing_function", text("the program declares no top-level function `" + name + "`"));
        exit(0);
      }
      if (fn.length !== arity) {
        record(
          "wrong_signature",
          text("`" + name + "` declares " + fn.length + " parameter" + (fn.length === 1 ? "" : "s") +
            "; the capsule calls it with " + arity + " (declare each one, without defaults or rest)"),
        );
        exit(0);
      }
      record("ready", "null");
      // Index loops and `apply`, not iterators or spread: the program may have replaced Array's iterator.
      for (let at = 0; at < calls.length; at++) {
        current = calls[at][0];
        let value;
        try {
          value = apply(fn, undefined, parse(calls[at][1]));
        } catch (error) {
          if (error instanceof Error && error.name === "InternalError" && error.message === "out of memory") {
            record("out_of_memory", "null");
            exit(0);
          }
          record("raised", describe(error));
          continue;
        }
        let encoded;
        try {
          encoded = encode(value, 0);
        } catch (error) {
          record("unsupported", text(error.unsupported ? error.message : "a value that cannot be read"));
          continue;
        }
        record("returned", encoded);
      }
      exit(0);
    },
  };
}
