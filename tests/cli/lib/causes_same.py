#!/usr/bin/env python3
"""causes_same.py LIVE.json LOG.json — the causes of unmatched frees that a live ttmemd reported
(`ttmem status --json`) equal those `ttmem analyze-log --json` found in the daemon's --poc-log
output for the same stream (docs/COMPAT.md section 3, "The same causes as live"), field by
field and in order, `causes_info` too, except what is said in time: live it is the daemon's
clock, in a log the line numbers (first_ts, last_ts, period_ns, a storm's `regular`, which is
the spacing's in time when there are times, and the evidence words that say them). addr_dec is
checked apart: the socket carries numbers (false live), `--poc-log` writes decimal (true in the
log). Prints what differs and exits 1; exits 0 when they are the same. For the tests of
tests/cli (poc.sh, poc_causes.sh)."""
import json
import sys

TIMES = ("first_ts", "last_ts", "period_ns", "regular", "evidence")


def norm(causes, want_dec, where, bad):
    out = []
    for c in causes:
        c = {k: v for k, v in c.items() if k not in TIMES}
        inst = []
        for i in c.get("instances", []):
            if i.get("addr_dec") is not want_dec:
                bad.append("%s: %s instance %s has addr_dec %r" %
                           (where, c["cause"], i.get("addr"), i.get("addr_dec")))
            inst.append({k: v for k, v in i.items() if k not in TIMES + ("addr_dec",)})
        c["instances"] = inst
        out.append(c)
    return out


def main():
    if len(sys.argv) != 3:
        print("usage: causes_same.py LIVE.json LOG.json", file=sys.stderr)
        return 2
    live = json.load(open(sys.argv[1]))
    log = json.load(open(sys.argv[2]))
    for name, doc in (("live", live), ("log", log)):
        if "causes" not in doc or "causes_info" not in doc:
            print("%s: no causes in the JSON (keys: %s)" % (name, ", ".join(sorted(doc))))
            return 1
    bad = []
    a = norm(live["causes"], False, "live", bad)
    b = norm(log["causes"], True, "log", bad)
    if a != b:
        bad.append("causes differ:\n  live %s\n  log  %s" %
                   (json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)))
    if live["causes_info"] != log["causes_info"]:
        bad.append("causes_info differ: live %s, log %s" % (live["causes_info"], log["causes_info"]))
    if bad:
        print("\n".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
