#!/usr/bin/env bash
# Install what bench/suite.py compares lanmsg against (run as root on Debian/Ubuntu):
#   avahi-daemon, avahi-utils, dbus-daemon  (Debian)  - avahi-publish / avahi-browse, run only
#                                                       inside lab network namespaces
#   samba-common-bin                         (Debian)  - nmblookup, run only inside lab hosts with
#                                                       a private client conf (-s); Samba's nmbd
#                                                       (package samba) is used when present, not
#                                                       installed here
#   python-zeroconf, py-spy                  (PyPI)   - pinned, in a venv under ~/.cache/lanmsg
# Usage: scripts/install-bench-tools.sh [PYTHON]   (the interpreter the venv is built on;
#        default python3).  Prints the venv's python on its last line.
# Idempotent: a second run installs nothing and takes well under a second.
set -euo pipefail
PYTHON=${1:-python3}
VENV=${LANMSG_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lanmsg/bench-venv}
ZEROCONF_VERSION=0.154.0
IFADDR_VERSION=0.2.0
PYSPY_VERSION=0.4.3

if [ "$(id -u)" != 0 ]; then
    echo "install-bench-tools: not root; the bench lab needs root" >&2
    exit 2
fi

need=()
command -v avahi-daemon >/dev/null 2>&1 || [ -x /usr/sbin/avahi-daemon ] || need+=(avahi-daemon)
command -v avahi-browse >/dev/null 2>&1 || need+=(avahi-utils)
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus-daemon)
command -v nmblookup >/dev/null 2>&1 || need+=(samba-common-bin)
if [ ${#need[@]} -gt 0 ]; then
    # avahi-daemon and dbus-daemon must never start in the root namespace (avahi would
    # announce on the machine's real network), nor any Samba service samba-common-bin may
    # bring: policy-rc.d 101 keeps apt from starting them.
    if [ ! -x /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
    fi
    apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
    apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
        apt_get update -qq
        apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    }
    echo "install-bench-tools: installed ${need[*]}" >&2
fi

want="zeroconf==$ZEROCONF_VERSION ifaddr==$IFADDR_VERSION py-spy==$PYSPY_VERSION"
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "
import importlib.metadata as m, sys
want = dict(s.split('==') for s in sys.argv[1:])
sys.exit(any(m.version(k) != v for k, v in want.items()))" $want 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check $want >&2
    echo "install-bench-tools: installed $want in $VENV" >&2
fi
echo "$VENV/bin/python"
