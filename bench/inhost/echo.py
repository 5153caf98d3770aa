"""Runs on lab host 2: the bare UDP echo server of the ping-pong baseline.

python echo.py PORT      prints "ready", echoes every datagram until it gets b"stop"
"""

import socket
import sys

IDLE_LIMIT_S = 600  # stops by itself if the bench disappears

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", int(sys.argv[1])))
s.settimeout(IDLE_LIMIT_S)
print("ready", flush=True)
while True:
    try:
        data, peer = s.recvfrom(2048)
    except TimeoutError:
        break
    if data == b"stop":
        break
    s.sendto(data, peer)
