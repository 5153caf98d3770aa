"""The Windows-side suite: these tests run inside a Windows CPython, never on the host.

On Linux, ``python3 -m pytest`` runs them through tests/test_windows.py, which starts the
official Windows CPython under Wine and reports each of them (scripts/setup-windows-python.sh
installs both).  On a real Windows: ``py -m pytest tests/windows``.  Elsewhere this folder
is not collected.

tests/conftest.py applies here too: LANMSG_BROADCAST keeps every broadcast of the netbios
transport on 127.255.255.255, and the ``port`` fixture gives each test its own UDP port.
Mailslot names are global to a Windows machine (to a Wine prefix), so every test uses
names of its own (``winsupport.unique``).
"""

import sys

if sys.platform != "win32":
    collect_ignore_glob = ["test_*.py"]
