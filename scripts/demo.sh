#!/bin/sh
# lanmsg end to end on this one machine. Every broadcast is confined to loopback
# (127.255.255.255) and a private UDP port is used: nothing leaves this machine.
set -e
export LANMSG_BROADCAST=127.255.255.255 LANMSG_PORT="${LANMSG_PORT:-41138}"
PY="${PYTHON:-python3}"
out=$(mktemp -d)
# (set -e holds in the trap too: a kill of processes already gone must not end it early)
trap 'kill $listener $announcer 2>/dev/null || true; rm -rf "$out"' EXIT
# wait for a background command's ready line; if it died instead, show why and stop
ready() {
    until grep -q "$2" "$3" 2>/dev/null; do
        kill -0 "$1" 2>/dev/null || { cat "$3" >&2; exit 1; }
        sleep 0.1
    done
}

echo "== lanmsg listen (in the background), then lanmsg send . (this machine)"
"$PY" -m lanmsg listen > "$out/listen.txt" 2>&1 &
listener=$!
ready $listener listening "$out/listen.txt"
"$PY" -m lanmsg send . "hello from lanmsg"
echo "== lanmsg announce 8080 (in the background), then lanmsg discover"
"$PY" -m lanmsg announce 8080 > "$out/announce.txt" 2>&1 &
announcer=$!
ready $announcer announcing "$out/announce.txt"
"$PY" -m lanmsg discover
kill -TERM $listener $announcer
wait $listener $announcer 2>/dev/null || true
echo "== what the listener showed"
cat "$out/listen.txt"
