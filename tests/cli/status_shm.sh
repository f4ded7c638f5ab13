#!/usr/bin/env bash
# TT-Metal's shared-memory regions in `ttmem status`: regions written by a test writer
# (tests/integration/shm_writer.py) in every layout, shown with and without a daemon, as text
# and JSON; truncated, bad-version and not-ready regions reported as invalid in one line each;
# a region rewritten while status reads it neither crashes it nor is misreported; --reap clears
# the ghosts, and says so in one line when it may not.
set -u
build=$1
src=$2
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
writer="$src/tests/integration/shm_writer.py"
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-shm.XXXXXX)
chmod 755 "$tmp" # the --reap check runs as another user
dpid=
wpid=
cleanup() {
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    [ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
sock="$tmp/none.sock"
mkdir "$tmp/empty" "$tmp/r" "$tmp/bad" "$tmp/rw"

# nothing at all: the one line, exit 1, as without regions
"$ttmem" status --socket "$sock" --shm-dir "$tmp/empty" >"$tmp/out" 2>"$tmp/err"
check "no daemon and no regions: exit 1" $([ $? -eq 1 ]; echo $?)
[ "$(cat "$tmp/err")" = "ttmemd is not running at $sock: start it with 'ttmemd' or use 'ttmem record -- CMD'" ] && [ ! -s "$tmp/out" ]
check "no daemon and no regions: one line" $?

# every layout, no daemon
sleep 0 & ghost=$!
wait "$ghost"
python3 "$writer" layouts "$tmp/r" $$ "$ghost"
"$ttmem" status --socket "$sock" --shm-dir "$tmp/r" >"$tmp/out" 2>"$tmp/err"
check "no daemon, regions: exit 0" $?
grep -q "ttmemd is not running at $sock" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]
check "no daemon, regions: the one-line note" $?
grep -q "^TT-Metal shared memory in $tmp/r (counters only" "$tmp/out"; check "the section says counters only" $?
for v in 1 2 3 4; do
    grep -Eq "^  tt_device_10${v}_memory: layout v$v, device 3, 2 processes attached \(1 ghost\)" "$tmp/out"
    check "layout v$v listed" $?
done
[ "$(grep -c "ghost: the process is gone" "$tmp/out")" -eq 4 ]; check "ghosts marked" $?
grep -Eq "^ +$$ +python3 +1\.95 KiB +200 B" "$tmp/out"; check "a live process's counters" $?
grep -Eq "^ +1 \(remote\) +1000 B" "$tmp/out"; check "a remote chip's counters" $?
[ "$(grep -c "KERNEL" "$tmp/out")" -eq 2 ]; check "KERNEL only for the older layout" $?

"$ttmem" status --json --socket "$sock" --shm-dir "$tmp/r" >"$tmp/s.json" 2>/dev/null
check "status --json without a daemon: exit 0" $?
python3 - "$tmp/s.json" $$ "$ghost" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
live, ghost = int(sys.argv[2]), int(sys.argv[3])
assert s["schema"] == "ttmem.status" and s["daemon"] is None and s["daemon_error"], s.get("daemon")
shm = s["shm"]
assert shm["counters_only"] is True
regions = {r["id"]: r for r in shm["regions"]}
assert sorted(regions) == [101, 102, 103, 104], sorted(regions)
for v in (1, 2, 3, 4):
    r = regions[100 + v]
    assert r["state"] == "ok" and r["version"] == v and r["device_id"] == 3 and r["ghosts"] == 1, r
    t = r["totals"]
    assert (t["DRAM"], t["L1"], t["L1_SMALL"], t["TRACE"], t["CB"]) == (3000, 300, 30, 1000, 7), t
    assert t["KERNEL"] == (5 if v == 1 else None), t
    assert r["dram_usage"] == 4000 and r["l1_usage"] == 337 + (5 if v == 1 else 0), r
    chips = {c["chip_id"]: c for c in r["chips"]}
    assert chips[1]["remote"] and chips[1]["bytes"]["DRAM"] == 1000, chips
    procs = {p["pid"]: p for p in r["processes"]}
    assert procs[live]["alive"] and not procs[live]["ghost"] and procs[live]["bytes"]["DRAM"] == 2000
    assert procs[ghost]["ghost"] and procs[ghost]["name"] == "ghost" and procs[ghost]["bytes"]["TRACE"] == 1000
PY
check "status --json: the shm member" $?

# bad regions: one line each, why; nothing else
python3 "$writer" bad "$tmp/bad"
"$ttmem" status --socket "$sock" --shm-dir "$tmp/bad" >"$tmp/out" 2>/dev/null
check "bad regions: exit 0" $?
grep -q "^  tt_device_1_memory: invalid, not shown: .*truncated" "$tmp/out"; check "truncated region: invalid" $?
grep -q "^  tt_device_2_memory: invalid, not shown: unsupported layout version 9" "$tmp/out"; check "bad version: invalid" $?
grep -q "^  tt_device_3_memory: not ready: being initialised" "$tmp/out"; check "v4 not ready" $?
grep -q "^  tt_device_4_memory: invalid, not shown: 0 bytes" "$tmp/out"; check "empty region: invalid" $?
[ "$(wc -l <"$tmp/out")" -eq 5 ]; st=$?; check "one line per bad region ($(wc -l <"$tmp/out") lines)" $st
"$ttmem" status --json --socket "$sock" --shm-dir "$tmp/bad" 2>/dev/null | python3 -c "
import json, sys
r = json.load(sys.stdin)['shm']['regions']
assert [x['state'] for x in r] == ['invalid', 'invalid', 'not_ready', 'invalid'], r
assert all(x['why'] and 'totals' not in x for x in r), r"
check "bad regions in JSON: state and why, no counters" $?

# a region rewritten while status reads it
# the writer rewrites until stopped; the reader takes a fixed number of looks (not a fixed
# time, so a slow machine or a sanitizer build reads as often as a fast one)
timeout 120 python3 "$writer" rewrite "$tmp/rw" 100 &
wpid=$!
for _ in $(seq 250); do [ -e "$tmp/rw/tt_device_9_memory" ] && break; sleep 0.02; done
bad=0
ok=0
while kill -0 "$wpid" 2>/dev/null && [ $((ok + bad)) -lt 20 ]; do
    "$ttmem" status --json --socket "$sock" --shm-dir "$tmp/rw" >"$tmp/rw.json" 2>/dev/null
    rc=$?
    [ $rc -le 1 ] || { echo "status exited $rc while the region was rewritten"; bad=$((bad + 1)); continue; }
    [ -s "$tmp/rw.json" ] || continue # between two writes there may be no region at all
    python3 - "$tmp/rw.json" <<'PY' || bad=$((bad + 1))
import json, sys
for r in json.load(open(sys.argv[1]))["shm"]["regions"]:
    if r["state"] == "ok":
        t = r["totals"]
        assert 1 <= r["version"] <= 4 and t["DRAM"] == 3000 and t["L1"] == 300, r
        assert len(r["processes"]) == 1 and r["processes"][0]["bytes"]["DRAM"] == 2000, r
    else:
        assert r["why"], r
PY
    "$ttmem" status --socket "$sock" --shm-dir "$tmp/rw" >/dev/null 2>&1
    [ $? -le 1 ] || bad=$((bad + 1))
    ok=$((ok + 1))
done
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
wpid=
[ "$bad" -eq 0 ] && [ "$ok" -ge 20 ]; check "a region rewritten while read: no crash, no misreport ($bad bad of $ok)" $?

# --reap: denied in one line, then done
cp -r "$tmp/r" "$tmp/r2"
chmod 755 "$tmp/r2"
chmod 644 "$tmp/r2"/*
if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$ttmem" status --reap --socket "$sock" --shm-dir "$tmp/r2" >"$tmp/out" 2>"$tmp/err"
else
    chmod 444 "$tmp/r2"/*
    "$ttmem" status --reap --socket "$sock" --shm-dir "$tmp/r2" >"$tmp/out" 2>"$tmp/err"
fi
check "--reap without write access: exit 1" $([ $? -eq 1 ]; echo $?)
[ "$(grep -c "no write access" "$tmp/err")" -eq 1 ]; st=$?; check "--reap without write access: one line ($(cat "$tmp/err"))" $st
grep -q "^Reaped 0 ghost processes in 0 regions" "$tmp/out"; check "--reap without write access reaps nothing" $?
chmod 600 "$tmp/r2"/*
"$ttmem" status --reap --socket "$sock" --shm-dir "$tmp/r2" >"$tmp/out" 2>/dev/null
check "--reap: exit 0" $?
grep -q "^Reaped 4 ghost processes in 4 regions" "$tmp/out"; check "--reap clears one ghost per region" $?
! grep -q "ghost" <(grep -v "^Reaped" "$tmp/out"); check "no ghost left after --reap" $?
"$ttmem" status --json --socket "$sock" --shm-dir "$tmp/r2" 2>/dev/null | python3 -c "
import json, sys
for r in json.load(sys.stdin)['shm']['regions']:
    assert r['ghosts'] == 0 and r['totals']['DRAM'] == 2000 and r['totals']['TRACE'] == 0, r"
check "--reap subtracted the ghosts' bytes" $?

# with a daemon: both
"$ttmemd" --foreground --socket "$tmp/d.sock" --log-file "$tmp/d.log" &
dpid=$!
for _ in $(seq 200); do [ -S "$tmp/d.sock.query" ] && break; sleep 0.02; done
TTMEM_SHM_DIR="$tmp/r" "$ttmem" status --socket "$tmp/d.sock" >"$tmp/out" 2>"$tmp/err"
check "with a daemon: exit 0" $?
grep -Eq "^ttmemd [0-9.]+, pid $dpid" "$tmp/out" && grep -q "^TT-Metal shared memory in $tmp/r" "$tmp/out" && [ ! -s "$tmp/err" ]
check "with a daemon: the daemon and the regions (\$TTMEM_SHM_DIR)" $?
"$ttmem" status --json --socket "$tmp/d.sock" --shm-dir "$tmp/empty" | python3 -c "
import json, sys
s = json.load(sys.stdin)
assert s['daemon']['pid'] == $dpid and s['shm']['regions'] == [], s['shm']"
check "with a daemon, JSON: daemon and an empty shm member" $?
"$ttmem" status --socket "$tmp/d.sock" --shm-dir "$tmp/empty" >"$tmp/out"
! grep -q "TT-Metal" "$tmp/out"; check "with a daemon and no regions: no shm section" $?
kill -TERM "$dpid"
wait "$dpid"
check "the daemon stops cleanly" $?
dpid=

echo "status_shm.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
