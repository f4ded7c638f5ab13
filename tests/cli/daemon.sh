#!/usr/bin/env bash
# ttmemd and the commands that talk to it, from the outside: the daemon detaches and writes its
# pid file, `ttmem status` and `ttmem dump` (text and JSON) show what clients reported, a dead
# daemon gets one clear line, bad options get one clear line, SIGTERM stops it with a summary;
# the plain `ttmemd` of the README starts detached on a fresh host and is found and stopped.
set -u
build=$1
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
client="$build/tests/it_client"
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-cli.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -f "$tmp/d.pid" ] && kill -9 "$(cat "$tmp/d.pid")" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
sock="$tmp/d.sock"
# ttmem status also shows TT-Metal's /dev/shm regions: none here, whatever the host has
mkdir "$tmp/no-shm"
export TTMEM_SHM_DIR="$tmp/no-shm"

# a dead daemon: one line, exit 1
"$ttmem" status --socket "$sock" >"$tmp/out" 2>"$tmp/err"
check "status without a daemon exits 1" $([ $? -eq 1 ]; echo $?)
[ "$(cat "$tmp/err")" = "ttmemd is not running at $sock: start it with 'ttmemd' or use 'ttmem record -- CMD'" ]
st=$?; check "status without a daemon says so in one line ($(cat "$tmp/err"))" $st
"$ttmem" dump --socket "$sock" >/dev/null 2>"$tmp/err"
check "dump without a daemon exits 1" $([ $? -eq 1 ]; echo $?)
[ "$(wc -l <"$tmp/err")" -eq 1 ]; check "dump without a daemon: one line" $?

# bad options: one line, exit 2
"$ttmemd" --log-level loud >/dev/null 2>"$tmp/err"
check "ttmemd --log-level loud exits 2" $([ $? -eq 2 ]; echo $?)
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "log-level" "$tmp/err"; check "one line about --log-level" $?
"$ttmemd" --max-clients 0 >/dev/null 2>"$tmp/err"
check "ttmemd --max-clients 0 exits 2" $([ $? -eq 2 ]; echo $?)
"$ttmemd" --bogus >/dev/null 2>"$tmp/err"
check "ttmemd --bogus exits 2" $([ $? -eq 2 ]; echo $?)
"$ttmem" status --frobnicate >/dev/null 2>"$tmp/err"
check "status --frobnicate exits 2" $([ $? -eq 2 ]; echo $?)

# the daemon detaches once it listens, with a pid file and a log next to its socket
"$ttmemd" --socket "$sock" --pid-file "$tmp/d.pid" --log-level info --arch wormhole_b0
check "ttmemd detaches and exits 0" $?
[ -s "$tmp/d.pid" ] && kill -0 "$(cat "$tmp/d.pid")"; check "pid file names a live daemon" $?
[ "$(stat -c %a "$sock")" = 600 ]; check "socket mode 0600" $?
[ "$(stat -c %a "$sock.query")" = 660 ]; check "query socket mode 0660" $?
"$ttmemd" --socket "$sock" 2>"$tmp/err"
check "a second ttmemd exits 1" $([ $? -eq 1 ]; echo $?)
grep -q "already running on $sock" "$tmp/err"; st=$?; check "a second ttmemd says why ($(cat "$tmp/err"))" $st

# two clients: one still holding buffers, one gone
TTMEM=1 TTMEM_SOCKET="$sock" "$client" --pairs 100 --leak 2 --device 1 --double-free >/dev/null
check "client 1 ran" $?
mkfifo "$tmp/hold"
TTMEM=1 TTMEM_SOCKET="$sock" "$client" --alloc-at 0x7000 --leak 3 --device 2 --double-free --hold \
    <"$tmp/hold" >"$tmp/holder.out" &
holder=$!
pids+=("$holder")
exec 7>"$tmp/hold"
for _ in $(seq 100); do grep -q ready "$tmp/holder.out" && break; sleep 0.05; done
grep -q "ready 0" "$tmp/holder.out"; check "holder is ready" $?

"$ttmem" status --socket "$sock" >"$tmp/status.txt" 2>&1
check "status exits 0" $?
grep -Eq "^ttmemd [0-9.]+, pid [0-9]+, up" "$tmp/status.txt"; check "status names the daemon" $?
grep -Eq "^Clients +1 connected, 2 sessions" "$tmp/status.txt"; check "status counts clients" $?
grep -Eq "^ +$holder +it_client +connected" "$tmp/status.txt"; check "status lists the holder by pid and name" $?
grep -Eq "leaked_at_exit +2 " "$tmp/status.txt"; check "status shows the first client's leaks" $?

"$ttmem" status --json --socket "$sock" >"$tmp/status.json"
check "status --json exits 0" $?
python3 - "$tmp/status.json" "$holder" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
holder = int(sys.argv[2])
assert s["schema"] == "ttmem.status" and s["schema_version"] == 2, s["schema"]
d = s["daemon"]
assert d["clients_connected"] == 1 and d["clients_total"] == 2, d
assert d["dropped"] == 0 and d["events"] == 205 + 7, d
assert s["totals"]["allocs"] == 103 + 5, s["totals"]
assert s["totals"]["class_count"]["leaked_at_exit"] == 2
assert s["totals"]["class_count"]["double_free"] == 2
procs = {p["pid"]: p for p in s["processes"]}
h = procs[holder]
assert h["name"] == "it_client" and h["connected"] and h["state"] == "connected", h
assert h["bytes"]["DRAM"] == 4096 and h["bytes"]["L1"] == 3 * 1024, h["bytes"]
devs = {d["device"]: d for d in s["devices"]}
assert devs[2]["memtypes"]["DRAM"]["live_bytes"] == 4096, devs[2]
assert devs[2]["capacity"]["DRAM"] == 12 << 30, devs[2]  # --arch wormhole_b0
assert devs[1]["memtypes"]["DRAM"]["peak_bytes"] == 100 * 4096, devs[1]
PY
check "status --json has the right numbers" $?

"$ttmem" dump --socket "$sock" >"$tmp/dump.txt"
check "dump exits 0" $?
grep -q "^Live buffers: 4" "$tmp/dump.txt"; check "dump counts live buffers" $?
grep -Eq "^device 2: 4 buffers" "$tmp/dump.txt"; check "dump groups by device" $?
grep -Eq "^  L1: 3 buffers, 3.00 KiB" "$tmp/dump.txt"; check "dump groups by type" $?
grep -Eq "^    pid $holder \(it_client\): 1 buffers, 4.00 KiB" "$tmp/dump.txt"; check "dump groups by process" $?
grep -Eq "^      0x7000 " "$tmp/dump.txt"; check "dump lists the buffer" $?
"$ttmem" dump --json --socket "$sock" >"$tmp/dump.json"
python3 - "$tmp/dump.json" "$holder" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["schema"] == "ttmem.dump" and d["live_total"] == 4 and d["listed"] == 4
dev = d["devices"][0]
assert dev["device"] == 2 and dev["count"] == 4
types = {m["memtype"]: m for m in dev["memtypes"]}
dram = types["DRAM"]["processes"][0]
assert dram["pid"] == int(sys.argv[2]) and dram["buffers"][0]["addr"] == "0x7000"
assert dram["buffers"][0]["size"] == 4096
PY
check "dump --json groups device > type > process" $?
# issue 14, part R: the status and dump documents say when, where and by which ttmem they were
# made (docs/REPORT_SCHEMA.md, "made"); neither is a command's run
SOURCE_DATE_EPOCH=1700000000 "$ttmem" status --json --socket "$sock" >"$tmp/status_made.json"
SOURCE_DATE_EPOCH=1700000000 "$ttmem" dump --json --socket "$sock" >"$tmp/dump_made.json"
python3 - "$tmp/status_made.json" "$tmp/dump_made.json" "$("$ttmem" --version)" <<'PY'
import json, socket, sys
for path in sys.argv[1:3]:
    m = json.load(open(path))["made"]
    assert m == {"time": "2023-11-14T22:13:20Z", "time_ns": 1700000000 * 10**9,
                 "host": socket.gethostname(), "ttmem_version": sys.argv[3].split()[1],
                 "command": None, "exit_status": None}, (path, m)
PY
check "status --json and dump --json carry made" $?

# the holder goes: its buffers are leaked_at_exit
echo done >&7
exec 7>&-
wait "$holder"
for _ in $(seq 100); do
    "$ttmem" status --json --socket "$sock" >"$tmp/s2.json" 2>/dev/null
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s['daemon']['clients_connected'])" "$tmp/s2.json" && break
    sleep 0.05
done
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['totals']['class_count']['leaked_at_exit']==6; assert s['totals']['live_records']==0" "$tmp/s2.json"
check "the holder's 4 buffers are leaked at exit and reclaimed" $?

# SIGTERM: a clean stop, a summary per class, files removed
dpid=$(cat "$tmp/d.pid")
kill -TERM "$dpid"
for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$dpid" 2>/dev/null; check "SIGTERM stops the daemon" $?
[ ! -e "$sock" ] && [ ! -e "$sock.query" ] && [ ! -e "$tmp/d.pid" ]; check "sockets and pid file removed" $?
grep -q "summary: leaked_at_exit" "$tmp/ttmemd.log"; check "the log has a summary line per class" $?
[ "$(grep -c "first double_free" "$tmp/ttmemd.log")" -eq 1 ] && grep -q "summary: double_free *2 " "$tmp/ttmemd.log"
check "diagnosis classes are logged when they first appear, not per event" $?

# the README's plain `ttmemd` on a fresh host (item 19): no option, an empty runtime directory;
# the daemon creates its directory before its log, detaches, and is found by a plain
# `ttmem status` with the same environment
fresh="$tmp/fresh"
mkdir -p "$fresh/home" "$fresh/xdg" "$fresh/tmp"
chmod 700 "$fresh/xdg"
fenv=(env -u TTMEM_SOCKET HOME="$fresh/home" XDG_RUNTIME_DIR="$fresh/xdg" TMPDIR="$fresh/tmp"
      TTMEM_SYSTEM_DIR="$fresh/no-system")
fsock="$fresh/xdg/ttmem/ttmemd.sock"
"${fenv[@]}" "$ttmemd" >"$tmp/fresh.out" 2>"$tmp/fresh.err"
st=$?; check "plain ttmemd on a fresh host exits 0 ($(head -c 300 "$tmp/fresh.err"))" $st
[ ! -s "$tmp/fresh.err" ]; check "plain ttmemd prints nothing" $?
for _ in $(seq 200); do [ -S "$fsock" ] && break; sleep 0.05; done
[ -S "$fsock" ]; check "the detached daemon listens at the default socket" $?
[ "$(stat -c %a "$fresh/xdg/ttmem")" = 700 ]; check "its directory is created 0700" $?
"${fenv[@]}" "$ttmem" status >"$tmp/fresh.status" 2>&1
st=$?; check "plain ttmem status finds it ($(head -c 300 "$tmp/fresh.status"))" $st
fpid=$(sed -nE 's/^ttmemd [0-9.]+, pid ([0-9]+),.*/\1/p' "$tmp/fresh.status")
[ -n "$fpid" ] && pids+=("$fpid")
[ -n "$fpid" ] && [ "$fpid" = "$(tr -d '\n' <"$fsock.lock")" ]; check "status names the daemon's pid ($fpid)" $?
[ -n "$fpid" ] && kill -TERM "$fpid"
for _ in $(seq 200); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$fpid" 2>/dev/null; check "the detached daemon stops on SIGTERM to its pid" $?
grep -q "listening on $fsock" "$fresh/xdg/ttmem/ttmemd.log"; check "it logged to ttmemd.log next to its socket" $?
[ ! -e "$fsock" ]; check "its socket is removed" $?
# a planted link at that log: one line (not two), exit 1, the target untouched
echo precious >"$tmp/precious"
rm -f "$fresh/xdg/ttmem/ttmemd.log"
ln -s "$tmp/precious" "$fresh/xdg/ttmem/ttmemd.log"
"${fenv[@]}" "$ttmemd" >/dev/null 2>"$tmp/fresh.err"
check "ttmemd over a planted log link exits 1" $([ $? -eq 1 ]; echo $?)
[ "$(wc -l <"$tmp/fresh.err")" -eq 1 ] && grep -q "cannot open log file .*symbolic link" "$tmp/fresh.err"
st=$?; check "and says so in one line ($(cat "$tmp/fresh.err"))" $st
[ "$(cat "$tmp/precious")" = precious ]; check "the link's target is untouched" $?

echo "daemon.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
