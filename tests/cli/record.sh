#!/usr/bin/env bash
# ttmem record and ttmem demo from the outside: a program that leaks 3 buffers and double-frees
# 1 is reported with exactly those findings and record returns its exit status; signals reach
# the program; a program killed by a signal gives 128+N; bad input gets one clear line; the
# private daemon and its directory are gone afterwards.
set -u
build=$1
ttmem="$build/ttmem"
leaker="$build/tests/it_leaker"
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-rec.XXXXXX)
priv="$tmp/priv" # TMPDIR of the commands under test: their private directories land here
mkdir "$priv"
bg=""
cleanup() {
    [ -n "$bg" ] && kill -9 "$bg" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
no_leftovers() { [ -z "$(ls -A "$priv")" ]; }

TMPDIR="$priv" "$ttmem" record -- "$leaker" >"$tmp/out" 2>"$tmp/err"
check "record returns the program's status 3 (got $?)" $([ $? -eq 3 ]; echo $?)
grep -q "^it_leaker: 5 allocated" "$tmp/out"; check "the program's output comes through" $?
grep -Eq "^Leaks +3 buffers, 1.06 MiB still allocated at process exit" "$tmp/out"
check "record reports the 3 leaks" $?
grep -Eq "^! double_free +1 " "$tmp/out"; check "record reports the double free" $?
grep -Eq "^Unmatched +1 frees on 1 addresses: 0 unknown, 0 excess, 1 double" "$tmp/out"
check "the double free is the only unmatched free" $?
[ "$(grep -Ec "^! " "$tmp/out")" -eq 2 ]; st=$?; check "exactly two kinds of findings ($(grep -E '^! ' "$tmp/out" | tr '\n' ' '))" $st
grep -Eq "^Transport +8 events from 1 process through the ring; 0 waited for room, 0 dropped: nothing was lost" "$tmp/out"
check "record says nothing was lost" $?
[ ! -s "$tmp/err" ]; st=$?; check "record writes nothing on stderr ($(head -c 200 "$tmp/err"))" $st
no_leftovers; check "the private directory is removed" $?
tail -n 1 "$tmp/out" | grep -Eqx "Made {8}[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z on $(hostname) by $("$ttmem" --version): '$leaker' exited with status 3"
st=$?; check "the text report ends saying when, where and what ran ($(tail -n 1 "$tmp/out"))" $st
SOURCE_DATE_EPOCH=1700000000 TMPDIR="$priv" "$ttmem" record -- sh -c 'exit 5' >"$tmp/out5" 2>/dev/null
[ "$(tail -n 1 "$tmp/out5")" = "Made        2023-11-14T22:13:20Z on $(hostname) by $("$ttmem" --version): 'sh -c exit 5' exited with status 5" ]
st=$?; check "... at SOURCE_DATE_EPOCH's time, with the status ($(tail -n 1 "$tmp/out5"))" $st

TMPDIR="$priv" "$ttmem" record -o "$tmp/r.json" -- "$leaker" >"$tmp/out" 2>"$tmp/err"
check "record -o returns 3" $([ $? -eq 3 ]; echo $?)
grep -q "report written to $tmp/r.json" "$tmp/err"; check "record -o says where" $?
python3 - "$tmp/r.json" "$leaker" "$("$ttmem" --version)" <<'PY'
import json, socket, sys, time
r = json.load(open(sys.argv[1]))
assert r["schema"] == "ttmem.report", r["schema"]
# the report stands alone: when, where, by which ttmem, what ran and how it ended
m = r["made"]
assert m["command"] == sys.argv[2] and m["exit_status"] == 3, m
assert m["host"] == socket.gethostname(), m
assert "ttmem " + m["ttmem_version"] == sys.argv[3], (m, sys.argv[3])
assert abs(m["time_ns"] / 1e9 - time.time()) < 300, m
assert m["time"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["time_ns"] // 10**9)), m
c = {k: v["count"] for k, v in r["classes"].items()}
assert c["alloc_ok"] == 5 and c["free_ok"] == 2, c
assert c["double_free"] == 1 and c["leaked_at_exit"] == 3, c
others = {k: v for k, v in c.items() if v and k not in ("alloc_ok", "free_ok", "double_free", "leaked_at_exit")}
assert not others, others
assert r["leaked_count"] == 3 and len(r["leaks"]) == 3, r["leaks"]
assert sorted(l["addr"] for l in r["leaks"]) == ["0x300000", "0x400000", "0x500000"]
assert r["leaked_bytes"] == (1 << 20) + 65536 + 2048, r["leaked_bytes"]
assert r["totals"]["live_records"] == 0
PY
check "record -o JSON has exactly the findings" $?

TMPDIR="$priv" "$ttmem" record --json -- sh -c "exec '$leaker' >/dev/null" >"$tmp/r2.json"
check "record --json returns 3" $([ $? -eq 3 ]; echo $?)
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['classes']['leaked_at_exit']['count']==3" "$tmp/r2.json"
check "record --json prints the JSON report" $?
python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['made']; assert m['exit_status']==3 and m['command']==sys.argv[2], m" \
    "$tmp/r2.json" "sh -c exec '$leaker' >/dev/null"
check "record --json says the command and its exit status" $?
# SOURCE_DATE_EPOCH makes the time reproducible; a document that is no command's run has none
SOURCE_DATE_EPOCH=1700000000 "$ttmem" simulate --scenario mesh2 --json >"$tmp/sim.json"
python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['made']; assert m['time']=='2023-11-14T22:13:20Z' and m['time_ns']==1700000000*10**9 and m['command'] is None and m['exit_status'] is None, m" "$tmp/sim.json"
check "SOURCE_DATE_EPOCH sets made.time; simulate has no command or exit status" $?

# exit statuses and bad input
TMPDIR="$priv" "$ttmem" record -- sh -c 'kill -9 $$' >/dev/null 2>&1
check "a program killed by SIGKILL gives 137" $([ $? -eq 137 ]; echo $?)
TMPDIR="$priv" "$ttmem" record -- sh -c 'exit 0' >/dev/null 2>&1
check "a program that succeeds gives 0" $?
TMPDIR="$priv" "$ttmem" record -- /nonexistent/program >/dev/null 2>"$tmp/err"
check "a missing program gives 127" $([ $? -eq 127 ]; echo $?)
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "cannot run '/nonexistent/program'" "$tmp/err"
st=$?; check "a missing program: one clear line ($(cat "$tmp/err"))" $st
"$ttmem" record >/dev/null 2>"$tmp/err"
check "record without a command exits 2" $([ $? -eq 2 ]; echo $?)
[ "$(wc -l <"$tmp/err")" -eq 1 ]; check "record without a command: one line" $?
# an output that cannot be written is said before the command runs: one line, 2, not run
for bad in /nonexistent/dir/r.json "$tmp" /nonexistent/dir/run.ttmem; do
    rm -f "$tmp/ran"
    TMPDIR="$priv" "$ttmem" record -o "$bad" -- touch "$tmp/ran" >/dev/null 2>"$tmp/err"
    check "record -o $bad exits 2 (got $?)" $([ $? -eq 2 ]; echo $?)
    [ ! -e "$tmp/ran" ]; check "record -o $bad: the command never ran" $?
    [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "cannot write the .*'$bad'" "$tmp/err"
    st=$?; check "record -o $bad: one line naming it ($(cat "$tmp/err"))" $st
done
# an earlier report is kept whole until the new one replaces it, and a new file that gets no
# report (the command cannot be run) is not left behind
printf 'old report\n' >"$tmp/keep.json"
TMPDIR="$priv" "$ttmem" record -o "$tmp/keep.json" -- /nonexistent/program >/dev/null 2>&1
grep -qx "old report" "$tmp/keep.json"; check "a failed run leaves the earlier report whole" $?
TMPDIR="$priv" "$ttmem" record -o "$tmp/new.json" -- /nonexistent/program >/dev/null 2>&1
[ ! -e "$tmp/new.json" ]; check "a failed run leaves no empty report behind" $?
TMPDIR="$priv" "$ttmem" record -o "$tmp/keep.json" -- true >/dev/null 2>&1
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['schema']=='ttmem.report'" \
    "$tmp/keep.json"
check "a new report replaces the earlier one entirely" $?
no_leftovers; check "no private directory left behind" $?

# SIGTERM sent to ttmem reaches the program
TMPDIR="$priv" "$ttmem" record -- sleep 30 >/dev/null 2>&1 &
bg=$!
# ttmem forwards signals once the program runs: wait until ttmem (not the shell that forks it,
# which may catch SIGTERM itself until it execs) catches SIGTERM (bit 14 of SigCgt), not for a
# while
catches_term() {
    local mask
    [ "$(cat "/proc/$bg/comm" 2>/dev/null)" = ttmem ] || return 1
    mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$bg/status" 2>/dev/null)
    [ -n "$mask" ] && [ $(((16#$mask >> 14) & 1)) -eq 1 ]
}
for _ in $(seq 400); do catches_term && break; sleep 0.05; done
catches_term; check "ttmem record forwards SIGTERM once the program runs" $?
kill -TERM "$bg"
wait "$bg"
rc=$?
bg=""
# 143, not 0: the program died of the SIGTERM instead of finishing its 30 s
check "SIGTERM reaches the program: 143 (got $rc)" $([ "$rc" -eq 143 ]; echo $?)
no_leftovers; check "no private directory left after a signal" $?

# the demo: simulated processes through the real daemon, one killed mid-run
TMPDIR="$priv" "$ttmem" demo >"$tmp/demo.txt" 2>"$tmp/demo.err"
st=$?; check "ttmem demo exits 0 ($(head -c 300 "$tmp/demo.err"))" $st
grep -Eq "^Killed +pid [0-9]+ died by SIGKILL after 30,000 events" "$tmp/demo.txt"
check "the demo kills one process after 30,000 events" $?
grep -Eq "^! leaked_at_exit " "$tmp/demo.txt"; check "the demo reports leaks at exit" $?
grep -Eq "^Transport .*3 processes.*nothing was lost" "$tmp/demo.txt"; check "the demo lost nothing" $?
no_leftovers; check "the demo leaves nothing behind" $?

echo "record.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
