#!/usr/bin/env python3
"""journal_check.py SRC JOURNAL REPORT.json [EXPECT.json] [--host NAME] [--stacks N]

Checks an `analyze-log --journal` journal, read by the independent reader (journal_read.py),
against what analyze-log reported (REPORT.json, its --json document) and, when given, the log
generator's list of events (poclog_gen.py's expect.json):
  - it starts with the CONFIG chunk, then the RUN chunk = the report's "source";
  - its event records' class masks, counted bit by bit (bit numbers named from
    src/core/registry.h's TTM_CLASS_MAP), are the report's class counts; their number is the
    report's events;
  - EXPECT: the events are exactly the log's (line number as time, pid, kind, device, memtype,
    address, size), in order, and each pid gets one process start record, right after its first
    event, at that event's time;
  - --host: the header's host (else this host's name); --stacks N: N events carry a stack,
    each defined by an earlier STACKS chunk (none without).
Prints what differs and exits 1, or exits 0.
"""
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import journal_read  # noqa: E402

args = sys.argv[1:]
opt = {}
for name in ("--host", "--stacks"):
    if name in args:
        i = args.index(name)
        opt[name] = args[i + 1]
        del args[i:i + 2]
src, journal, report = args[0], args[1], json.load(open(args[2]))
expect = json.load(open(args[3])) if len(args) > 3 else None
doc = journal_read.read(journal)
recs = doc["records"]
bad = []

reg_h = open(os.path.join(src, "src/core/registry.h")).read()
body = reg_h[reg_h.index("#define TTM_CLASS_MAP"):]
body = body[:body.index("\n\n")]
names = re.findall(r'X\(\w+, \d, "(\w+)"', body)

if doc["bad_blocks"] or doc["truncated"]:
    bad.append("damage: %d bad blocks, truncated %s" % (doc["bad_blocks"], doc["truncated"]))
if len(recs) < 2 or recs[0].get("kind") != 4 or recs[1].get("kind") != 5:
    bad.append("the journal does not start with CONFIG then RUN")
elif recs[1]["text"] != report["source"]:
    bad.append("RUN %r, report source %r" % (recs[1]["text"], report["source"]))
host = opt.get("--host", socket.gethostname())
if doc["header"]["host"] != host:
    bad.append("host %r, expected %r" % (doc["header"]["host"], host))

events = [r for r in recs if r["tag"] == "event"]
classes = {}
for e in events:
    for b in range(32):
        if e["classes"] >> b & 1:
            classes[names[b]] = classes.get(names[b], 0) + 1
want = {k: v for k, v in report["totals"]["class_count"].items() if v}
if classes != want:
    bad.append("classes from the masks %s, report %s" % (classes, want))
if len(events) != report["totals"]["events"]:
    bad.append("%d event records, report %d events" % (len(events), report["totals"]["events"]))

if expect is not None:
    got = [[e["ts"], e["pid"], e["kind"], e["device"], e["memtype"], e["addr"], e["size"]]
           for e in events]
    if got != expect["events"]:
        first = next(i for i in range(min(len(got), len(expect["events"])) + 1)
                     if i >= len(got) or i >= len(expect["events"]) or got[i] != expect["events"][i])
        bad.append("events differ from the log's at #%d: journal %s, log %s" % (
            first, got[first] if first < len(got) else None,
            expect["events"][first] if first < len(expect["events"]) else None))
    procs = [(i, r) for i, r in enumerate(recs) if r["tag"] == "proc"]
    if [r["pid"] for _, r in procs] != expect["pids"]:
        bad.append("process records %s, log pids %s" % ([r["pid"] for _, r in procs], expect["pids"]))
    for i, p in procs:
        prev = recs[i - 1]
        if (p["state"] != 0 or p["name"] != "" or prev["tag"] != "event" or prev["pid"] != p["pid"]
                or p["ts"] != prev["ts"]
                or any(e["pid"] == p["pid"] for e in recs[:i - 1] if e["tag"] == "event")):
            bad.append("process record %s is not a start right after its pid's first event" % p)
            break

stacked = [i for i, r in enumerate(recs) if r["tag"] == "event" and r["stack"]]
want_stacked = int(opt.get("--stacks", 0))
if len(stacked) != want_stacked:
    bad.append("%d events with a stack, expected %d" % (len(stacked), want_stacked))
first_stacks = next((i for i, r in enumerate(recs) if r["tag"] == "chunk" and r["kind"] == 1), None)
if want_stacked and (first_stacks is None or first_stacks > stacked[0]):
    bad.append("an event uses a stack before any STACKS chunk")
if not want_stacked and first_stacks is not None:
    bad.append("a STACKS chunk without stacks")

if bad:
    print("%s: %s" % (journal, "; ".join(bad)))
    sys.exit(1)
