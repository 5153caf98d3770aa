"""Runs on lab host 2: the echo server of case 2's baselines.

python echo.py PORT             prints "ready", echoes every datagram until it gets b"stop"
python echo.py PORT --confirm   answers each messenger datagram with its CONF datagram instead:
                                decoded and encoded with mailslot's codec and protocol's frames,
                                nothing else (the floor of this wire format in Python)
"""

import socket
import sys

IDLE_LIMIT_S = 600  # stops by itself if the bench disappears

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", int(sys.argv[1])))
s.settimeout(IDLE_LIMIT_S)
confirm = "--confirm" in sys.argv[2:]
if confirm:
    import mailslot
    from lanmsg import protocol as P

    me = socket.gethostname().split(".")[0].upper()[:15]
    source_ip = "0.0.0.0"
print("ready", flush=True)
n = 0
while True:
    try:
        data, peer = s.recvfrom(2048)
    except TimeoutError:
        break
    if data == b"stop":
        break
    if confirm:
        d = mailslot.decode_datagram(data)
        frame = P.decode_frame(d.data)
        if not isinstance(frame, P.Frame):
            continue
        n += 1
        conf = P.encode_frame(P.Frame(me, n, False, True, P.conf_body(frame.msg_id)))
        template = mailslot._template(
            mailslot.MSG_DIRECT_UNIQUE, me, d.source_name, d.mailslot_bare, s.getsockname()[1]
        )
        data = template.encode(n, source_ip, conf)
    s.sendto(data, peer)
