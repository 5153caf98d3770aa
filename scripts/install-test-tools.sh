#!/usr/bin/env bash
# Install the Debian tools lanmsg's tests use as independent judges and lab parts:
#   tshark   - Wireshark's dissector judges every datagram format we send
#   nftables - packet loss in the network-namespace lab (netem is missing on some kernels)
#   iproute2 - network namespaces, veth, bridge
#   zsh      - runs the completion script of `lanmsg --completion zsh` (tests/test_completion.py)
#   samba, samba-common-bin - Samba's nmbd (NetBIOS name and datagram server) and nmblookup, a
#              reference peer and judge run only inside lab hosts (tests/samba.py).  Installing
#              samba must not start nmbd/smbd in the root namespace, where nmbd would broadcast on
#              the machine's real network: /usr/sbin/policy-rc.d (exit 101) is put in place first
#              if missing, so Debian starts no service on installation.
# Run as root on Debian/Ubuntu.  Python test tools come from pip (pyproject's [test] extra).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "install-test-tools: not root; skipping apt (tests that need tshark or a lab will say so and skip)" >&2
    exit 0
fi
need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have nmbd || need+=(samba)
have nmblookup || need+=(samba-common-bin)
if [ ${#need[@]} -eq 0 ]; then
    echo "install-test-tools: tshark, nft, ip, setpriv, zsh, nmbd, nmblookup present"
    exit 0
fi
# Packages must not start daemons outside the lab (see docs/testing.md): with samba in the
# list, nmbd would otherwise start in the root namespace and broadcast on the real network.
if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-test-tools: installed ${need[*]}"
