# How CPython in WebAssembly runs a learner's program. tools/fetch_runtime_packs.py puts this file in the Python
# pack's manifest; it runs once per loaded runtime, as the warm-up whose end the judge snapshots:
#
#   warm-up:   python -I -S -c "exec(__import__('sys').argv.pop(), {})" <this file>
#   compiling: python -I -S -c "__import__('__codecapsule_driver__').compile_program()" <program>
#   each test: python -I -S -c "__import__('__codecapsule_driver__').run(compiled=True)"
#   (without compiling ahead: python -I -S -c "__import__('__codecapsule_driver__').run()" <program>)
#
# At load it defines `run`, registers it as the module __codecapsule_driver__ and leaves through os._exit(0), binding
# no name in __main__: the snapshot holds the booted interpreter with this file already compiled (compiling it per test
# cost ~10 ms of CPython's tokenizer on wasmi).
#
# `compile_program` compiles the program once for all of a submission's tests (CPython's compiler costs ~1.3 ms a
# function on wasmi: 280 ms for a 600-line program), keeps the code object in this module and leaves through
# os._exit(0): the judge snapshots that memory, and each test starts from it. A program that does not compile gets
# what running it gives (the same message and exit status, from `run`).
#
# `run` runs the program as `python -c <program>` would (in __main__, file name "<string>", sys.argv == ["-c"], the
# same exit status and the same messages for a syntax error, an uncaught exception and SystemExit), then leaves
# through os._exit instead of returning: CPython's finalisation (every module torn down, the GC run) cost ~50 ms of a
# ~57 ms test, and the judge throws the instance away after each test anyway. What finalisation would still do for the
# program is done first: atexit callbacks, then flushing stdout and stderr. Objects alive at the end are not finalised
# (their __del__ does not run), which Python does not promise at exit either; the program runs two frames deeper
# than under -c (a recursion limit reached that much sooner).
import atexit
import os
import sys

DRIVER_MODULE = "__codecapsule_driver__"


def compile_program():
    leave = os._exit
    source = sys.argv[-1]
    try:
        compiled = compile(source, "<string>", "exec")
    except BaseException:
        compiled = None
    if compiled is None:
        run()  # prints what running the program prints (outside the handler: no chained exception), and leaves
    sys.modules[DRIVER_MODULE].compiled = compiled
    leave(0)


def run(compiled=False):
    leave = os._exit  # held before the program runs, which may replace os._exit
    driver = sys.modules.pop(DRIVER_MODULE)
    main = sys.modules["__main__"].__dict__
    program = driver.compiled if compiled else sys.argv.pop()
    status = 0
    try:
        exec(program, main)
    except SystemExit as exit:
        # As CPython's own handling of an uncaught SystemExit: None is 0, an integer is the status, anything else is
        # printed to stderr and the status is 1.
        code = exit.code
        if code is None:
            status = 0
        elif isinstance(code, int):
            status = code if -(2**31) <= code < 2**31 else -1
        else:
            print(code, file=sys.stderr)
            status = 1
    except BaseException as error:
        # The traceback from the program's own frame on: this function's frame is not the program's (the hook
        # prints the exception's own __traceback__, so that is what is cut).
        error.__traceback__ = error.__traceback__.tb_next
        sys.excepthook(type(error), error, error.__traceback__)
        status = 130 if isinstance(error, KeyboardInterrupt) else 1  # 130: as CPython without signals (WASI)
    atexit._run_exitfuncs()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if stream is None:
            continue
        try:
            stream.flush()
        except Exception:
            if name == "stdout":
                status = 120  # CPython's status when stdout cannot be flushed at exit
    leave(status)


driver = type(sys)(DRIVER_MODULE)
driver.run = run
driver.compile_program = compile_program
sys.modules[DRIVER_MODULE] = driver
# The first compile() of an interpreter's life initialises what compiling needs (~65 M fuel, ~45 ms on wasmi): done
# here, into the snapshot, rather than by every submission's compile_program.
compile("pass", "<string>", "exec")
os._exit(0)  # the end of the warm-up: the snapshot is taken here
