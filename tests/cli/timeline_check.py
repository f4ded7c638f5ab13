#!/usr/bin/env python3
"""timeline_check.py — `ttmem timeline` pages loaded in a real headless Chromium, what they drew
compared with numbers computed without the timeline's code: the report `ttmem simulate --json`
prints for the same run (per device and memtype its peak, the peak's time and the bytes still
in use at the end; the class counts; the processes that exited).

    timeline_check.py TTMEM WORKDIR [SCENARIO...]     (default: every scenario)

Each page publishes, after its first draw, a JSON document in <pre id="ttm-drawn"> (what it
drew: per series the peak and its time from the decoded data, the highest column the drawing
code gave it, the value at the probe times of the URL's #at=..., the markers per class) and
catches its own script errors into <pre id="ttm-error">. Chromium's --dump-dom gives the DOM
after the load event, when the page has drawn (it draws while loading). Standard library only.
Exit status 0 when every check passed; the failures are printed.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys

FAILS = []
PASSES = [0]


def check(name, ok, detail=""):
    if ok:
        PASSES[0] += 1
    else:
        FAILS.append(name + (": " + str(detail) if detail else ""))


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def load(browser, page, fragment=""):
    """The page's published document and its error text, from the DOM Chromium dumps."""
    args = [browser, "--headless", "--disable-gpu", "--no-first-run", "--window-size=1400,1000",
            "--dump-dom", "file://" + os.path.abspath(page) + fragment]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    out = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120,
                         check=False).stdout.decode("utf-8", "replace")
    err = re.search(r'<pre id="ttm-error"[^>]*>(.*?)</pre>', out, re.S)
    drawn = re.search(r'<pre id="ttm-drawn"[^>]*>(.*?)</pre>', out, re.S)
    doc = json.loads(html.unescape(drawn.group(1))) if drawn and drawn.group(1) else None
    return doc, html.unescape(err.group(1)) if err else "(no error element: the page did not load)"


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False, **kw)


def truth_series(report):
    """(device, memtype) -> (peak, peak_ts, live_bytes at the end) from the report."""
    t = {}
    for d in report["devices"]:
        for mt, m in d["memtypes"].items():
            t[(d["device"], mt)] = (m["peak_bytes"], m["peak_ts"], m["live_bytes"])
    return t


def check_page(tag, doc, err, report, exact=True):
    check(tag + ": no script error", err.strip() == "", err.strip()[:400])
    if doc is None:
        check(tag + ": the page published what it drew", False)
        return
    check(tag + ": page state ok", doc.get("ok") is True)
    truth = truth_series(report)
    got = {(s["device"], s["memtype"]): s for s in doc["series"]}
    t0 = doc["t0"]
    for key, (peak, peak_ts, live) in sorted(truth.items()):
        s = got.get(key)
        name = "%s: device %d %s" % (tag, key[0], key[1])
        if peak == 0:
            check(name + " has nothing drawn (never in use)", s is None or s["peak"] == 0, s)
            continue
        if s is None:
            check(name + " has a series", False)
            continue
        check(name + " peak value", s["peak"] == peak, (s["peak"], peak))
        check(name + " highest column drawn is the peak", s["drawn_peak"] == peak,
              (s["drawn_peak"], peak))
        check(name + " in use at the end", s["last"] == live, (s["last"], live))
        if exact:
            check(name + " is exact", s["exact"] is True)
            check(name + " peak time", s["peak_ts"] + t0 == peak_ts, (s["peak_ts"] + t0, peak_ts))
            # probes: #at=t0-1 (before anything), the peak's time
            check(name + " nothing before the first record", s["probes"][0] == 0, s["probes"])
        else:
            w = s["finest_w"]
            check(name + " peak time within its bucket", abs(s["peak_ts"] + t0 - peak_ts) <= w,
                  (s["peak_ts"] + t0, peak_ts, w))
    devices = {d["device"] for d in report["devices"]}
    check(tag + ": one lane per device", doc["lanes"] == len(devices), (doc["lanes"], devices))
    counts = report["totals"]["class_count"]
    for c, v in doc["classes"].items():
        if c in ("leaked_at_exit", "missed_free"):
            continue  # given to records (at an exit, when replaced), not to the events
        if c == "invalid":
            # an event of a bad kind is counted invalid but is not an ALLOC or FREE record of
            # the journal: the page sees those of a bad memtype or flags only
            check(tag + ": invalid events counted", 0 < v["events"] <= counts[c] or counts[c] == 0,
                  (v["events"], counts[c]))
            continue
        check(tag + ": %s events counted" % c, v["events"] == counts[c], (v["events"], counts[c]))
        if exact:
            check(tag + ": %s markers drawn" % c, v["markers"] == counts[c],
                  (v["markers"], counts[c]))
    exited = sum(1 for p in report["processes"] if not p["alive"])
    check(tag + ": process exits", doc["exits"] == exited, (doc["exits"], exited))
    for p in doc["peaks"]:
        check(tag + ": the live set at the peak holds the peak's bytes", p["live_bytes"] == p["bytes"],
              p)
        if exact:
            check(tag + ": every buffer live at the peak is listed",
                  p["listed"] == p["live_count"] and p["listed_bytes"] == p["live_bytes"], p)


def main():
    ttmem, work = sys.argv[1], sys.argv[2]
    browser = chromium()
    if browser is None:
        print("SKIP: chromium is not installed (scripts/deps.sh installs it)")
        return 0
    scenarios = sys.argv[3:] or [l.split()[0] for l in
                                 run([ttmem, "simulate", "--scenario", "list"]).stdout.decode().splitlines()]
    os.makedirs(work, exist_ok=True)
    for sc in scenarios:
        j, page = os.path.join(work, sc + ".ttmem"), os.path.join(work, sc + ".html")
        r = run([ttmem, "simulate", "--scenario", sc, "--journal", j, "--json"])
        check(sc + ": simulate --journal", r.returncode == 0, r.stderr.decode()[:300])
        report = json.loads(r.stdout)
        r = run([ttmem, "timeline", j, "-o", page])
        check(sc + ": timeline exits 0", r.returncode == 0, r.stderr.decode()[:300])
        first = report["totals"]["first_ts"]
        doc, err = load(browser, page, "#at=%d" % (first - 1 if first else 0))
        check_page(sc, doc, err, report)
        size = os.path.getsize(page)
        with open(page, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        check(sc + ": self-contained (no external resource)",
              re.search(r'(src|href)\s*=\s*"(https?:|//)', text) is None and "http://" not in text
              and "https://" not in text)
        check(sc + ": under 20 MB", size <= 20000000, size)

    # a byte budget too small for every change: coarser levels, the peaks still exact
    sc = "llama"
    j, page = os.path.join(work, sc + ".ttmem"), os.path.join(work, sc + "-small.html")
    report = json.loads(run([ttmem, "simulate", "--scenario", sc, "--json"]).stdout)
    r = run([ttmem, "timeline", j, "-o", page, "--max-bytes", "400000"])
    check("small budget: timeline exits 0", r.returncode == 0, r.stderr.decode()[:300])
    check("small budget: page within it", os.path.getsize(page) <= 400000, os.path.getsize(page))
    doc, err = load(browser, page, "#at=0")
    check_page("small budget", doc, err, report, exact=False)
    if doc:
        check("small budget: some series are not exact", any(not s["exact"] for s in doc["series"]))

    print("%d passed, %d failed" % (PASSES[0], len(FAILS)))
    for f in FAILS:
        print("FAIL: " + f)
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
