"""A free UDP port on this machine, for the suite's netbios transport (tests/conftest.py) and the
loopback benchmark (bench/case_loopback.py): a random high port that binds now."""

import random
import socket


def free_udp_port(exclude=()) -> int:
    for _ in range(200):
        port = random.randrange(20000, 60000)
        if port in exclude:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free UDP port")
