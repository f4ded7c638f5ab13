#!/usr/bin/env bash
# Issue 13: `ttmem analyze-log` on the prototype's log format attributes the same causes as the
# live legacy socket for the same stream. One stream with MeshBuffers on 8 devices, a pool
# released twice, an excess storm and pre-tracking frees, from three processes
# (tests/cli/lib/poc_stream.py), goes to a real ttmemd's legacy socket with --poc-log; the
# daemon's `causes` (`ttmem status --json`, taken while the processes still run) must equal
# those of `ttmem analyze-log --json` of the daemon's log, field by field, except what is said in
# time (tests/cli/lib/causes_same.py); the log's addresses keep their decimal form; and the
# stream's causes are all there, final, with the senders' pids.
set -u
build=$1
src=$2
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
. "$(dirname "$0")/lib/check.sh"
. "$(dirname "$0")/lib/poc_daemon.sh"
tmp=$(mktemp -d /tmp/ttmem-causes.XXXXXX)
dpid=
cleanup() {
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

for seed in 1 2 3; do
    # --no-state: a fresh registry for each seed (the state a daemon keeps across restarts
    # would carry the previous seed's history into this run, which this log does not have)
    start_daemon "$tmp/d$seed.log" --poc-log --no-state || { check "seed $seed: daemon" 1; continue; }
    timeout 120 python3 "$src/tests/cli/lib/poc_stream.py" "$tmp/p.sock" "$seed" -- \
        sh -c "\"$ttmem\" status --json --socket \"$tmp/d.sock\" >\"$tmp/live$seed.json\"" \
        >"$tmp/sent$seed.json"
    check "seed $seed: the stream went through the legacy socket, status read while live" $?
    stop_daemon; check "seed $seed: the daemon stops cleanly" $?
    "$ttmem" analyze-log --json "$tmp/d$seed.log" >"$tmp/log$seed.json" 2>"$tmp/log$seed.err"
    check "seed $seed: analyze-log reads the daemon's log" $?
    "$ttmem" analyze-log "$tmp/d$seed.log" >"$tmp/log$seed.txt" 2>/dev/null
    check "seed $seed: analyze-log's text report" $?
    python3 "$src/tests/cli/lib/causes_same.py" "$tmp/live$seed.json" "$tmp/log$seed.json"
    check "seed $seed: analyze-log's causes equal the live daemon's" $?
    python3 - "$tmp/sent$seed.json" "$tmp/live$seed.json" "$tmp/log$seed.json" <<'PY'
import json, sys

sent = json.load(open(sys.argv[1]))
live = json.load(open(sys.argv[2]))
log = json.load(open(sys.argv[3]))
bad = []
# the stream is what it says: every cause is there, and every unmatched free has one
by = {c["cause"]: c for c in log["causes"]}
for cause in ("mesh_multiplicity", "double_release", "excess_storm", "pre_tracking"):
    if by.get(cause, {}).get("frees", 0) == 0:
        bad.append("no %s in the log's causes" % cause)
strays = sent["mesh_frees"] + sent["double_release_frees"] + sent["storm_frees"] + sent["pre_tracking_frees"]
got = sum(c["frees"] for c in log["causes"])
if got != strays:
    bad.append("the causes hold %d frees, the stream sent %d unmatched ones" % (got, strays))
pend = [c["cause"] for c in log["causes"] + live["causes"] if c.get("pending", 0)]
if pend or log["causes_info"].get("pending") or live["causes_info"].get("pending"):
    bad.append("frees still provisional after the tail: %s" % pend)
pids = set(p for c in log["causes"] for p in c["pids"])
if not pids or not pids <= set(sent["pids"]):
    bad.append("pids: the log's causes name %s, the stream was sent by %s" % (sorted(pids), sent["pids"]))
# the offenders of the log's report keep the decimal form too
wrong = [u["addr"] for u in log.get("unmatched", []) if u.get("addr_dec") is not True]
if wrong or not log.get("unmatched"):
    bad.append("log: unmatched addresses without addr_dec: %s" % wrong)
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
    check "seed $seed: the stream's causes are all there, final, with the senders' pids" $?
    # the log wrote 0x2000000 as 33554432: the text report shows both forms
    [ "$(grep -c "0x2000000 (33554432)" "$tmp/log$seed.txt")" -ge 2 ]
    check "seed $seed: the storm's address as the log wrote it, beside the hex (causes and offenders)" $?
done

echo "poc_causes.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
