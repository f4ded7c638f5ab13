#!/usr/bin/env bash
# The usage history ttmemd keeps, from the outside: a real ttmemd sampling every 50 ms and a
# client whose L1 use grows in two steps (two holders of it_client); once the daemon says it
# has taken the samples of each step (its `taken` counter, polled through `ttmem top --json`),
# `ttmem top --json`'s first document carries the daemon's samples of both steps, and
# `ttmem top --once` (one frame: one sample of its own) draws graph cells from before it
# started, the lower step left of the higher. A daemon with --history-len 0 answers an empty
# history and top draws its one sample only; bad options get one clear line.
set -u
build=$1
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
client="$build/tests/it_client"
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-history.XXXXXX)
sock="$tmp/d.sock"
pids=()
dpid=""
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

start_daemon() { # ARGS...: a ttmemd on $sock, ready when its query socket exists
    rm -f "$sock" "$sock.query"
    "$ttmemd" --foreground --socket "$sock" --log-level warn "$@" 2>>"$tmp/ttmemd.log" &
    dpid=$!
    for _ in $(seq 1200); do [ -S "$sock.query" ] && return 0; sleep 0.05; done
    return 1
}
stop_daemon() {
    kill -TERM "$dpid" 2>/dev/null
    wait "$dpid" 2>/dev/null
    dpid=""
}
# history FIELD: the daemon's history figure from top --json's first document ("" when none)
history() {
    "$ttmem" top --json --socket "$sock" --shm-dir "$tmp/noshm" 2>/dev/null | python3 -c '
import json, sys
h = json.load(sys.stdin).get("history")
print("" if h is None else h[sys.argv[1]])' "$1"
}
# wait_taken N: until the daemon has taken at least N samples (up to 60 s: a hang, not a slow
# machine); prints the count reached
wait_taken() {
    local n=""
    for _ in $(seq 600); do
        n=$(history taken)
        [ -n "$n" ] && [ "$n" -ge "$1" ] && { echo "$n"; return 0; }
        sleep 0.1
    done
    echo "${n:-none}"
    return 1
}
# hold NAME ARGS...: an it_client holding what ARGS allocate, until cleanup; waits for "ready"
hold() {
    local name=$1
    shift
    mkfifo "$tmp/$name.in"
    TTMEM=1 TTMEM_SOCKET="$sock" "$client" "$@" --hold <"$tmp/$name.in" >"$tmp/$name.out" \
        2>>"$tmp/clients.err" &
    pids+=($!)
    exec {fd}>"$tmp/$name.in" # keeps the holder's stdin open
    for _ in $(seq 600); do grep -q "^ready" "$tmp/$name.out" && return 0; sleep 0.1; done
    return 1
}

# ---- bad options: one line each ------------------------------------------------------------
bad() { # description, substring, args...
    local what=$1 want=$2
    shift 2
    "$ttmemd" --foreground --socket "$tmp/bad.sock" "$@" >"$tmp/o" 2>"$tmp/e" </dev/null
    local rc=$?
    [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q -- "$want" "$tmp/e"
    check "$what" $?
}
bad "--history-interval below the tick" "history-interval must be milliseconds from 50" \
    --history-interval 10
bad "--history-interval not a number" "history-interval must be" --history-interval soon
bad "--history-len too long" "history-len must be a number of samples from 0" --history-len 99999

# ---- a history in two steps ----------------------------------------------------------------
start_daemon --history-interval 50; check "ttmemd with --history-interval 50 starts" $?
[ "$(history interval_ns)" = 50000000 ]; check "top --json: the interval is the daemon's" $?
[ "$(history capacity)" = 720 ]; check "top --json: 720 samples kept by default" $?
hold one --leak 2; check "holder 1 (2K of L1) is ready" $?
t1=$(wait_taken "$(( $(history taken) + 60 ))"); check "the daemon takes 60 samples of step 1 ($t1)" $?
hold two --leak 6; check "holder 2 (6K more of L1) is ready" $?
t2=$(wait_taken "$((t1 + 60))"); check "the daemon takes 60 samples of step 2 ($t2)" $?

"$ttmem" top --json --socket "$sock" --shm-dir "$tmp/noshm" >"$tmp/top.json" 2>"$tmp/top.err"
check "top --json exits 0" $?
python3 - "$tmp/top.json" "$t2" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))["history"]
ok = True
def need(cond, what):
    global ok
    if not cond:
        print("history:", what)
        ok = False
need(h["taken"] >= int(sys.argv[2]), "taken %d < %s" % (h["taken"], sys.argv[2]))
need(len(h["ts"]) == min(h["taken"], h["capacity"]), "ts holds %d" % len(h["ts"]))
ts = [t["ts"] for t in h["ts"]]
need(ts == sorted(ts), "times not oldest first")
# a fixed cadence: one sample per interval on average, whatever a late tick did to one gap
mean = (ts[-1] - ts[0]) / (len(ts) - 1) if len(ts) > 1 else 0
need(45e6 <= mean <= 80e6, "one sample every %.1f ms on average, not 50" % (mean / 1e6))
dev = [d for d in h["devices"] if d["device"] == 0]
need(len(dev) == 1, "device 0 not there")
l1 = [s["l1"] for s in dev[0]["samples"]] if dev else []
need(dev and dev[0]["first"] + len(l1) == len(ts), "device 0's samples do not end at the last")
need(l1.count(2048) >= 50, "step 1 (2048) in %d samples" % l1.count(2048))
need(l1.count(8192) >= 50, "step 2 (8192) in %d samples" % l1.count(8192))
need(l1 and l1.index(8192) > l1.index(2048) and l1[-1] == 8192, "the steps out of order")
sys.exit(0 if ok else 1)
PY
check "top --json: the daemon's samples of both steps, in order" $?

# One frame of top: one sample of its own, yet the graph has cells from before it started.
"$ttmem" top --once --view history --socket "$sock" --shm-dir "$tmp/noshm" --width 240 \
    >"$tmp/once.txt" 2>"$tmp/once.err"
check "top --once --view history exits 0" $?
graph() { # the cells of device 0's L1 graph in $1
    awk '/^ +0 DRAM \|/ { d = 1; next } d && /^ +L1 +\|/ { sub(/^ +L1 +\|/, ""); sub(/\|.*/, ""); print; exit }' "$1"
}
g=$(graph "$tmp/once.txt")
cells=$(printf '%s' "$g" | tr -d ' ' | wc -c)
[ "$cells" -ge 3 ]; check "top --once: $cells cells of L1 history in its first frame (the daemon's)" $?
printf '%s' "$g" | grep -Eq '[.:-=+*#]+ *@+ *$'
check "top --once: step 1 lower, left of step 2 (graph '$g')" $?

# ---- no history ------------------------------------------------------------------------------
stop_daemon
start_daemon --history-len 0; check "ttmemd with --history-len 0 starts" $?
hold three --leak 2; check "holder 3 is ready" $?
[ "$(history interval_ns)" = 0 ] && [ "$(history taken)" = 0 ]
check "top --json: an empty history (interval 0, nothing taken)" $?
"$ttmem" top --once --view history --socket "$sock" --shm-dir "$tmp/noshm" --width 240 \
    >"$tmp/none.txt" 2>&1
g=$(graph "$tmp/none.txt")
cells=$(printf '%s' "$g" | tr -d ' ' | wc -c)
[ "$cells" -eq 1 ]; check "top --once without a daemon history: its own sample only ($cells)" $?
stop_daemon
! grep -v "lost the connection\|no daemon at" "$tmp/clients.err" | grep -q .
check "the clients said nothing but the daemon's stops" $?

echo "history: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
