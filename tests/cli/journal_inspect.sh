#!/usr/bin/env bash
# `ttmem journal FILE...` from the outside: what a journal holds, without replaying it. Its
# counts are checked against two independent sources: the report of the run that wrote the
# journal (`ttmem simulate --journal`: events by kind, marks, devices, process start and exit,
# classes; `ttmem analyze-log --journal`: the log's event lines), and the reader written from
# docs/JOURNAL.md (lib/journal_read.py: every count, chunk size and time). Then the same
# journal cut at several bytes and with a damaged block: everything before the damage (and,
# for a damaged block, after it) is counted, one line says what was lost, never a crash; a file
# that is no journal is one line and exit status 1.
set -u
build=$1
src=$2
ttmem="$build/ttmem"
lib="$(dirname "$0")/lib"
. "$lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-jinspect.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# agree JOURNAL INSPECT.json: ttmem journal's counts are the independent reader's
agree() {
    python3 - "$src" "$lib" "$1" "$2" <<'PY'
import json, os, re, sys
src, lib, path, inspect = sys.argv[1:5]
sys.path.insert(0, lib)
import journal_read
body = open(os.path.join(src, "src/core/registry.h")).read()
body = body[body.index("#define TTM_CLASS_MAP"):]
names = re.findall(r'X\(\w+, \d, "(\w+)"', body[:body.index("\n\n")])
CHUNKS = {1: "STACKS", 2: "DAEMON", 3: "STATE", 4: "CONFIG", 5: "RUN"}
d = journal_read.read(path)
c = journal_read.counts(d)
f = json.load(open(inspect))["files"][0]
recs = [r for r in d["records"]]
ts = [r["ts"] for r in recs]
ev = [r["ts"] for r in recs if r["tag"] == "event"]
runs = [r["text"] for r in recs if r["tag"] == "chunk" and r["kind"] == 5]
want = {
    "header": {k: d["header"][k] for k in ("version", "host", "created_ns", "run_id", "seq")},
    "blocks": d["blocks"], "bad_blocks": d["bad_blocks"], "truncated": d["truncated"],
    "records": {k: c[k] for k in ("total", "events", "alloc", "free", "devices", "marks",
                                  "chunks", "procs")},
    "classes": {names[b] if b < len(names) else "bit%d" % b: n for b, n in c["classes"].items()},
    "chunks": sorted((CHUNKS.get(k, "other"), v[0], v[1]) for k, v in c["chunk_kinds"].items()),
    "records_time": [min(ts), max(ts)] if ts else None,
    "events_time": [min(ev), max(ev)] if ev else None,
    "run": runs[-1] if runs else None,
}
got = {
    "header": {k: f["header"][k] for k in ("version", "host", "created_ns", "run_id", "seq")},
    "blocks": f["blocks"], "bad_blocks": f["damage"]["bad_blocks"],
    "truncated": f["damage"]["truncated"], "records": f["records"], "classes": f["classes"],
    "chunks": sorted((x["kind"], x["count"], x["bytes"]) for x in f["chunks"]),
    "records_time": [f["records_time"]["first_ts"], f["records_time"]["last_ts"]] if f["records_time"] else None,
    "events_time": [f["events_time"]["first_ts"], f["events_time"]["last_ts"]] if f["events_time"] else None,
    "run": f["run"],
}
bad = [k for k in want if want[k] != got[k]]
for k in bad:
    print("  %s: ttmem journal %s, independent reader %s" % (k, got[k], want[k]))
sys.exit(1 if bad else 0)
PY
}

# ---- a good journal: the simulator's run, against its own report --------------------------------
for sc in llama leaks multi-process; do
    "$ttmem" simulate --scenario "$sc" --journal "$tmp/$sc.ttmem" --json >"$tmp/$sc.sim.json"
    check "$sc: simulate --journal" $?
    "$ttmem" journal --json "$tmp/$sc.ttmem" >"$tmp/$sc.inspect.json" 2>"$tmp/$sc.inspect.err"
    check "$sc: ttmem journal --json reads it" $?
    python3 - "$tmp/$sc.sim.json" "$tmp/$sc.inspect.json" <<'PY'
import json, sys
rep, f = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["files"][0]
t, r = rep["totals"], f["records"]
bad = []
# the report counts every event the registry was fed: ALLOC, FREE, marks, device
# announcements, process starts and exits; the journal holds one record for each
fed = r["events"] + r["marks"] + r["devices"] + r["procs"]["start"] + r["procs"]["exit"]
for what, got, want in (("ALLOC", r["alloc"], t["allocs"]), ("FREE", r["free"], t["frees"]),
                        ("marks", r["marks"], t["marks"]), ("events fed", fed, t["events"]),
                        ("process starts", r["procs"]["start"], len(rep["processes"])),
                        ("process exits", r["procs"]["exit"],
                         sum(1 for p in rep["processes"] if not p["alive"]))):
    if got != want:
        bad.append("%s: journal %d, report %d" % (what, got, want))
# classes given to events (leaked_at_exit is given at an exit, not to an event)
want = {k: v for k, v in t["class_count"].items() if v and k != "leaked_at_exit"}
if f["classes"] != want:
    bad.append("classes %s, report %s" % (f["classes"], want))
if f["run"] != rep["source"] or f["damage"]["summary"] != "":
    bad.append("run %r / source %r, damage %r" % (f["run"], rep["source"], f["damage"]["summary"]))
if bad:
    print("  " + "; ".join(bad))
    sys.exit(1)
PY
    check "$sc: ttmem journal counts what the run's report counts" $?
    agree "$tmp/$sc.ttmem" "$tmp/$sc.inspect.json"
    check "$sc: ttmem journal agrees with the independent reader" $?
done
"$ttmem" journal "$tmp/llama.ttmem" >"$tmp/llama.txt"
grep -q "^Records     .*53,764 ALLOC" "$tmp/llama.txt" && grep -q "^Damage      none$" "$tmp/llama.txt" &&
    grep -q "^Run         simulate llama" "$tmp/llama.txt"
check "llama: the text names the records, the run and no damage" $?

# a journal of several blocks: a generated prototype log of 200,000 events
mkdir -p "$tmp/gen"
python3 "$lib/poclog_gen.py" "$tmp/gen" 200000 9
"$ttmem" analyze-log --journal "$tmp/big.ttmem" "$tmp/gen/server.log" >/dev/null 2>&1
check "a journal of a generated log" $?
"$ttmem" journal --json "$tmp/big.ttmem" >"$tmp/big.json"
python3 -c "
import json, sys
f = json.load(open('$tmp/big.json'))['files'][0]
e = json.load(open('$tmp/gen/expect.json'))
sys.exit(0 if f['records']['events'] == len(e['events']) and f['records']['procs']['start'] == len(e['pids']) else 1)"
check "big: ttmem journal counts the log's event lines and processes" $?
python3 "$lib/journal_read.py" "$tmp/big.ttmem" >"$tmp/big.read.json"
read -r nblocks offsets block_events < <(python3 -c "
import json; d = json.load(open('$tmp/big.read.json'))
print(d['blocks'], ','.join(map(str, d['block_offsets'])), ','.join(map(str, d['block_events'])))")
[ "$nblocks" -ge 3 ]; check "big: several blocks ($nblocks)" $?

# ---- cut at arbitrary bytes ---------------------------------------------------------------------
size=$(stat -c %s "$tmp/big.ttmem")
for cut in 0 60 112 130 $((size / 3)) $((size / 2 + 7)) $((size - 1)); do
    head -c "$cut" "$tmp/big.ttmem" >"$tmp/cut.ttmem"
    "$ttmem" journal --json "$tmp/cut.ttmem" >"$tmp/cut.json" 2>"$tmp/cut.err"
    rc=$?
    if [ "$cut" -lt 112 ]; then
        [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/cut.err")" -eq 1 ] && grep -q "not a journal" "$tmp/cut.err"
        check "cut at byte $cut (inside the header): one line, exit 1 (rc $rc)" $?
        continue
    fi
    python3 - "$tmp/cut.json" "$cut" "$offsets" "$block_events" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["files"][0]
cut = int(sys.argv[2])
offs = list(map(int, sys.argv[3].split(",")))
evs = list(map(int, sys.argv[4].split(",")))
ends = offs[1:] + [None]
whole = [i for i, o in enumerate(offs) if ends[i] is not None and ends[i] <= cut]
want = sum(evs[i] for i in whole)
d = f["damage"]
bad = []
if f["records"]["events"] != want or f["blocks"] != len(whole):
    bad.append("%d events in %d blocks, the %d whole blocks before byte %d hold %d" % (
        f["records"]["events"], f["blocks"], len(whole), cut, want))
cut_inside = cut > 112 and cut not in offs
if d["truncated"] != cut_inside or d["bad_blocks"] != 0:
    bad.append("truncated %s, bad blocks %d" % (d["truncated"], d["bad_blocks"]))
if cut_inside and "cut inside a block" not in d["summary"]:
    bad.append("summary %r" % d["summary"])
if bad:
    print("  " + "; ".join(bad))
    sys.exit(1)
PY
    check "cut at byte $cut of $size: the whole blocks before the cut are counted, the cut said" $?
    agree "$tmp/cut.ttmem" "$tmp/cut.json"
    check "cut at byte $cut: ttmem journal agrees with the independent reader" $?
done

# ---- a damaged block ----------------------------------------------------------------------------
IFS=, read -r -a offs <<<"$offsets"
IFS=, read -r -a evs <<<"$block_events"
total=0
for n in "${evs[@]}"; do total=$((total + n)); done
# a byte of the second block's payload, then the first byte of its header's magic
for at in $((offs[1] + 44 + 1000)) "${offs[1]}"; do
    cp "$tmp/big.ttmem" "$tmp/bad.ttmem"
    printf '\xa5' | dd of="$tmp/bad.ttmem" bs=1 seek="$at" conv=notrunc status=none
    "$ttmem" journal --json "$tmp/bad.ttmem" >"$tmp/bad.json" 2>"$tmp/bad.err"
    check "damage at byte $at: ttmem journal reads the file (exit 0)" $?
    python3 - "$tmp/bad.json" "${offs[1]}" $((total - evs[1])) <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["files"][0]
d = f["damage"]
bad = []
if f["records"]["events"] != int(sys.argv[3]):
    bad.append("%d events, all but the damaged block's: %s" % (f["records"]["events"], sys.argv[3]))
if d["bad_blocks"] != 1 or d["truncated"] or [r["offset"] for r in d["regions"]] != [int(sys.argv[2])]:
    bad.append("damage %s" % d)
if "1 damaged region" not in d["summary"]:
    bad.append("summary %r" % d["summary"])
if bad:
    print("  " + "; ".join(bad))
    sys.exit(1)
PY
    check "damage at byte $at: the block is skipped and named, the blocks after it counted" $?
    agree "$tmp/bad.ttmem" "$tmp/bad.json"
    check "damage at byte $at: ttmem journal agrees with the independent reader" $?
done
"$ttmem" journal "$tmp/bad.ttmem" >"$tmp/bad.txt"
grep -q "^Damage      journal: 1 damaged region" "$tmp/bad.txt" && grep -q "^            damaged at byte ${offs[1]}: " "$tmp/bad.txt"
check "the text says what was lost and where" $?

# ---- not journals ------------------------------------------------------------------------------
"$ttmem" journal "$tmp/gen/server.log" >/dev/null 2>"$tmp/nj.err"
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/nj.err")" -eq 1 ] && grep -q "not a journal" "$tmp/nj.err"
check "a log given as a journal: one line, exit 1 (rc $rc)" $?
"$ttmem" journal "$tmp/llama.ttmem" "$tmp/missing.ttmem" >"$tmp/mix.txt" 2>"$tmp/mix.err"
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/mix.err")" -eq 1 ] && grep -q "^Journal     $tmp/llama.ttmem" "$tmp/mix.txt"
check "a missing file among good ones: one line for it, the others shown, exit 1 (rc $rc)" $?
"$ttmem" journal >/dev/null 2>"$tmp/none.err"
[ $? -eq 2 ] && [ "$(wc -l <"$tmp/none.err")" -eq 1 ]
check "no file: one line, exit 2" $?
"$ttmem" journal --bogus "$tmp/llama.ttmem" >/dev/null 2>"$tmp/opt.err"
[ $? -eq 2 ] && [ "$(wc -l <"$tmp/opt.err")" -eq 1 ]
check "an unknown option: one line, exit 2" $?

echo "journal_inspect.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
