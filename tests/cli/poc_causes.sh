#!/usr/bin/env bash
# Issue 13: `ttmem analyze-log` on the prototype's log format attributes the same causes as the
# live legacy socket for the same stream. One stream with MeshBuffers on 8 devices, a pool
# released twice, an excess storm and pre-tracking frees, from three processes
# (tests/cli/lib/poc_stream.py), goes to a real ttmemd's legacy socket with --poc-log; the
# daemon's `causes` (`ttmem status --json`, taken while the processes still run) must equal
# those of `ttmem analyze-log --json` of the daemon's log, field by field, except the fields that
# are times (the daemon's clock live, line numbers in a log: first_ts, last_ts, period_ns, a
# storm's `regular`, which is the spacing's in time when there are times, and the evidence
# words that say them) and addr_dec (the log wrote the addresses in decimal, the
# socket carries numbers: the log's instances must say so, the live ones must not).
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
    start_daemon "$tmp/d$seed.log" --poc-log || { check "seed $seed: daemon" 1; continue; }
    timeout 120 python3 "$src/tests/cli/lib/poc_stream.py" "$tmp/p.sock" "$seed" -- \
        sh -c "\"$ttmem\" status --json --socket \"$tmp/d.sock\" >\"$tmp/live$seed.json\"" \
        >"$tmp/sent$seed.json"
    check "seed $seed: the stream went through the legacy socket, status read while live" $?
    stop_daemon; check "seed $seed: the daemon stops cleanly" $?
    "$ttmem" analyze-log --json "$tmp/d$seed.log" >"$tmp/log$seed.json" 2>"$tmp/log$seed.err"
    check "seed $seed: analyze-log reads the daemon's log" $?
    "$ttmem" analyze-log "$tmp/d$seed.log" >"$tmp/log$seed.txt" 2>/dev/null
    check "seed $seed: analyze-log's text report" $?
    python3 - "$tmp/sent$seed.json" "$tmp/live$seed.json" "$tmp/log$seed.json" <<'PY'
import json, sys

sent = json.load(open(sys.argv[1]))
live = json.load(open(sys.argv[2]))
log = json.load(open(sys.argv[3]))
bad = []
TIMES = ("first_ts", "last_ts", "period_ns", "regular", "evidence")


def norm(causes, want_dec, where):
    out = []
    for c in causes:
        c = {k: v for k, v in c.items() if k not in TIMES}
        inst = []
        for i in c.get("instances", []):
            if i.get("addr_dec") is not want_dec:
                bad.append("%s: %s instance %s has addr_dec %r" % (where, c["cause"], i.get("addr"), i.get("addr_dec")))
            inst.append({k: v for k, v in i.items() if k not in TIMES + ("addr_dec",)})
        c["instances"] = inst
        out.append(c)
    return out


for name, doc in (("live", live), ("log", log)):
    if "causes" not in doc or "causes_info" not in doc:
        print("%s: no causes in the JSON (keys: %s)" % (name, ", ".join(sorted(doc))))
        sys.exit(1)
a = norm(live["causes"], False, "live")
b = norm(log["causes"], True, "log")
if a != b:
    bad.append("causes differ:\n  live %s\n  log  %s" % (json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)))
if live["causes_info"] != log["causes_info"]:
    bad.append("causes_info differ: live %s, log %s" % (live["causes_info"], log["causes_info"]))
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
if sorted(live["causes"][0]["pids"]) != sorted(log["causes"][0]["pids"]) or not set(log["causes"][0]["pids"]) <= set(sent["pids"]):
    bad.append("pids: live %s, log %s, sent by %s" % (live["causes"][0]["pids"], log["causes"][0]["pids"], sent["pids"]))
# the offenders of the log's report keep the decimal form too
wrong = [u["addr"] for u in log.get("unmatched", []) if u.get("addr_dec") is not True]
if wrong or not log.get("unmatched"):
    bad.append("log: unmatched addresses without addr_dec: %s" % wrong)
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
    check "seed $seed: analyze-log's causes equal the live daemon's" $?
    # the log wrote 0x2000000 as 33554432: the text report shows both forms
    [ "$(grep -c "0x2000000 (33554432)" "$tmp/log$seed.txt")" -ge 2 ]
    check "seed $seed: the storm's address as the log wrote it, beside the hex (causes and offenders)" $?
done

echo "poc_causes.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
