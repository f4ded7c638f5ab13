#!/usr/bin/env bash
# Each process's command line, as ttmemd reads it from /proc/PID/cmdline when the process
# connects: two native clients started with distinctive arguments (one under another argv[0],
# `exec -a`, not ASCII) and a legacy client are shown with them by `ttmem status --json` (the
# whole string), `ttmem status` (a command column, cut with … to $COLUMNS, counted in
# characters) and `ttmem dump`; a legacy client that exited before the daemon accepted its
# connection (the daemon was stopped meanwhile) has none (null, N/A) and breaks nothing; the
# journal route, `ttmem record -o run.ttmem -- CMD ARGS` then `ttmem report run.ttmem`, shows
# CMD's arguments in text and JSON; a daemon's own journal (--journal) too.
set -u
build=$1
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
client="$build/tests/it_client"
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-cmdline.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -f "$tmp/d.pid" ] && kill -CONT "$(cat "$tmp/d.pid")" 2>/dev/null
    [ -f "$tmp/d.pid" ] && kill -9 "$(cat "$tmp/d.pid")" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
sock="$tmp/d.sock"
mkdir "$tmp/no-shm"
export TTMEM_SHM_DIR="$tmp/no-shm" # TT-Metal's regions: none here, whatever the host has
unset COLUMNS

# waits (up to 10 s) until FILE holds a line matching PATTERN
wait_for() {
    for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}

"$ttmemd" --socket "$sock" --pid-file "$tmp/d.pid" --poc-socket "$tmp/p.sock" \
    --journal "$tmp/daemon.ttmem" --log-level info
check "ttmemd starts" $?
dpid=$(cat "$tmp/d.pid")

# two clients with arguments of their own; the second one runs under another argv[0]
mkfifo "$tmp/h1" "$tmp/h2"
TTMEM=1 TTMEM_SOCKET="$sock" "$client" --alloc-at 0x7000 --leak 3 --device 1 --hold \
    <"$tmp/h1" >"$tmp/c1.out" 2>>"$tmp/clients.err" &
c1=$!
pids+=("$c1")
(TTMEM=1 TTMEM_SOCKET="$sock" exec -a "tagged-äbc-$$" "$client" --alloc-at 0x9000 --leak 2 \
    --device 2 --hold <"$tmp/h2" >"$tmp/c2.out" 2>>"$tmp/clients.err") &
c2=$!
pids+=("$c2")
exec 7>"$tmp/h1" 8>"$tmp/h2"
wait_for "$tmp/c1.out" "ready 0"; check "client 1 is ready" $?
wait_for "$tmp/c2.out" "ready 0"; check "client 2 is ready" $?
want1="$client --alloc-at 0x7000 --leak 3 --device 1 --hold"
want2="tagged-äbc-$$ --alloc-at 0x9000 --leak 2 --device 2 --hold"

# a legacy client that stays connected, started with a multi-line program and an argument of its
# own: its command line is read at accept, the program's newlines cleaned to '?'
mkfifo "$tmp/h3"
legacy_prog='import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack("=BxxxiQBxxxiQQQQQQ", 1, 0, 8192, 0, 1, 0x6000, 0, 0, 0, 0, 0))
print("ready", flush=True)
sys.stdin.readline()'
python3 -c "$legacy_prog" "$tmp/p.sock" "legacy-tag-$$" <"$tmp/h3" >"$tmp/c3.out" 2>>"$tmp/clients.err" &
c3=$!
pids+=("$c3")
exec 9>"$tmp/h3"
wait_for "$tmp/c3.out" "ready"; check "the legacy client is ready" $?

# a legacy client that connects, sends and exits while the daemon is stopped: when the daemon
# accepts it, /proc has nothing of it any more
kill -STOP "$dpid"
python3 - "$tmp/p.sock" >"$tmp/gone.pid" <<'PY'
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
msg = struct.pack("=BxxxiQBxxxiQQQQQQ", 1, 0, 4096, 0, 1, 0x5000, 0, 0, 0, 0, 0)  # one ALLOC
s.sendall(msg)
print(os.getpid())
PY
check "the legacy client ran" $?
gone=$(cat "$tmp/gone.pid")
kill -0 "$gone" 2>/dev/null
check "the legacy client is gone before the daemon goes on" $([ $? -ne 0 ]; echo $?)
kill -CONT "$dpid"

# status --json: the whole command lines; the gone client's is null once its exit is settled
settled=1
for _ in $(seq 200); do
    "$ttmem" status --json --socket "$sock" >"$tmp/status.json" 2>"$tmp/status.err" &&
        python3 - "$tmp/status.json" "$gone" "$c3" <<'PY' && { settled=0; break; }
import json, sys
s = json.load(open(sys.argv[1]))
p = [p for p in s["processes"] if p["pid"] == int(sys.argv[2])]
live = [p for p in s["processes"] if p["pid"] == int(sys.argv[3]) and p["events"] > 0]
sys.exit(0 if p and p[0]["state"] == "exited" and live else 1)
PY
    sleep 0.05
done
check "the gone legacy client's exit is settled, the other one's event applied" $settled
python3 - "$tmp/status.json" "$c1" "$want1" "$c2" "$want2" "$gone" "$c3" "$$" >"$tmp/json.err" 2>&1 <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
by = {p["pid"]: p for p in s["processes"]}
legacy = by[int(sys.argv[7])]["cmdline"]
assert " -c import socket, struct, sys?s = socket.socket(" in legacy and \
    legacy.endswith(" legacy-tag-" + sys.argv[8]) and all(ord(c) >= 0x20 for c in legacy), legacy
for pid, want in ((sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5])):
    got = by[int(pid)].get("cmdline")
    assert got == want, (pid, got, want)
assert "cmdline" in by[int(sys.argv[6])] and by[int(sys.argv[6])]["cmdline"] is None, \
    by[int(sys.argv[6])]
PY
st=$?; check "status --json: both clients' command lines, the legacy one's cleaned, null for the gone one ($(cat "$tmp/json.err"))" $st

# status text: a command column, last; cut with … to $COLUMNS, else (not a terminal) to 60
# characters
"$ttmem" status --socket "$sock" >"$tmp/status60.txt" 2>&1
python3 - "$tmp/status60.txt" "$c1" "$want1" <<'PY'
import sys
row = [l for l in open(sys.argv[1], encoding="utf-8") if l.split()[:1] == [sys.argv[2]]][0]
cmd = row.rstrip("\n").split("  ")[-1]
assert len(sys.argv[3]) > 60 and len(cmd) == 60 and cmd == sys.argv[3][:59] + "…", cmd
PY
check "status without a terminal: the command cut to 60 characters with …" $?
COLUMNS=400 "$ttmem" status --socket "$sock" >"$tmp/status.txt" 2>&1
check "status exits 0" $?
grep -Eq "^ +pid name .* leaked  command$" "$tmp/status.txt"; check "status: a command column, last" $?
grep -Fq -- "connected" "$tmp/status.txt" && grep -F -- " $c2 " "$tmp/status.txt" | grep -Fq -- "$want2"
check "status: client 2's command line (under its argv[0]) on its row" $?
grep -E "^ +$gone " "$tmp/status.txt" | grep -Eq "exited .* N/A$"
check "status: N/A for the client gone before it was read" $?
COLUMNS=130 "$ttmem" status --socket "$sock" >"$tmp/status100.txt" 2>&1
row=$(grep -E "^ +$c2 " "$tmp/status100.txt")
python3 -c 'import sys; r = sys.argv[1]; sys.exit(not (len(r) == 130 and r.endswith("…")))' "$row" &&
    printf '%s' "$row" | grep -Fq " tagged-äbc-$$ --"
st=$?; check "COLUMNS=130: the row is cut to 130 characters with … ($row)" $st

# dump: text and JSON
COLUMNS=400 "$ttmem" dump --socket "$sock" >"$tmp/dump.txt" 2>&1
grep -E "^ +$c1 " "$tmp/dump.txt" | grep -Fq -- "$want1"; check "dump text: client 1's command line" $?
"$ttmem" dump --json --socket "$sock" >"$tmp/dump.json" 2>&1
python3 - "$tmp/dump.json" "$c2" "$want2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
got = [p["cmdline"] for dv in d["devices"] for m in dv["memtypes"] for p in m["processes"]
       if p["pid"] == int(sys.argv[2])]
assert got and all(g == sys.argv[3] for g in got), got
PY
check "dump --json: client 2's command line" $?

# the daemon's own journal: its DAEMON chunk (written at the stop) carries the command lines
exec 7>&- 8>&- 9>&-
wait "$c1" "$c2" "$c3"
kill -TERM "$dpid"
for _ in $(seq 200); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$dpid" 2>/dev/null; check "ttmemd stops" $([ $? -ne 0 ]; echo $?)
"$ttmem" report --json "$tmp/daemon.ttmem" >"$tmp/daemon.json" 2>"$tmp/daemon.err"
check "report of the daemon's journal exits 0 ($(head -1 "$tmp/daemon.err"))" $?
python3 - "$tmp/daemon.json" "$c1" "$want1" "$c2" "$want2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
by = {p["pid"]: p for p in r["processes"]}
for pid, want in ((sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5])):
    assert by[int(pid)]["cmdline"] == want, (pid, by[int(pid)]["cmdline"])
PY
check "report of the daemon's journal: both command lines" $?

# record -o, then report: the command's arguments
COLUMNS=400 "$ttmem" record -o "$tmp/run.ttmem" -- "$client" --pairs 4 --leak 1 --device 3 \
    >"$tmp/record.txt" 2>&1
check "record exits 0" $?
grep -E "^ +[0-9]+ it_client " "$tmp/record.txt" | grep -Fq -- "$client --pairs 4 --leak 1 --device 3"
check "record's report shows the command line" $?
COLUMNS=400 "$ttmem" report "$tmp/run.ttmem" >"$tmp/report.txt" 2>&1
check "report exits 0" $?
grep -A2 "^Processes" "$tmp/report.txt" | grep -Fq -- "--pairs 4 --leak 1 --device 3"
check "report text: a process table with the arguments" $?
"$ttmem" report --json "$tmp/run.ttmem" >"$tmp/report.json" 2>&1
python3 - "$tmp/report.json" "$client --pairs 4 --leak 1 --device 3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert [p["cmdline"] for p in r["processes"]] == [sys.argv[2]], r["processes"]
PY
check "report --json: the whole command line" $?

echo "cmdline: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
