"""Runs inside a lab host: python-zeroconf's one-shot browse, as a script would find a service.

    python zc_browse.py TYPE [--timeout S]

An AsyncServiceBrowser for TYPE (e.g. _lanbench._tcp); the first instance that
appears is resolved (AsyncServiceInfo.async_request), printed as
``=;instance;type;server;address;port`` and the script exits 0 (1 on timeout).
"""

import argparse
import asyncio
import socket
import sys

from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

RESOLVE_TIMEOUT_MS = 3000


async def browse(service_type: str, timeout: float) -> int:
    azc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    found: asyncio.Future = asyncio.get_running_loop().create_future()
    tasks = set()

    async def resolve(type_: str, name: str) -> None:
        info = AsyncServiceInfo(type_, name)
        if await info.async_request(azc.zeroconf, RESOLVE_TIMEOUT_MS) and not found.done():
            found.set_result(info)

    def on_change(zeroconf, service_type, name, state_change):
        if state_change is ServiceStateChange.Added:
            task = asyncio.ensure_future(resolve(service_type, name))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    browser = AsyncServiceBrowser(azc.zeroconf, [service_type], handlers=[on_change])
    try:
        info = await asyncio.wait_for(found, timeout)
    except asyncio.TimeoutError:
        info = None
    await browser.async_cancel()
    await azc.async_close()
    if info is None:
        return 1
    addr = socket.inet_ntoa(info.addresses[0]) if info.addresses else "-"
    print(f"=;{info.name.split('.')[0]};{info.type};{info.server};{addr};{info.port}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("type")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    t = args.type if args.type.endswith(".local.") else args.type.rstrip(".") + ".local."
    return asyncio.run(browse(t, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
