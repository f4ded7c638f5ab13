#!/usr/bin/env bash
# `ttmem analyze-log --stack-log` from the outside. A generator (below) writes a server log and
# the stack-trace log of the same run, as the prototype's server and its stack-trace client
# wrote them, and the answer it expects: which event had which call path. The trace log also
# holds an earlier run's records (another pid, the same addresses), the server log a process
# the trace log does not cover, and the trace log ends in garbage and a cut block. The report
# must attach exactly the generator's stacks (JSON sites naming the right functions), say in
# one line what matched, and stay within a bounded memory on a 170,000-event pair of logs.
set -u
build=$1
ttmem="$build/ttmem"
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# gen.py DIR EVENTS: writes DIR/server.log, DIR/trace.log and DIR/expect.json
cat >"$tmp/gen.py" <<'PY'
import json, random, sys
out, nev = sys.argv[1], int(sys.argv[2])
rnd = random.Random(11)
RULE = "\u2500" * 53
PID, OTHER, OLD = 4242, 5000, 111
srv = open(out + "/server.log", "w", encoding="utf-8")
trc = open(out + "/trace.log", "w", encoding="utf-8")
exp = {"attached": 0, "no_record": 0, "skipped": 0, "paths": {}}
nalloc = {PID: 0, OLD: 0}

def frames(fn):
    # the client's innermost frames, then the caller's path
    return ["/opt/tt-metal/lib/libtt_metal.so : tt::tt_metal::Buffer::allocate_impl()+0x5e",
            "./model : %s+0x1c" % fn, "./model : main+0x3c",
            "/lib/x86_64-linux-gnu/libc.so.6 : +0x271ca"]

def block(pid, kind, dev, addr, size, fns):
    if kind == "alloc":
        trc.write("%s\nAllocation #%d\nTime: 2025-10-14 09:31:07\nDevice: %d\nType: DRAM\n"
                  "Size: %d bytes (%g KB)\nAddress: 0x%x\nStack trace:\n"
                  % (RULE, nalloc[pid], dev, size, size / 1024, addr))
        nalloc[pid] += 1
    else:
        trc.write("%s\nDeallocation\nTime: 2025-10-14 09:31:08\nDevice: %d\nAddress: 0x%x\n"
                  "Stack trace:\n" % (RULE, dev, addr))
    for f in fns:
        trc.write("  " + f + "\n")
    trc.write("\n")

def event(pid, kind, dev, addr, size, fn, line, traced=True):
    # line: the server's line kind (alloc, freed, unknown)
    if line == "alloc":
        srv.write("\u2713 [PID %d] Allocated %d bytes of DRAM on device %d (buffer_id=%d)\n"
                  % (pid, size, dev, addr))
    elif line == "freed":
        srv.write("\u2717 [PID %d] Freed buffer %d on device %d (%d bytes, FINAL)\n"
                  % (pid, addr, dev, size))
    else:
        srv.write("\u26a0 [PID %d] Deallocation for unknown buffer %d on device %d (allocated "
                  "before tracking started)\n" % (pid, addr, dev))
    if traced:
        block(pid, kind, dev, addr, size, frames(fn))
        exp["attached"] += 1
    else:
        exp["no_record"] += 1

# an earlier run at the head of the trace log: same addresses, other functions
trc.write("=== TT-Metal Buffer Allocation Stack Traces ===\nPID: %d\n\n" % OLD)
for i in range(300):
    block(OLD, "alloc" if i % 2 == 0 else "free", 0, 0x100000 + (i // 2 % 8) * 0x10000, 4096,
          frames("old_run_alloc"))
    exp["skipped"] += 1
trc.write("=== TT-Metal Buffer Allocation Stack Traces ===\nPID: %d\n\n" % PID)

live, free_slots = {}, list(range(64))
leaked = set()
dfree = []        # addresses freed once, to be freed again
ufree = 0x7000000  # never allocated
n = 0
while n < nev:
    r = rnd.random()
    if r < 0.45 and free_slots:
        s = free_slots.pop(rnd.randrange(len(free_slots)))
        addr, size = 0x100000 + s * 0x10000, rnd.choice([4096, 65536, 1 << 20])
        leak = rnd.random() < 0.05 and sum(v[2] == "leak_here()" for v in live.values()) < 8
        fn = "leak_here()" if leak else "make_tensor(int)"
        event(PID, "alloc", 0, addr, size, fn, "alloc")
        live[addr] = (s, size, fn)
    elif r < 0.85 and live:
        addr = rnd.choice(sorted(live))
        s, size, fn = live[addr]
        if fn == "leak_here()":
            continue  # never freed
        del live[addr]
        free_slots.append(s)
        event(PID, "free", 0, addr, size, "drop_tensor()", "freed")
        if rnd.random() < 0.1:
            dfree.append(addr)
    elif r < 0.90 and dfree:
        addr = dfree.pop()
        if addr in live:
            continue
        event(PID, "free", 0, addr, 0, "free_twice()", "unknown")
        exp["paths"].setdefault("free_twice()", 0)
        exp["paths"]["free_twice()"] += 1
    elif r < 0.93:
        event(PID, "free", 1, ufree, 0, "free_unknown()", "unknown")
        ufree += 0x1000
    else:  # a process the stack-trace log does not cover
        a = 0x9000000 + rnd.randrange(16) * 0x1000
        event(OTHER, "alloc", 2, a, 4096, None, "alloc", traced=False)
        event(OTHER, "free", 2, a, 4096, None, "freed", traced=False)
        n += 1
    n += 1
exp["leaks"] = sum(1 for v in live.values() if v[2] == "leak_here()")
exp["events"] = n
# damage at the end: garbage between blocks, then a block cut short
trc.write("this line is not part of any block\n")
trc.write("%s\nDeallocation\nTime: 2025-10-14 09:31:08\nDevice: 0\n" % RULE)
json.dump(exp, open(out + "/expect.json", "w"))
PY

mkdir -p "$tmp/small" "$tmp/big"
python3 "$tmp/gen.py" "$tmp/small" 4000
check "generator writes the small logs" $?

"$ttmem" analyze-log --json --top 50 "$tmp/small/server.log" --stack-log "$tmp/small/trace.log" \
    >"$tmp/small.json" 2>"$tmp/small.err"
check "analyze-log --stack-log exits 0 ($(head -c 300 "$tmp/small.err"))" $?
python3 - "$tmp/small/expect.json" "$tmp/small.json" "$tmp/small.err" <<'PY'
import json, re, sys
exp = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))
err = open(sys.argv[3]).read()
line = [l for l in err.splitlines() if l.startswith("Stacks ")]
assert len(line) == 1, err
m = re.search(r"([\d,]+) attached to events, ([\d,]+) matched no event, ([\d,]+) of processes "
              r"the server log does not name skipped; ([\d,]+) events had no record", line[0])
assert m, line[0]
num = lambda s: int(s.replace(",", ""))
assert num(m.group(1)) == exp["attached"], (line[0], exp)
assert num(m.group(2)) == 0, line[0]
assert num(m.group(3)) == exp["skipped"], (line[0], exp)
assert num(m.group(4)) == exp["no_record"], (line[0], exp)
assert "damaged: 1 blocks cut short, 0 bad blocks, 1 garbage lines" in line[0], line[0]
assert "stack-trace log line" in err and "not part of any block" in err, err
# every finding of the traced process has a stack, the other process's none
sites = {}
for c in r["classes"].values():
    for o in c.get("offenders", []):
        for s in o.get("sites", []):
            sites.setdefault((c["class"], o["pids"][0] if o["pids"] else 0), set()).add(s["stack"])
assert sites.get(("excess_free", 4242)), sites
assert 0 not in sites[("excess_free", 4242)], sites
assert sites.get(("unknown_free", 4242)), sites
assert 0 not in sites[("unknown_free", 4242)], sites
# the excess frees come from free_twice, the unknown frees from free_unknown: distinct paths
assert not (sites[("excess_free", 4242)] & sites[("unknown_free", 4242)]), sites
assert r["classes"]["excess_free"]["count"] == exp["paths"]["free_twice()"], r["classes"]
if "stacks" in r:  # what the ids mean: TEXT frames with the function as the log printed it
    stacks = {s["id"]: s for s in r["stacks"]}
    fn = lambda sid: [f.get("function") for f in stacks[sid]["frames"]]
    for sid in sites[("excess_free", 4242)]:
        assert fn(sid)[1] == "free_twice()+0x1c", fn(sid)
        assert stacks[sid]["frames"][1]["kind"] == "text", stacks[sid]
    for sid in sites[("unknown_free", 4242)]:
        assert fn(sid)[1] == "free_unknown()+0x1c", fn(sid)
    assert not any("old_run" in (f or "") for s in stacks.values() for f in fn(s["id"]))
PY
check "small logs: the generator's stacks on the right findings, one summary line" $?

# compressed logs read as they are (a build with zlib): the same accounting
if ldd "$ttmem" 2>/dev/null | grep -q 'libz\.so'; then
    gzip -c "$tmp/small/server.log" >"$tmp/small/server.log.gz"
    gzip -c "$tmp/small/trace.log" >"$tmp/small/trace.log.gz"
    "$ttmem" analyze-log "$tmp/small/server.log.gz" --stack-log "$tmp/small/trace.log.gz" >"$tmp/gz.txt" 2>&1
    check "analyze-log of .gz logs exits 0" $?
    "$ttmem" analyze-log "$tmp/small/server.log" --stack-log "$tmp/small/trace.log" >"$tmp/plain.txt" 2>&1
    [ "$(grep '^Stacks' "$tmp/gz.txt" | sed 's/^[^:]*://')" = "$(grep '^Stacks' "$tmp/plain.txt" | sed 's/^[^:]*://')" ]
    check "the .gz logs give the plain logs' Stacks line" $?
fi

# a server log that stops early: the trace log is still read to its end, and every record of
# the run is either attached or counted as matching nothing
head -n 3000 "$tmp/small/server.log" >"$tmp/small/head.log"
"$ttmem" analyze-log "$tmp/small/head.log" --stack-log "$tmp/small/trace.log" >"$tmp/head.txt" 2>&1
check "analyze-log of a shorter server log exits 0" $?
python3 - "$tmp/small/expect.json" "$tmp/head.txt" <<'PY'
import json, re, sys
exp = json.load(open(sys.argv[1]))
line = [l for l in open(sys.argv[2]).read().splitlines() if l.startswith("Stacks ")][0]
m = re.search(r"([\d,]+) attached to events, ([\d,]+) matched no event", line)
num = lambda s: int(s.replace(",", ""))
attached, unmatched = num(m.group(1)), num(m.group(2))
assert unmatched > 0 and attached + unmatched == exp["attached"], (line, exp)
assert "damaged: 1 blocks cut short" in line, line
PY
check "a shorter server log: every record of the run accounted for" $?

# the stack-trace log alone: its own events, with their stacks
"$ttmem" analyze-log --json --stack-log "$tmp/small/trace.log" >"$tmp/alone.json" 2>"$tmp/alone.err"
check "analyze-log --stack-log alone exits 0" $?
python3 - "$tmp/small/expect.json" "$tmp/alone.json" "$tmp/alone.err" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))
err = open(sys.argv[3]).read()
# the earlier run's records are events too (its own pid), alone nothing tells them apart
assert r["totals"]["events"] == exp["attached"] + exp["skipped"], (r["totals"], exp)
assert "events with a stack" in err, err
PY
check "the stack-trace log alone is analysed as its own events" $?

# a stack-trace log given as the server log: one line, exit 1
"$ttmem" analyze-log "$tmp/small/trace.log" >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q "stack-trace log, not a server log" "$tmp/e"
check "a stack-trace log as the server log is refused in one line (rc=$rc: $(cat "$tmp/e"))" $?
# a server log given as the stack-trace log: every event without a record, and a note
"$ttmem" analyze-log "$tmp/small/server.log" --stack-log "$tmp/small/server.log" >"$tmp/o" 2>&1
check "a server log as the stack-trace log still gives the report" $?
grep -q "no stack-trace records in" "$tmp/o"
check "... and says it holds no stack-trace records" $?
"$ttmem" analyze-log "$tmp/small/server.log" --stack-log "$tmp/nope.log" >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc -eq 1 ] && grep -q "cannot open" "$tmp/e"
check "a missing stack-trace log is one line (rc=$rc)" $?

bad() { # description, expected-substring, args...
    local what=$1 want=$2
    shift 2
    "$ttmem" "$@" >"$tmp/o" 2>"$tmp/e" </dev/null
    local rc=$?
    [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q "$want" "$tmp/e"
    st=$?; check "$what (rc=$rc, stderr: $(cat "$tmp/e"))" $st
}
bad "two stack-trace logs" "given twice" analyze-log --stack-log a --stack-log b c
bad "both from standard input" "cannot both be standard input" analyze-log --stack-log - -
bad "--stack-log without its value" "missing its value" analyze-log --stack-log

# the 167,000-line case: streaming, bounded memory (the trace log is read ahead in a window,
# never whole: the process stays far below the logs' size)
python3 "$tmp/gen.py" "$tmp/big" 170000
check "generator writes the big logs" $?
python3 - "$ttmem" "$tmp/big" <<'PY'
import json, os, re, subprocess, sys
ttmem, d = sys.argv[1], sys.argv[2]
exp = json.load(open(d + "/expect.json"))
trace = os.path.getsize(d + "/trace.log")

def run(args):  # (stdout, peak RSS in bytes) of one run
    with open(d + "/out", "w") as out:
        p = subprocess.Popen([ttmem, "analyze-log"] + args, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, open(d + "/out").read()[-2000:]
    return open(d + "/out").read(), ru.ru_maxrss * 1024

# the baseline, measured in the same run: the server log alone
_, base = run([d + "/server.log"])
text, rss = run([d + "/server.log", "--stack-log", d + "/trace.log"])
line = [l for l in text.splitlines() if l.startswith("Stacks ")][0]
m = re.search(r"([\d,]+) attached to events", line)
assert int(m.group(1).replace(",", "")) == exp["attached"], (line, exp)
assert trace > 40 << 20, trace
# the trace log costs far less than its size: it is never held whole
assert rss - base < trace / 3, (rss, base, trace)
print("big logs: %d MB of stack-trace log, %d MB peak RSS (%d MB without it)"
      % (trace >> 20, rss >> 20, base >> 20))
PY
check "170,000 events: every stack attached, memory bounded" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
