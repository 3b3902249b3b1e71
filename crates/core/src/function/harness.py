# CodeCapsule's function-call harness for Python (native CPython and CPython in WebAssembly). The judge appends one
# line that calls `_codecapsule_harness` with the program's text, the file name its tracebacks give (a file holding
# the same text, natively, so that they quote its lines), the function's name and its parameters' names; the
# protocol (stdin, records, markers) is described in crates/core/src/function/protocol.rs.
#
# Everything the harness needs is bound before the program's code runs, so a program that replaces builtins, json,
# sys.stdout or os.write changes nothing here; the nonce lives only in this function's locals. The result is
# serialised by the harness's own encoder through the built-in types' own methods (a subclass's overrides are not
# asked), and `json` is not imported (it costs ~340 ms in WebAssembly).


def _codecapsule_harness(program, file_name, name, params):
    import os
    import sys
    import time

    write, leave, clock = os.write, os._exit, time.process_time
    stdout, stderr = sys.stdout, sys.stderr
    excepthook = sys.__excepthook__
    exc_str, type_name = BaseException.__str__, type.__dict__["__name__"].__get__
    int_repr, float_repr = int.__repr__, float.__repr__
    list_len, list_item, tuple_len, tuple_item = list.__len__, list.__getitem__, tuple.__len__, tuple.__getitem__
    dict_items, translate = dict.items, str.translate
    is_instance, type_of, evaluate, join = isinstance, type, eval, "".join
    is_callable, attribute, size, numbers, numbered = callable, getattr, len, range, enumerate
    an_int, a_float, a_str, a_list, a_tuple, a_dict = int, float, str, list, tuple, dict
    signal = set_timer = cpu_timer = None
    # In WebAssembly the judge's fuel bounds each call instead, and `signal` (which imports enum) would cost ~190 ms.
    if sys.platform != "wasi":
        import signal

        set_timer, cpu_timer = signal.setitimer, signal.ITIMER_PROF
    escapes = {code: "\\u%04x" % code for code in range(32)}
    escapes.update({ord('"'): '\\"', ord("\\"): "\\\\"})

    lines = sys.stdin.buffer.read().decode("utf-8").split("\n")
    nonce, time_ms, _count = lines[0].split(" ")
    seconds = int(time_ms) / 1000.0
    calls = [line.split(" ", 1) for line in lines[1:] if line]
    current = ["load"]

    def flush():
        for stream in (sys.stdout, sys.stderr, stdout, stderr):
            try:
                stream.flush()
            except BaseException:
                pass

    def put(fd, text):
        data = text.encode("utf-8", "surrogatepass")
        while data:
            data = data[write(fd, data) :]

    def record(kind, ms, payload):
        flush()
        put(1, "\x1e%s %s %s %.3f %s\n" % (nonce, current[0], kind, ms, payload))
        put(2, "\x1e%s %s\n" % (nonce, current[0]))

    def text(message):
        return '"' + translate(message, escapes) + '"'

    def encode(value, parts, depth):
        if depth > 64:
            raise ValueError("a value nested deeper than 64 levels")
        if value is None:
            parts.append("null")
        elif value is True or value is False:
            parts.append("true" if value else "false")
        elif is_instance(value, an_int):
            parts.append(int_repr(value))
        elif is_instance(value, a_float):
            shown = float_repr(value)
            parts.append(shown if shown not in ("inf", "-inf", "nan") else text(shown))
        elif is_instance(value, a_str):
            parts.append(text(value))
        elif is_instance(value, (a_list, a_tuple)):
            length, item = (list_len, list_item) if is_instance(value, a_list) else (tuple_len, tuple_item)
            parts.append("[")
            for index in numbers(length(value)):
                if index:
                    parts.append(",")
                encode(item(value, index), parts, depth + 1)
            parts.append("]")
        elif is_instance(value, a_dict):
            parts.append("{")
            for index, (key, item) in numbered(dict_items(value)):
                if not is_instance(key, a_str):
                    raise ValueError("a dict with a key that is not a string")
                parts.append(("," if index else "") + text(key) + ":")
                encode(item, parts, depth + 1)
            parts.append("}")
        else:
            raise ValueError("a %s, which is no value of the contract" % type_name(type_of(value)))

    def raised(error):
        # The traceback from the program's own frame on: `attempt`'s and its lambda's frames are not the program's.
        error.__traceback__ = error.__traceback__.tb_next.tb_next
        try:
            excepthook(type_of(error), error, error.__traceback__)
        except BaseException:
            pass
        return text("%s: %s" % (type_name(type_of(error)), exc_str(error)) if error.args else type_name(type_of(error)))

    def attempt(action):
        # Runs `action` under the call's CPU timer: (its value, None), or (None, (kind, payload)) when it raised. A
        # memory error is recorded after its handler, once the program's frames (and what they hold) are freed.
        value = failure = None
        if set_timer is not None:
            set_timer(cpu_timer, seconds)
        try:
            value = action()
        except MemoryError:
            failure = ("out_of_memory", "null")
        except BaseException as error:
            failure = ("raised", raised(error))
        if set_timer is not None:
            set_timer(cpu_timer, 0)
        return value, failure

    def on_timer(_signal, _frame):
        record("timed_out", seconds * 1000.0, "null")
        leave(0)

    if set_timer is not None:
        signal.signal(signal.SIGPROF, on_timer)
    else:
        # The judge ends a call that runs out of fuel from outside, with no chance to flush: what the program printed
        # must already be out. (Natively, running out of time flushes first.)
        import io

        for fd, stream in ((1, "stdout"), (2, "stderr")):
            raw = io.FileIO(fd, "w", closefd=False)
            setattr(sys, stream, io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True))
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        code = compile(program, file_name, "exec")
    except (SyntaxError, ValueError) as error:
        detail = "%s: %s" % (type_name(type_of(error)), attribute(error, "msg", exc_str(error)))
        if attribute(error, "lineno", None):
            source = (error.text or "").strip()
            detail = '  File "main.py", line %d\n    %s\n%s' % (error.lineno, source, detail)
        record("did_not_compile", 0, text(detail))
        leave(0)
    _, failure = attempt(lambda: exec(code, namespace))
    if failure is not None:
        record(failure[0], 0, failure[1])
        leave(0)
    function = namespace.get(name)
    if function is None or not is_callable(function):
        what = "is not defined" if function is None else "is not a function"
        record("missing_function", 0, text("the program defines no top-level function `%s` (`%s` %s)" % (name, name, what)))
        leave(0)
    code = attribute(function, "__code__", None)
    if code is not None:
        positional = code.co_argcount
        required = positional - size(attribute(function, "__defaults__", None) or ())
        keyword_only = code.co_kwonlyargcount - size(attribute(function, "__kwdefaults__", None) or {})
        takes_more = code.co_flags & 0x04
        if not (required <= size(params) and (size(params) <= positional or takes_more) and keyword_only == 0):
            names = ", ".join(code.co_varnames[:positional])
            record(
                "wrong_signature",
                0,
                text(
                    "`%s` takes %d parameter%s (%s); the capsule calls it with %d (%s)"
                    % (name, positional, "" if positional == 1 else "s", names, size(params), ", ".join(params))
                ),
            )
            leave(0)
    record("ready", 0, "null")
    for index, args in calls:
        current[0] = index
        arguments = evaluate(args, {"__builtins__": {}})
        started = clock()
        value, failure = attempt(lambda: function(*arguments))
        if failure is not None:
            record(failure[0], (clock() - started) * 1000.0, failure[1])
            if failure[0] == "out_of_memory":
                leave(0)
            continue
        spent = (clock() - started) * 1000.0
        parts = []
        try:
            encode(value, parts, 0)
        except (ValueError, RecursionError) as error:
            record("unsupported", spent, text(exc_str(error)))
            continue
        record("returned", spent, join(parts))
    flush()
    leave(0)
