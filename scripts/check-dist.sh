#!/usr/bin/env bash
# What a user gets from `pip install lanmsg`: build the sdist and the wheel (python -m build),
# check what each holds, install the wheel into a fresh venv and run it from there, away from
# the source tree: lanmsg --version, python -m mailslot --help and scripts/demo.sh (loopback only).
#
#   PYTHON=python3 bash scripts/check-dist.sh     # needs `build` (pip install build; nox -s dist does it)
#
# Leaves nothing behind (the build, the venv and the demo run in a temporary directory).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "check-dist: $*"; }
fail() { echo "check-dist: FAILED: $*" >&2; exit 1; }

say "python -m build (sdist and wheel) with $("$PY" --version)"
"$PY" -m build --outdir "$work/dist" "$ROOT" > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "python -m build"; }
# the build writes lanmsg.egg-info and build/ next to the sources: leave the tree as it was
rm -rf "$ROOT/build" "$ROOT/lanmsg.egg-info"
sdist=$(ls "$work"/dist/lanmsg-*.tar.gz)
wheel=$(ls "$work"/dist/lanmsg-*.whl)
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/lanmsg/__init__.py")
say "built $(basename "$sdist") and $(basename "$wheel")"
case "$(basename "$wheel")" in lanmsg-"$version"-py3-none-any.whl) ;; *) fail "wheel name: want lanmsg-$version-py3-none-any.whl" ;; esac

# What each archive holds: the sdist everything that checks and documents the code, the wheel
# the code alone; the sdist also the man pages.
"$PY" - "$sdist" "$wheel" "$ROOT" <<'EOF'
import pathlib, subprocess, sys, tarfile, zipfile

sdist, wheel, root = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
with tarfile.open(sdist) as t:
    top = t.getnames()[0].split("/")[0]
    in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
with zipfile.ZipFile(wheel) as z:
    in_wheel = set(z.namelist())

# every file git tracks under tests/ and docs/ (or, outside a git checkout, on disk)
try:
    tracked = subprocess.run(
        ["git", "-C", str(root), "ls-files", "tests", "docs"], capture_output=True, text=True, check=True
    ).stdout.split()
except (OSError, subprocess.CalledProcessError):
    tracked = [str(p.relative_to(root)) for d in ("tests", "docs") for p in (root / d).rglob("*") if p.is_file()]
tracked = [n for n in tracked if "__pycache__" not in n]
problems = [f"sdist lacks {n}" for n in tracked if n not in in_sdist]
for need in (
    "tests/conftest.py",
    "docs/testing.md",
    "README.md",
    "pyproject.toml",
    "mailslot.py",
    "lanmsg/cli.py",
    "man/lanmsg.1",  # written from the parsers at build time (setup.py, scripts/manpage.py)
    "man/mailslot.1",
):
    if need not in in_sdist:
        problems.append(f"sdist lacks {need}")
code = {"mailslot.py", "lanmsg/__init__.py", "lanmsg/__main__.py", "lanmsg/cli.py", "lanmsg/py.typed", "lanmsg/chat/__init__.py"}
problems += [f"wheel lacks {n}" for n in sorted(code - in_wheel)]
tests_in_wheel = [
    n for n in in_wheel if n.startswith(("tests/", "test/")) or "/tests/" in n or n.rsplit("/", 1)[-1].startswith("test_")
]
problems += [f"wheel holds test file {n}" for n in sorted(tests_in_wheel)]
outside = [n for n in in_wheel if not n.startswith(("lanmsg/", "mailslot.py", "lanmsg-"))]
problems += [f"wheel holds unexpected {n}" for n in sorted(outside)]
for p in problems:
    print("check-dist:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print(
    f"check-dist: sdist {len(in_sdist)} files (tests/ and docs/: {len(tracked)}, all there); "
    f"wheel {len(in_wheel)} files, no test file"
)
EOF

# The man pages: in the sdist, and rendered without a warning where groff is installed.
mkdir "$work/sdist"
tar -xzf "$sdist" -C "$work/sdist"
for page in "$work"/sdist/*/man/*.1; do
    if command -v groff >/dev/null 2>&1; then
        warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "groff $(basename "$page")"
        [ -z "$warnings" ] || fail "groff $(basename "$page"): $warnings"
    fi
    say "man page $(basename "$page"): $(sed -n 's/^\.TH \([A-Z]*\) 1 .*/\1/p' "$page"), $(grep -c '^\.TP' "$page") options"
done

say "fresh venv, the wheel alone (no index, no source tree on the path)"
"$PY" -m venv "$work/venv"
VPY="$work/venv/bin/python"
[ -x "$VPY" ] || VPY="$work/venv/Scripts/python.exe"
"$VPY" -m pip install -q --no-index --disable-pip-version-check "$wheel"
cd "$work"  # python -m puts the working directory first on sys.path: not the source tree
unset PYTHONPATH PYTHONHOME
where=$("$VPY" -c "import lanmsg, mailslot; print(lanmsg.__file__); print(mailslot.__file__)")
case "$where" in *"$ROOT"*) fail "the venv imports the source tree: $where" ;; esac
case "$where" in "$work/venv/"*) ;; *) fail "not imported from the venv: $where" ;; esac

got=$("$work/venv/bin/lanmsg" --version)
say "lanmsg --version: $got"
case "$got" in *"$version"*) ;; *) fail "lanmsg --version printed '$got', want $version" ;; esac
"$VPY" -m mailslot --help > "$work/help.txt" || fail "python -m mailslot --help"
grep -q "usage: python -m mailslot" "$work/help.txt" || fail "python -m mailslot --help: no usage line"
say "python -m mailslot --help: $(head -1 "$work/help.txt")"

# The demo on a free UDP port of its own (LANMSG_PORT), every datagram on loopback.
port=$("$VPY" -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print(s.getsockname()[1])")
say "scripts/demo.sh with the venv's python (UDP port $port, loopback)"
PATH="$work/venv/bin:$PATH" PYTHON="$VPY" LANMSG_PORT=$port timeout 120 sh "$ROOT/scripts/demo.sh" > "$work/demo.txt" 2>&1 \
    || { cat "$work/demo.txt" >&2; fail "scripts/demo.sh"; }
cat "$work/demo.txt"
grep -q "confirmed by" "$work/demo.txt" || fail "demo: the send was not confirmed"
grep -q "127.0.0.1:8080" "$work/demo.txt" || fail "demo: discover did not find the announcer"
grep -q ": hello from lanmsg" "$work/demo.txt" || fail "demo: the listener did not show the message"
say "ok: the wheel installs and runs (lanmsg $version)"
