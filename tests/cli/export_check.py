#!/usr/bin/env python3
"""export_check.py — checks `ttmem export`'s three formats against an independent truth.

Usage:
  export_check.py synthetic TEST_EXPORT WORKDIR EXPORT_MD
      Runs `TEST_EXPORT --emit WORKDIR` (the writers fed a made-up stream, and the stream
      itself as expected.json) and compares every counter value, instant, CSV row, table row
      and documented query with what the stream says.
  export_check.py journal REPORT_JSON BASE EXPORT_MD
      Checks BASE.perfetto-trace, BASE.csv and BASE.sqlite (exports of one journal) against
      `ttmem report --json` of that journal (REPORT_JSON): the peaks and final bytes, the
      anomaly class counts, the leak groups, the breakdown by scope, the live sites.

The Perfetto trace is decoded by perfetto_decode.py's decoder (the standard library only),
the CSV by the csv module, the database by the sqlite3 module. The queries are read from
docs/EXPORT.md (every ```sql block starting with `-- query: NAME`), so the page and the test
cannot drift apart. Nothing is printed on success but one line.
"""
import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perfetto_decode  # noqa: E402  (the independent decoder)

# docs/CLASSIFICATION.md: the classes that are not findings
NOT_ANOMALIES = {"alloc_ok", "alloc_view", "free_ok", "free_view", "view_after_owner"}


class Bad(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Bad(what)


def queries(md_path):
    text = open(md_path, encoding="utf-8").read()
    out = {}
    for block in re.findall(r"```sql\n(.*?)```", text, re.S):
        m = re.match(r"-- query: (\w+)", block)
        expect(m, f"EXPORT.md: an sql block without '-- query: NAME': {block[:40]!r}")
        out[m.group(1)] = block
    for name in ("top_sites_at_peak", "leaks_by_scope", "leaks_by_site", "memory_at",
                 "alive_longer_than", "events_at", "live_by_site"):
        expect(name in out, f"EXPORT.md documents no query {name}")
    return out


def perfetto_tracks(path):
    """{(host or None, device, memtype): [(ts, value)...]}, instants [(pid, ts, name)], procs."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        tracks, records = perfetto_decode.decode(data)
    except perfetto_decode.Bad as e:
        raise Bad(f"perfetto: {e}")
    counters, instants, procs = {}, [], []
    key_of = {}
    for uuid, t in tracks.items():
        if "unit" in t:
            parent = tracks[t["parent"]]["name"]
            m = re.fullmatch(r"(?:(.*) )?device (\d+)", parent)
            expect(m and t["unit"] == perfetto_decode.UNIT_SIZE_BYTES, f"counter track {t}")
            key = (m.group(1), int(m.group(2)), t["name"])
            expect(key not in counters, f"two counter tracks for {key}")
            key_of[uuid] = key
            counters[key] = []
        elif "pid" in t:
            procs.append((t["pid"], t["process_name"]))
    for r in records:
        if r[0] == "counter":
            counters[key_of[r[1]]].append((r[2], r[3]))
        elif r[0] == "instant":
            expect("pid" in tracks[r[1]], f"an instant on a device track: {r}")
            instants.append((tracks[r[1]]["pid"], r[2], r[3]))
    return counters, instants, procs


def run_query(db, sql, **params):
    cur = db.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def live_at(buffers, ts):
    return [b for b in buffers if b["alloc_ts"] <= ts and (b["free_ts"] is None or b["free_ts"] > ts)]


def group(bufs, key):
    g = defaultdict(lambda: [0, 0])
    for b in bufs:
        g[key(b)][0] += 1
        g[key(b)][1] += b["size"]
    return g


# ---- synthetic ----------------------------------------------------------------------------------

def check_synthetic(prog, work, md):
    os.makedirs(work, exist_ok=True)
    subprocess.run([prog, "--emit", work], check=True)
    exp = json.load(open(os.path.join(work, "expected.json")))
    hosts = exp["hosts"]
    base = os.path.join(work, "synthetic")
    names = {"events": ["seq", "run", "kind", "ts", "classes", "mask", "pid", "device",
                        "memtype", "addr", "size", "obj", "flags", "stack", "scope"],
             "usage": ["run", "ts", "device", "memtype", "bytes"],
             "buffers": ["run", "name", "pid", "device", "memtype", "addr", "size", "alloc_ts",
                         "free_ts", "leaked", "site", "scope"],
             "exits": ["run", "pid", "ts", "what"], "marks": ["run", "pid", "ts", "name"]}
    ex = {k: [dict(zip(v, row)) for row in exp[k]] for k, v in names.items()}
    for b in ex["buffers"]:
        b["view"] = 0

    # Perfetto: every counter value of every (host, device, memtype), in order
    counters, instants, procs = perfetto_tracks(base + ".perfetto-trace")
    want = defaultdict(list)
    for u in ex["usage"]:
        want[(hosts[u["run"]], u["device"], u["memtype"])].append((u["ts"], u["bytes"]))
    expect(set(counters) == set(want), f"counter tracks {sorted(counters)} != {sorted(want)}")
    for k in want:
        expect(counters[k] == want[k], f"counter values of {k} differ")
    names_want = [(p, n or f"pid {p}") for _ in hosts for p, n in zip(exp["pids"], exp["names"])]
    expect(sorted(procs) == sorted(names_want), f"process tracks {procs}")
    inst_want = []
    for e in ex["events"]:
        for c in e["classes"].split("|"):
            if c and c not in NOT_ANOMALIES:
                inst_want.append((e["pid"], e["ts"],
                                  f"{c} {e['addr']:#x} on device {e['device']} {e['memtype']}"))
    for b in ex["buffers"]:
        if b["leaked"]:
            inst_want.append((b["pid"], b["free_ts"], f"leaked_at_exit {b['addr']:#x} on device"
                              f" {b['device']} {b['memtype']} ({b['size']} bytes)"))
    inst_want += [(x["pid"], x["ts"], "process exit (status 0)") for x in ex["exits"]]
    inst_want += [(m["pid"], m["ts"], f"mark {m['name']}") for m in ex["marks"]]
    expect(Counter(instants) == Counter(inst_want),
           f"instants: {len(instants)} decoded, {len(inst_want)} expected")

    # CSV: one row per event, RFC 4180 (the host has a comma and quotes)
    with open(base + ".csv", newline="", encoding="utf-8") as f:
        raw = f.read()
    expect(raw.endswith("\r\n") and "\n" not in raw.replace("\r\n", ""), "CSV rows end in CRLF")
    rows = list(csv.DictReader(raw.splitlines(True)))
    expect(len(rows) == len(ex["events"]), f"{len(rows)} CSV rows, {len(ex['events'])} events")
    for r, e in zip(rows, ex["events"]):
        got = (int(r["seq"]), int(r["run"]), r["host"], r["kind"], int(r["ts"]), r["classes"],
               int(r["mask"]), int(r["pid"]), int(r["device"]), r["memtype"], int(r["addr"], 16),
               int(r["size"]), int(r["obj"]), int(r["stack"]), int(r["scope"]))
        wnt = (e["seq"], e["run"], hosts[e["run"]], e["kind"], e["ts"], e["classes"], e["mask"],
               e["pid"], e["device"], e["memtype"], e["addr"], e["size"], e["obj"], e["stack"],
               e["scope"])
        expect(got == wnt, f"CSV row {got} != {wnt}")

    # SQLite: the tables hold the stream
    db = sqlite3.connect(base + ".sqlite")
    db.row_factory = None
    got = db.execute("SELECT seq, run, kind, ts, classes, mask, pid, device, memtype, addr, size,"
                     " obj, flags, stack, scope FROM events ORDER BY seq").fetchall()
    expect(got == [tuple(e[k] for k in names["events"]) for e in ex["events"]], "events table")
    got = db.execute("SELECT run, ts, device, memtype, bytes FROM usage ORDER BY seq").fetchall()
    expect(got == [tuple(u[k] for k in names["usage"]) for u in ex["usage"]], "usage table")
    got = db.execute("SELECT run, name, pid, device, memtype, addr, size, alloc_ts, free_ts,"
                     " leaked, site, scope FROM buffers ORDER BY id").fetchall()
    expect(got == [tuple(b[k] for k in names["buffers"]) for b in ex["buffers"]], "buffers table")
    got = db.execute("SELECT ended FROM buffers ORDER BY id").fetchall()
    expect(got == [("leaked" if b["leaked"] else "live" if b["free_ts"] is None else "freed",)
                   for b in ex["buffers"]], "buffers.ended")
    got = db.execute("SELECT run, host, name FROM processes ORDER BY run, pid").fetchall()
    expect(got == [(r, hosts[r], n) for r in range(len(hosts)) for n in exp["names"]],
           f"processes table {got}")
    got = db.execute("SELECT name FROM scopes WHERE run = 0 ORDER BY id").fetchall()
    expect(got == [("scope,one",), ("two",)], f"scopes {got}")
    got = db.execute("SELECT function, file, line FROM frames WHERE run = 1 AND stack = 1"
                     " ORDER BY position").fetchall()
    expect(got == [("alloc_weights", "model.py", 12), ("alloc_kv", None, None)], f"frames {got}")

    # every documented query against the same answer computed here
    q = queries(md)
    last_ts = dict(db.execute("SELECT run, last_ts FROM meta"))
    n = 0
    for run in range(len(hosts)):
        bufs = [b for b in ex["buffers"] if b["run"] == run]
        for dev in (0, 1):
            for mt in ("DRAM", "L1"):
                us = [u for u in ex["usage"] if (u["run"], u["device"], u["memtype"]) == (run, dev, mt)]
                peak = max(us, key=lambda u: u["bytes"])  # max() keeps the first of equals
                live = [b for b in live_at(bufs, peak["ts"]) if (b["device"], b["memtype"]) == (dev, mt)]
                g = group(live, lambda b: b["site"])
                want = sorted(((s, c, by) for s, (c, by) in g.items()),
                              key=lambda x: (-x[2], -x[1], x[0]))[:10]
                got = [(r["site"], r["buffers"], r["bytes"]) for r in
                       run_query(db, q["top_sites_at_peak"], run=run, device=dev, memtype=mt)]
                expect(got == want, f"top_sites_at_peak run {run} {dev} {mt}: {got} != {want}")
                expect(sum(x[2] for x in want) <= peak["bytes"], "the peak holds its sites")
                n += 1
        for t in sorted({u["ts"] for u in ex["usage"] if u["run"] == run})[::97]:
            cur = {}
            for u in ex["usage"]:
                if u["run"] == run and u["ts"] <= t:
                    cur[(u["device"], u["memtype"])] = u["bytes"]
            got = {(r["device"], r["memtype"]): r["bytes"] for r in
                   run_query(db, q["memory_at"], run=run, t=t)}
            expect(got == cur, f"memory_at run {run} t {t}: {got} != {cur}")
            n += 1
        for e in ex["events"][run * 1500 + 7::211]:
            want = [(x["seq"], x["kind"], x["classes"]) for x in ex["events"]
                    if (x["run"], x["device"], x["addr"]) == (run, e["device"], e["addr"])]
            got = [(r["seq"], r["kind"], r["classes"]) for r in
                   run_query(db, q["events_at"], run=run, device=e["device"], addr=e["addr"])]
            expect(got == want, f"events_at {e['addr']:#x}")
            n += 1
    leaked = [b for b in ex["buffers"] if b["leaked"]]
    expect(leaked, "the stream leaks")
    for name, key in (("leaks_by_scope", "scope"), ("leaks_by_site", "site")):
        g = group(leaked, lambda b: (b["run"], b[key]))
        got = {(r["run"], r[key]): [r["leaks"], r["bytes"]] for r in run_query(db, q[name])}
        expect(got == {k: v for k, v in g.items()}, f"{name}: {got} != {dict(g)}")
        n += 1
    got = {(r["run"], r["scope"]): r["name"] for r in run_query(db, q["leaks_by_scope"])}
    expect(got.get((0, 1)) == "scope,one" and got.get((0, 0), "none") is None, f"scope names {got}")
    for x in (0, 10**5, 10**6, 3 * 10**6):
        want = sorted(((b["run"], b["name"]) for b in ex["buffers"]
                       if (b["free_ts"] if b["free_ts"] is not None else last_ts[b["run"]])
                       - b["alloc_ts"] > x))
        got = sorted((r["run"], r["name"]) for r in run_query(db, q["alive_longer_than"], x=x))
        expect(got == want, f"alive_longer_than {x}: {len(got)} != {len(want)}")
        n += 1
    g = group([b for b in ex["buffers"] if b["free_ts"] is None], lambda b: (b["run"], b["site"]))
    got = {(r["run"], r["site"]): [r["buffers"], r["bytes"]] for r in run_query(db, q["live_by_site"])}
    expect(got == dict(g), "live_by_site")
    return (f"{sum(len(v) for v in counters.values())} counter values on {len(counters)} tracks,"
            f" {len(instants)} instants, {len(rows)} CSV rows, {n + 1} queries")


# ---- a real journal against its report ------------------------------------------------------------

def check_journal(report_path, base, md):
    rep = json.load(open(report_path))
    mem = {}  # (device, memtype) -> memstat
    for d in rep["devices"]:
        for mt, st in d["memtypes"].items():
            if st["allocs"] > 0 or st["peak_bytes"] > 0:
                mem[(d["device"], mt)] = st
    cls = rep["totals"]["class_count"]

    counters, instants, procs = perfetto_tracks(base + ".perfetto-trace")
    keys = {(dev, mt): v for (_, dev, mt), v in counters.items()}
    expect(len(keys) == len(counters), "one run: device tracks without host")
    expect(set(keys) == set(mem), f"counter tracks {sorted(keys)} != memtypes used {sorted(mem)}")
    for k, st in mem.items():
        vals = [v for _, v in keys[k]]
        expect(max(vals) == st["peak_bytes"], f"{k}: counter max {max(vals)} != peak {st['peak_bytes']}")
        expect(vals[-1] == st["live_bytes"], f"{k}: last counter {vals[-1]} != final {st['live_bytes']}")
        first_peak = next(ts for ts, v in keys[k] if v == st["peak_bytes"])
        expect(first_peak == st["peak_ts"], f"{k}: peak at {first_peak}, report {st['peak_ts']}")
    by_class = Counter(name.split(" ")[0] for _, _, name in instants
                       if not name.startswith(("process exit", "mark ")))
    want = {c: n for c, n in cls.items() if n and c not in NOT_ANOMALIES}
    # an event of a kind neither ALLOC nor FREE is classed invalid but reaches no observer
    # callback (core/replay.h: the event callback is for ALLOC and FREE): at most that many
    bad_kinds = want.get("invalid", 0) - by_class.get("invalid", 0)
    expect(0 <= bad_kinds, f"more invalid instants than invalid events")
    by_class["invalid"] = want.get("invalid", 0)
    by_class = +by_class
    expect(dict(by_class) == want, f"instants by class {dict(by_class)} != {want}")
    exits = sum(1 for _, _, name in instants if name.startswith("process exit"))
    expect(exits == sum(1 for p in rep["processes"] if not p["alive"]), "an exit instant per exit")
    expect(len(procs) >= len(rep["processes"]), "a process track per process")

    with open(base + ".csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    csv_cls = Counter(c for r in rows for c in r["classes"].split("|") if c)
    # every class but leaked_at_exit is given to an event (a leak is given at its exit)
    # ... nor missed_free (given to the buffer an ALLOC replaced, not to the ALLOC)
    want = {c: n for c, n in cls.items() if n and c not in ("leaked_at_exit", "missed_free")}
    want["invalid"] = want.get("invalid", 0) - bad_kinds
    want = {c: n for c, n in want.items() if n}
    expect(dict(csv_cls) == want, f"CSV classes {dict(csv_cls)} != {want}")
    expect(len(rows) == rep["totals"]["allocs"] + rep["totals"]["frees"], "a CSV row per event")

    db = sqlite3.connect(base + ".sqlite")
    # the usage table and the counter tracks come from the same callback: the same values
    for (dev, mt), vals in keys.items():
        rows_u = db.execute("SELECT ts, bytes FROM usage WHERE run = 0 AND device = ? AND"
                            " memtype = ? ORDER BY seq", (dev, mt)).fetchall()
        expect(rows_u == vals, f"usage of {dev} {mt} differs from its counter track")
    q = queries(md)
    n = 0
    for (dev, mt), st in mem.items():
        top = run_query(db, q["top_sites_at_peak"], run=0, device=dev, memtype=mt)
        every = run_query(db, q["top_sites_at_peak"].replace("LIMIT 10", ""), run=0, device=dev,
                          memtype=mt)
        expect(top == every[:10], "top 10 is the head of the whole list")
        expect(sum(r["bytes"] for r in every) == st["peak_bytes"],
               f"{dev} {mt}: sites at the peak hold {sum(r['bytes'] for r in every)},"
               f" the peak is {st['peak_bytes']}")
        at = {(r["device"], r["memtype"]): r["bytes"] for r in
              run_query(db, q["memory_at"], run=0, t=st["peak_ts"])}
        expect(at[(dev, mt)] == st["peak_bytes"], f"memory_at the peak of {dev} {mt}")
        n += 3
    last = db.execute("SELECT last_ts FROM meta WHERE run = 0").fetchone()[0]
    at = {k: v for k, v in ((( r["device"], r["memtype"]), r["bytes"]) for r in
                            run_query(db, q["memory_at"], run=0, t=last))}
    expect(all(at.get(k, 0) == st["live_bytes"] for k, st in mem.items()), "memory_at the end")
    groups = rep.get("leak_groups", [])
    got = [(r["site"], r["leaks"], r["bytes"], r["oldest_ts"]) for r in run_query(db, q["leaks_by_site"])]
    want = [(g["stack"], g["count"], g["bytes"], g["oldest_ts"]) for g in groups]
    expect(sorted(got) == sorted(want), f"leaks_by_site {got} != leak_groups {want}")
    got = {r["scope"]: (r["leaks"], r["bytes"]) for r in run_query(db, q["leaks_by_scope"])}
    expect(sum(v[0] for v in got.values()) == rep["leaked_count"] and
           sum(v[1] for v in got.values()) == rep["leaked_bytes"], "leaks_by_scope totals")
    for b in rep.get("breakdown", []):
        if b["kind"] == "scope" and b["name"] != 0:
            expect(got.get(b["name"], (0, 0)) == (b["leaked_count"], b["leaked_bytes"]),
                   f"leaks_by_scope scope {b['name']}: {got.get(b['name'])} != {b}")
    names = {s["id"]: s["text"] for s in rep.get("strings", [])}
    for r in run_query(db, q["leaks_by_scope"]):
        expect(r["scope"] == 0 or r["name"] == names.get(r["scope"]), f"scope name {r}")
    live = [(r["site"], r["buffers"], r["bytes"]) for r in run_query(db, q["live_by_site"])]
    want = [(s["stack"], s["count"], s["bytes"]) for s in rep.get("live_sites", [])]
    expect(live[:len(want)] == want, f"live_by_site {live[:len(want)]} != live_sites {want}")
    owning = sum(st["allocs"] for st in mem.values())
    lives = run_query(db, q["alive_longer_than"], x=-1)
    expect(len(lives) == owning, f"{len(lives)} owning lives, report {owning} allocations")
    for u in rep.get("unmatched", [])[:5]:
        ev = run_query(db, q["events_at"], run=0, device=u["device"], addr=int(u["addr"], 16))
        c = Counter(x for r in ev for x in r["classes"].split("|"))
        for k in ("excess_free", "unknown_free", "double_free"):
            expect(c[k] == u[k], f"events_at {u['addr']}: {k} {c[k]} != {u[k]}")
        n += 1
    return (f"{len(counters)} counter tracks, {len(instants)} instants, {len(rows)} CSV rows,"
            f" {n + 5} query checks")


def main():
    try:
        if sys.argv[1] == "synthetic":
            what = check_synthetic(*sys.argv[2:5])
        else:
            what = check_journal(*sys.argv[2:5])
    except Bad as e:
        print(f"export_check: FAIL: {e}", file=sys.stderr)
        return 1
    print(f"export_check: ok: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
