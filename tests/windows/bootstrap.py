"""Run Python with this repository importable: ``python bootstrap.py -m MODULE ARGS`` or ``-c CODE ARGS``.

The Windows embeddable CPython (the one the Wine tests use) runs in isolated mode: it
ignores PYTHONPATH and does not put the working directory on sys.path, so ``python -m
lanmsg`` would not find the repository.  This does what ``python -m`` / ``python -c`` do,
with the repository first on sys.path.  It works the same with any CPython >= 3.10.
"""

import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    sys.dont_write_bytecode = True  # never leave Windows-built .pyc files in the repository
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif len(args) >= 2 and args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.exit("usage: python bootstrap.py -m MODULE [ARGS...] | -c CODE [ARGS...]")


if __name__ == "__main__":
    main()
