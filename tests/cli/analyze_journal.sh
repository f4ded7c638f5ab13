#!/usr/bin/env bash
# `ttmem analyze-log --journal OUT` from the outside: prototype logs turned into run journals.
# The logs: generated ones (lib/poclog_gen.py: a server log with its stack-trace log, and the
# list of events they hold), also split over a plain and a .gz file and read from standard
# input, and the logs `ttmemd --poc-log` writes for simulator scenarios replayed through the
# legacy socket (as tests/cli/poc.sh makes them). For each: the report analyze-log prints is
# the same with and without --journal; the journal, read by an independent reader written from
# docs/JOURNAL.md (lib/journal_read.py), holds exactly the log's events in order (time = line
# number), a process record per pid, the RUN chunk = the report's source, class masks that
# count up to the report's classes (lib/journal_check.py); `ttmem report OUT --json` equals
# `ttmem analyze-log --json LOG` with the same --top, and `--at peak` lists the buffers the
# generated log left live at its peak; `ttmem timeline` and `ttmem export --format sqlite`
# work on such a journal (smoke tests). Errors: an
# output that cannot be written is one line before any log is read; a write that fails midway
# (a file size limit) is one line, the report whole, the journal readable up to its last block.
set -u
build=$1
src=$2
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
replay="$build/tests/it_poc_replay"
lib="$(dirname "$0")/lib"
. "$lib/check.sh"
. "$lib/made.sh"
. "$lib/poc_daemon.sh"
tmp=$(mktemp -d /tmp/ttmem-ajournal.XXXXXX)
dpid=
cleanup() {
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
TOP=7

# same_json A B: the two JSON documents are equal but for when they were made (their "made",
# lib/made.sh) (printed: the first difference)
same_json() {
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("made", None)
if a != b:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            print("  %s differs: %s ... / %s ..." % (k, json.dumps(a.get(k))[:200], json.dumps(b.get(k))[:200]))
            break
    sys.exit(1)
PY
}

# report_checks NAME JOURNAL LOG_JSON [EXPECT]: `ttmem report` of the journal equals
# analyze-log's report, and time travel to the peak answers (with EXPECT: the right buffers)
report_checks() {
    local name=$1 j=$2 want=$3
    "$ttmem" report --json --top "$TOP" "$j" >"$tmp/$name.report.json" 2>"$tmp/$name.report.err"
    check "$name: ttmem report reads the journal ($(head -c 300 "$tmp/$name.report.err"))" $?
    same_json "$want" "$tmp/$name.report.json"
    check "$name: ttmem report --json of the journal equals analyze-log --json" $?
    "$ttmem" report --at peak "$j" >"$tmp/$name.peak.txt" 2>"$tmp/$name.peak.err"
    check "$name: ttmem report --at peak answers ($(head -c 300 "$tmp/$name.peak.err"))" $?
    if [ -n "${4:-}" ]; then
        "$ttmem" report --at peak --json "$j" >"$tmp/$name.peak.json" 2>/dev/null
        peak_check "$tmp/$name.peak.json" "$4"
        check "$name: --at peak lists exactly the buffers the log left live at its peak" $?
    fi
}

# peak_check AT.json EXPECT: the live set at the peak is the one the log's events make, as the
# prototype counted them (a key's bytes from its first allocation to its last reference's
# free), worked out here from the generator's list: the time of the first event to reach the
# most bytes in use, and every buffer live then (owner, place, size, allocated at)
peak_check() {
    python3 - "$1" "$2" <<'PY'
import json, sys
at, expect = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
MT = {0: "DRAM", 1: "L1", 2: "SYSTEM_MEMORY", 3: "L1_SMALL", 4: "TRACE"}
live, total, best = {}, 0, (0, None, {})
for line, pid, kind, dev, mt, addr, size in expect["events"]:
    b = live.get((dev, addr))
    if kind == 1 and b:
        b[3] += 1
    elif kind == 1:
        live[(dev, addr)] = [pid, mt, size, 1, line]
        total += size
    elif b:
        b[3] -= 1
        if b[3] == 0:
            del live[(dev, addr)]
            total -= b[2]
    if total > best[0]:
        best = (total, line, {k: list(v) for k, v in live.items()})
# (references not compared: `report --at` gives every buffer refs 1 for now)
want = sorted((v[0], k[0], MT[v[1]], k[1], v[2], v[4]) for k, v in best[2].items())
got = sorted((b["pid"], b["device"], b["memtype"], int(b["addr"], 16), b["size"], b["alloc_ts"])
             for b in at["buffers"])
bad = []
if (at["at"]["ts"], at["at"]["peak_bytes"]) != (best[1], best[0]):
    bad.append("peak at %s of %s bytes, the log's at line %s of %s" % (
        at["at"]["ts"], at["at"]["peak_bytes"], best[1], best[0]))
if got != want:
    bad.append("%d buffers live at the peak, the log's %d (first difference %s)" % (
        len(got), len(want), next(((g, w) for g, w in zip(got, want) if g != w), None)))
if bad:
    print("  " + "; ".join(bad))
    sys.exit(1)
PY
}

# journal_case NAME "ANALYZE-LOG ARGS" EXPECT|- [journal_check.py options]: analyze-log with
# and without --journal (and $jopts, options of the journal only), the journal checked, then
# reported
jopts=
journal_case() {
    local name=$1 args=$2 expect=$3
    shift 3
    # shellcheck disable=SC2086
    "$ttmem" analyze-log --json --top "$TOP" $args >"$tmp/$name.plain.json" 2>"$tmp/$name.plain.err"
    check "$name: analyze-log reads the logs" $?
    # shellcheck disable=SC2086
    "$ttmem" analyze-log --json --top "$TOP" --journal "$tmp/$name.ttmem" $jopts $args \
        >"$tmp/$name.json" 2>"$tmp/$name.err"
    check "$name: analyze-log --journal succeeds ($(head -c 300 "$tmp/$name.err"))" $?
    same_report "$tmp/$name.plain.json" "$tmp/$name.json" && cmp -s "$tmp/$name.plain.err" "$tmp/$name.err"
    check "$name: the report and its Log/Stacks lines are the same with --journal" $?
    if [ "$expect" = - ]; then
        python3 "$lib/journal_check.py" "$src" "$tmp/$name.ttmem" "$tmp/$name.json" "$@"
    else
        python3 "$lib/journal_check.py" "$src" "$tmp/$name.ttmem" "$tmp/$name.json" "$expect" "$@"
    fi
    check "$name: the journal holds the log's events, processes, title and classes" $?
    report_checks "$name" "$tmp/$name.ttmem" "$tmp/$name.json" "$([ "$expect" = - ] || echo "$expect")"
}

# ---- generated logs ---------------------------------------------------------------------------
g="$tmp/gen"
mkdir -p "$g"
python3 "$lib/poclog_gen.py" "$g" 3000 7
check "the generator writes the logs" $?
traced=$(python3 -c "import json; print(json.load(open('$g/expect.json'))['traced'])")
touch -d "2025-10-14 09:31:07.25 UTC" "$g/server.log"
journal_case gen "$g/server.log" "$g/expect.json"
python3 - "$lib" "$tmp/gen.ttmem" "$g/server.log" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import journal_read
got = journal_read.read(sys.argv[2])["header"]["created_ns"]
sys.exit(0 if got == os.stat(sys.argv[3]).st_mtime_ns == 1760434267250000000 else 1)
PY
check "gen: the journal's creation time is the log's modification time" $?
journal_case gen_stacks "$g/server.log --stack-log $g/trace.log" "$g/expect.json" --stacks "$traced"
jopts="--host build-box-7"
journal_case gen_host "$g/server.log" "$g/expect.json" --host build-box-7
jopts=

# the same log over two files, the second compressed: the line numbers run on across them
head -n 1500 "$g/server.log" >"$g/a.log"
tail -n +1501 "$g/server.log" | gzip -c >"$g/b.log.gz"
journal_case gen_split "$g/a.log $g/b.log.gz" "$g/expect.json"

# standard input
"$ttmem" analyze-log --json --top "$TOP" --journal "$tmp/stdin.ttmem" - <"$g/server.log" \
    >"$tmp/stdin.json" 2>/dev/null
check "standard input: analyze-log --journal reads it" $?
python3 "$lib/journal_check.py" "$src" "$tmp/stdin.ttmem" "$tmp/stdin.json" "$g/expect.json"
check "standard input: the journal holds the log's events" $?

# the stack-trace log alone: its records are the events
journal_case trace_alone "--stack-log $g/trace.log" - --stacks "$traced"

# ---- the timeline and the SQLite export of a log's journal (smoke tests: the commands' own
# tests are tests/cli/timeline*.sh and export.sh)
"$ttmem" timeline -o "$tmp/gen.html" "$tmp/gen.ttmem" 2>"$tmp/timeline.err"
check "timeline of a log's journal: exit 0 ($(head -c 300 "$tmp/timeline.err"))" $?
grep -qi "<html" "$tmp/gen.html" && grep -qF "analyze-log $g/server.log" "$tmp/gen.html" &&
    ! grep -Eq "(src|href)=[\"']?https?:" "$tmp/gen.html"
check "timeline of a log's journal: one HTML page with the run's title, nothing fetched" $?
"$ttmem" export --format sqlite -o "$tmp/gen.db" "$tmp/gen.ttmem" 2>"$tmp/export.err"
check "export sqlite of a log's journal: exit 0 ($(head -c 300 "$tmp/export.err"))" $?
python3 - "$tmp/gen.db" "$g/expect.json" <<'PY'
import json, sqlite3, sys
db, expect = sqlite3.connect(sys.argv[1]), json.load(open(sys.argv[2]))
n = db.execute("select count(*) from events").fetchone()[0]
if n != len(expect["events"]):
    print("  %d events in the database, %d event lines in the log" % (n, len(expect["events"])))
    sys.exit(1)
PY
check "export sqlite of a log's journal: it counts the log's event lines" $?

# ---- the logs of ttmemd --poc-log for simulator scenarios -------------------------------------
for sc in program-pool mesh8 cb-kernel; do
    start_daemon "$tmp/$sc.log" --poc-log || { check "$sc: daemon" 1; continue; }
    timeout 120 "$replay" "$sc" "$tmp/p.sock" >"$tmp/$sc.truth"
    check "$sc: replayed through the legacy socket" $?
    stop_daemon; check "$sc: the daemon stops cleanly" $?
    journal_case "$sc" "$tmp/$sc.log" -
    python3 -c "
import json, sys
t, r = json.load(open('$tmp/$sc.truth')), json.load(open('$tmp/$sc.json'))
sys.exit(0 if r['totals']['events'] == t['messages'] else 1)"
    check "$sc: the journal's report counts the messages the scenario sent" $?
done

# ---- errors -------------------------------------------------------------------------------------
# an output that cannot be written: one line, exit 1, and no log is opened (the log is a FIFO
# nobody writes: opening it would block until the timeout)
mkfifo "$tmp/fifo.log"
for out in "$tmp/no/such/dir/x.ttmem" /dev/full; do
    timeout 20 "$ttmem" analyze-log --journal "$out" "$tmp/fifo.log" >"$tmp/unw.out" 2>"$tmp/unw.err"
    rc=$?
    [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/unw.err")" -eq 1 ] && grep -q "cannot write the journal '$out'" "$tmp/unw.err" &&
        [ ! -s "$tmp/unw.out" ]
    check "unwritable $out: one line, exit 1, before any log is read (rc $rc: $(cat "$tmp/unw.err"))" $?
done
# the journal must not overwrite a log
cp "$g/server.log" "$tmp/victim.log"
"$ttmem" analyze-log --journal "$tmp/victim.log" "$tmp/victim.log" >/dev/null 2>"$tmp/same.err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/same.err")" -eq 1 ] && cmp -s "$g/server.log" "$tmp/victim.log"
check "a journal path that is one of the logs is refused, the log untouched (rc $rc)" $?
# a log that cannot be read: no report, no journal left behind
"$ttmem" analyze-log --journal "$tmp/gone.ttmem" "$g/server.log" "$tmp/missing.log" >/dev/null 2>"$tmp/gone.err"
rc=$?
[ "$rc" -eq 1 ] && [ ! -e "$tmp/gone.ttmem" ] && grep -q "cannot open '$tmp/missing.log'" "$tmp/gone.err"
check "a missing log: one line, exit 1, no journal left (rc $rc)" $?
"$ttmem" analyze-log --host "" --journal "$tmp/h.ttmem" "$g/server.log" >/dev/null 2>"$tmp/host.err"
[ $? -eq 2 ] && [ "$(wc -l <"$tmp/host.err")" -eq 1 ]
check "an empty --host is refused in one line" $?

# a write that fails midway: a file size limit (SIGXFSZ ignored, so the write fails with EFBIG)
# halfway through a journal of several blocks
big="$tmp/big"
mkdir -p "$big"
python3 "$lib/poclog_gen.py" "$big" 200000 3
"$ttmem" analyze-log --json --journal "$big/full.ttmem" "$big/server.log" >"$big/full.json" 2>/dev/null
check "big: analyze-log --journal of 200,000 events" $?
blocks=$(python3 "$lib/journal_read.py" "$big/full.ttmem" | python3 -c "import json,sys; print(json.load(sys.stdin)['blocks'])")
[ "$blocks" -ge 3 ]; check "big: the journal has several blocks ($blocks)" $?
limit_kib=$(($(stat -c %s "$big/full.ttmem") / 2048))
(trap '' XFSZ; ulimit -f "$limit_kib"; exec "$ttmem" analyze-log --json --journal "$big/cut.ttmem" "$big/server.log") \
    2>"$big/cut.err" | cat >"$big/cut.json"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 1 ] && [ "$(grep -c '^ttmem: ' "$big/cut.err")" -eq 1 ] && grep -q "the journal '$big/cut.ttmem' is incomplete" "$big/cut.err"
check "a write failure midway: one line, exit 1 (rc $rc: $(grep '^ttmem' "$big/cut.err"))" $?
same_report "$big/full.json" "$big/cut.json"; check "a write failure midway: the report is whole" $?
python3 - "$lib" "$big/cut.ttmem" "$big/full.ttmem" "$((limit_kib * 1024))" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
import journal_read
cut, full = journal_read.read(sys.argv[2]), journal_read.read(sys.argv[3])
size, limit = os.path.getsize(sys.argv[2]), int(sys.argv[4])
ev = lambda d: [r for r in d["records"] if r["tag"] == "event"]
bad = []
if cut["bad_blocks"] or cut["truncated"]:
    bad.append("the cut journal is damaged (%d bad, truncated %s)" % (cut["bad_blocks"], cut["truncated"]))
if size > limit:
    bad.append("%d bytes, past the limit of %d" % (size, limit))
n = len(ev(cut))
if not 0 < n < len(ev(full)) or ev(cut) != ev(full)[:n]:
    bad.append("its %d events are not a prefix of the full journal's %d" % (n, len(ev(full))))
if n != sum(full["block_events"][:cut["blocks"]]):
    bad.append("%d events, not the first %d blocks' %d" % (n, cut["blocks"], sum(full["block_events"][:cut["blocks"]])))
if bad:
    print("; ".join(bad))
    sys.exit(1)
PY
check "a write failure midway: the journal ends at its last complete block, a prefix of the events" $?
"$ttmem" journal "$big/cut.ttmem" >"$big/cut.inspect" 2>&1
[ $? -eq 0 ] && grep -q "^Damage      none$" "$big/cut.inspect"
check "a write failure midway: ttmem journal reads it without damage" $?

echo "analyze_journal.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
