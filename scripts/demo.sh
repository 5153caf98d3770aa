#!/bin/sh
# lanmsg end to end on this one machine. Every broadcast is confined to loopback
# (127.255.255.255) and a private UDP port is used: nothing leaves this machine.
set -e
export LANMSG_BROADCAST=127.255.255.255 LANMSG_PORT="${LANMSG_PORT:-41138}"
PY="${PYTHON:-python3}"
out=$(mktemp -d)
trap 'kill $listener $announcer 2>/dev/null; rm -rf "$out"' EXIT

echo "== lanmsg listen (in the background), then lanmsg send . (this machine)"
"$PY" -m lanmsg listen > "$out/listen.txt" 2>&1 &
listener=$!
until grep -q listening "$out/listen.txt" 2>/dev/null; do sleep 0.1; done
"$PY" -m lanmsg send . "hello from lanmsg"
echo "== lanmsg announce 8080 (in the background), then lanmsg discover"
"$PY" -m lanmsg announce 8080 > "$out/announce.txt" 2>&1 &
announcer=$!
until grep -q announcing "$out/announce.txt" 2>/dev/null; do sleep 0.1; done
"$PY" -m lanmsg discover
kill -TERM $listener $announcer
wait $listener $announcer 2>/dev/null || true
echo "== what the listener showed"
cat "$out/listen.txt"
