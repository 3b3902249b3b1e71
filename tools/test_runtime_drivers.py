"""tools/runtime_drivers/python.py against `python -c`, natively: for each program, the driver's stdout, stderr and
exit status must be those of `python -I -S -c <program>`. (The WebAssembly judge's own tests run it in CPython 3.12
on wasmi; this checks the driver's emulation of -c line by line, quickly, on the machine's CPython.)"""

import re
import subprocess
import sys
import unittest
from pathlib import Path

DRIVER = (Path(__file__).resolve().parent / "runtime_drivers/python.py").read_text()
# The warm-up, natively: the driver is loaded with os._exit held off (there is no snapshot to take here), then each
# "test" calls run() as the pack's arguments do. The loader binds no name in __main__ either.
LOADER = (
    "def load():\n"
    "    import os, sys\n"
    "    leave, os._exit = os._exit, lambda status: None\n"
    "    exec(sys.argv.pop(1), {})\n"
    "    os._exit = leave\n"
    "load()\n"
    "del load\n"
    "__import__('__codecapsule_driver__').run()\n"
)
# The same with the program compiled first, as each submission is: compile_program leaves through os._exit(0), where
# the judge snapshots; here that exit is caught, and the "test" then runs what it compiled. A failed compile leaves
# with its own status. The program's text is dropped from sys.argv as each test's fresh arguments drop it.
COMPILING_LOADER = (
    "def load():\n"
    "    import os, sys\n"
    "    leave, os._exit = os._exit, lambda status: None\n"
    "    exec(sys.argv.pop(1), {})\n"
    "    class Left(BaseException): pass\n"
    "    def left(status): raise Left(status)\n"
    "    os._exit = left\n"
    "    try:\n"
    "        __import__('__codecapsule_driver__').compile_program()\n"
    "    except Left as ended:\n"
    "        os._exit = leave\n"
    "        if ended.args[0] != 0:\n"
    "            leave(ended.args[0])\n"
    "    sys.argv.pop()\n"
    "load()\n"
    "del load\n"
    "__import__('__codecapsule_driver__').run(compiled=True)\n"
)

PROGRAMS = [
    "print(1)",
    "import sys; print(sys.argv)",
    "print(sorted(globals()))",
    "print(__name__, __doc__, __spec__)",
    "import sys; sys.stdout.write('no newline')",
    "import sys; sys.exit(3)",
    "import sys; sys.exit(None)",
    "import sys; sys.exit(True)",
    "import sys; sys.exit('bye')",
    "raise SystemExit(0)",
    "raise ValueError('x')",
    "def f():\n  1/0\nf()",
    "try:\n  1/0\nexcept Exception as e:\n  raise KeyError(1) from e",
    "print(",
    "  x = 1",
    "if True:\n\tx = 1\n        y = 2",
    "exec('x(')",
    "raise SyntaxError('made up')",
    "print(undefined_name)",
    "import atexit; atexit.register(print, 'at exit')",
    "import atexit\ndef bad(): raise RuntimeError('in atexit')\natexit.register(bad)",
    "import sys; sys.excepthook = lambda *a: print('hook', a[0].__name__); 1/0",
    "import sys\nsys.stdout = None\nprint(1)",
    "import os; os._exit(4)",
    "import os; os._exit = None; print('replaced')",
    "import sys; print('out'); print('err', file=sys.stderr); sys.exit(2)",
    "import sys; print(sys.stdin.read().upper())",
]


def run(*args, stdin="hello"):
    done = subprocess.run([sys.executable, "-I", "-S", "-c", *args], input=stdin, capture_output=True, text=True,
                          timeout=30)
    # Object addresses (an atexit callback's repr) differ from run to run.
    return done.stdout, re.sub(r"0x[0-9a-f]+", "0x…", done.stderr), done.returncode


class DriverIsLikeDashC(unittest.TestCase):
    def test_every_program_prints_and_exits_as_under_dash_c(self):
        for program in PROGRAMS:
            with self.subTest(program=program):
                self.assertEqual(run(LOADER, DRIVER, program), run(program))

    def test_every_program_compiled_first_prints_and_exits_as_under_dash_c(self):
        for program in PROGRAMS:
            with self.subTest(program=program):
                self.assertEqual(run(COMPILING_LOADER, DRIVER, program), run(program))

    def test_keyboard_interrupt_exits_130_as_cpython_without_signals(self):
        # Natively CPython re-raises SIGINT on itself; CPython for WASI, which has no signals, exits with 130.
        stdout, stderr, status = run(LOADER, DRIVER, "raise KeyboardInterrupt")
        self.assertEqual((stdout, stderr.splitlines()[-1], status), ("", "KeyboardInterrupt", 130))

    def test_the_driver_leaves_without_finalising(self):
        # __del__ of an object alive at the end runs under finalisation only: its absence shows os._exit was taken.
        program = "class A:\n  def __del__(self): print('finalised')\na = A()\nprint('done')"
        self.assertEqual(run(program)[0], "done\nfinalised\n")
        self.assertEqual(run(LOADER, DRIVER, program)[0], "done\n")


if __name__ == "__main__":
    unittest.main()
