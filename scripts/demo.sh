#!/bin/sh
# lanmsg end to end on this one machine, with every datagram kept on loopback.
set -e
export LANMSG_BROADCAST=127.255.255.255 LANMSG_PORT="${LANMSG_PORT:-41138}"
PY="${PYTHON:-python3}"
"$PY" -m mailslot listen demo --count 2 --timeout 10 &
listener=$!
sleep 1
"$PY" -m mailslot send . demo "hello from this machine"
"$PY" -m mailslot send '*' demo "hello, workgroup (kept on loopback)"
wait "$listener"
