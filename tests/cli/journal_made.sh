#!/usr/bin/env bash
# How the recorded command ran, kept in the journal (the MADE chunk, docs/JOURNAL.md "Chunks"):
#   - `ttmem record -o run.ttmem -- CMD ARGS` appends it after its private ttmemd closed the
#     file: `ttmem report run.ttmem` (JSON "made" and "recorded", the text's Recorded line) and
#     `ttmem journal` repeat the arguments as given (one with a space), the exit status, the
#     times and the host; record's own JSON carries the same "recorded";
#   - a command with a 700-byte argument: "made"'s command is the whole of it in both documents;
#   - a command killed by a signal: the signal, exit status 128 + N;
#   - a journal without MADE (ttmem simulate --journal): no "recorded", no Recorded line,
#     "made"'s command and exit status null;
#   - the reader written from the document (lib/journal_read.py) reads the file whole: a chunk
#     kind it does not know is skipped, not damage;
#   - an append that fails (a file size limit put on record during the run: EFBIG): one line,
#     record still exits with the command's status, the journal reads as the daemon left it;
#   - a journal record cannot write (a non-root record, the file made read-only by the
#     command): one line, the same status, the journal intact.
set -u
build=$(cd "$1" && pwd)
ttmem="$build/ttmem"
simproc="$build/ttmem-simproc"
lib="$(dirname "$0")/lib"
. "$lib/check.sh"
. "$lib/made.sh"
tmp=$(mktemp -d /tmp/ttmem-jm.XXXXXX)
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/no-shm"
export TTMEM_SHM_DIR="$tmp/no-shm"
version=$("$ttmem" --version | awk '{print $2}')
host=$(hostname)

# ---- a command that exits 3, with an argument holding a space ---------------------------------
before=$(date +%s%N)
(cd "$tmp" && "$ttmem" record -o run.ttmem --json -- sh -c '"$0" --scenario llama; exit 3' \
    "$simproc" "two words" >"$tmp/rec.json" 2>"$tmp/rec.err")
rc=$?
after=$(date +%s%N)
[ "$rc" -eq 3 ]; check "record exits with the command's status 3 (got $rc)" $?
grep -q "^ttmem: journal written to run.ttmem" "$tmp/rec.err" && ! grep -q "cannot add" "$tmp/rec.err"
check "record wrote the journal and added its record without a word ($(tr '\n' ' ' <"$tmp/rec.err"))" $?

"$ttmem" report "$tmp/run.ttmem" --json >"$tmp/rep.json" 2>"$tmp/rep.err"
check "ttmem report run.ttmem --json runs ($(head -c 300 "$tmp/rep.err"))" $?
"$ttmem" report "$tmp/run.ttmem" >"$tmp/rep.txt" 2>&1
check "ttmem report run.ttmem (text) runs" $?
"$ttmem" journal --json "$tmp/run.ttmem" >"$tmp/jn.json" 2>&1
check "ttmem journal --json runs" $?
"$ttmem" journal "$tmp/run.ttmem" >"$tmp/jn.txt" 2>&1
check "ttmem journal runs" $?
python3 "$lib/journal_read.py" "$tmp/run.ttmem" >"$tmp/read.json"
check "the document's reader reads the journal" $?

python3 - "$tmp" "$simproc" "$version" "$host" "$before" "$after" <<'PY'
import json, sys
tmp, simproc, version, host, before, after = sys.argv[1:7]
before, after = int(before), int(after)
rec = json.load(open(f"{tmp}/rec.json"))
rep = json.load(open(f"{tmp}/rep.json"))
jn = json.load(open(f"{tmp}/jn.json"))["files"][0]
rd = json.load(open(f"{tmp}/read.json"))
fails = []
def want(ok, what):
    if not ok:
        fails.append(what)
argv = ["sh", "-c", '"$0" --scenario llama; exit 3', simproc, "two words"]
r = rep.get("recorded")
want(r is not None, "the report has no 'recorded'")
r = r or {}
want(r.get("argv") == argv, f"argv {r.get('argv')!r}")
want(r.get("command") == " ".join(argv), f"command {r.get('command')!r}")
want(r.get("exit_status") == 3 and r.get("exit_code") == 3 and r.get("signal") is None
     and r.get("core_dumped") is False, f"status {r}")
want(before <= r.get("start_ns", 0) <= r.get("end_ns", 0) <= after,
     f"times {before} <= {r.get('start_ns')} <= {r.get('end_ns')} <= {after}")
want(0 < r.get("run_ns", 0) <= after - before, f"run_ns {r.get('run_ns')}")
want(r.get("host") == host and r.get("ttmem_version") == version, f"host/version {r}")
want(r.get("start", "").endswith("Z") and r.get("end", "").endswith("Z"), "start/end as UTC text")
# "made" is this document's (its time now), with the command the document is the run of
m = rep["made"]
want(m["command"] == " ".join(argv) and m["exit_status"] == 3, f"made {m}")
want(m["time_ns"] >= r.get("end_ns", 0), f"made.time_ns {m['time_ns']} before the run ended")
# record's document says the same of the run
want(rec.get("recorded") == r, f"record's recorded {rec.get('recorded')} vs the journal's {r}")
want(rec["made"]["command"] == m["command"] and rec["made"]["exit_status"] == 3, "record's made")
# ttmem journal shows the same object
want(jn.get("recorded") == r, f"ttmem journal's recorded {jn.get('recorded')}")
made_chunks = [c for c in jn["chunks"] if c["kind"] == "MADE"]
want(len(made_chunks) == 1 and made_chunks[0]["count"] == 1, f"chunks {jn['chunks']}")
want(jn["damage"]["bad_blocks"] == 0 and not jn["damage"]["truncated"], f"damage {jn['damage']}")
# the reader from the document: kind 6 is a chunk like any other, nothing is damaged
want(rd["bad_blocks"] == 0 and not rd["truncated"], f"document reader: {rd['bad_blocks']} bad")
want(rd["counts"]["chunk_kinds"].get("6", [0])[0] == 1, f"kinds {rd['counts']['chunk_kinds']}")
want(rd["blocks"] == jn["blocks"], f"blocks {rd['blocks']} vs {jn['blocks']}")
if fails:
    print("\n".join(fails))
    sys.exit(1)
PY
check "report, journal and record agree on how the command ran" $?
same_report "$tmp/rec.json" "$tmp/rep.json"
check "record's JSON and the journal's report differ only in 'made'" $?
line="Recorded    \`sh -c \"\$0\" --scenario llama; exit 3 $simproc two words\` on $host at "
grep -qF "$line" "$tmp/rep.txt" && grep -q "exit status 3 (ran [0-9.]* [ms]*, ttmem $version)$" "$tmp/rep.txt"
check "the report's text has the Recorded line ($(grep '^Recorded' "$tmp/rep.txt"))" $?
[ "$(grep -c '^Recorded ' "$tmp/rep.txt")" -eq 1 ] && [ "$(tail -1 "$tmp/rep.txt" | cut -c1-12)" = "Recorded    " ]
check "one Recorded line, the report's last" $?
grep -qF "$line" "$tmp/jn.txt" && grep -q "^Chunks .*MADE 1 (" "$tmp/jn.txt"
check "ttmem journal shows the Recorded line and the MADE chunk" $?

# ---- a long command: made's command is the whole of it, in record's document and the report's --
long=$(printf '%0700d' 7)
(cd "$tmp" && "$ttmem" record -o long.ttmem --json -- sh -c 'exit 0' "$long" >"$tmp/long.json" 2>/dev/null)
"$ttmem" report "$tmp/long.ttmem" --json 2>/dev/null >"$tmp/long.rep"
python3 - "$tmp/long.json" "$tmp/long.rep" "$long" <<'PY'
import json, sys
rec, rep = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
want = "sh -c exit 0 " + sys.argv[3]
ok = rec["made"]["command"] == rep["made"]["command"] == rep["recorded"]["command"] == want
sys.exit(0 if ok and rep["recorded"]["argv"][-1] == sys.argv[3] else 1)
PY
check "a 700-byte argument: made's command whole in record's document and the journal's report" $?

# ---- a command killed by a signal ------------------------------------------------------------
(cd "$tmp" && "$ttmem" record -o sig.ttmem -- sh -c '"$0" --scenario llama; kill -TERM $$' \
    "$simproc" >/dev/null 2>"$tmp/sig.err")
rc=$?
[ "$rc" -eq 143 ]; check "record of a command killed by SIGTERM exits 143 (got $rc)" $?
"$ttmem" report "$tmp/sig.ttmem" --json 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)["recorded"]
sys.exit(0 if r["signal"] == 15 and r["exit_code"] is None and r["exit_status"] == 143 else 1)'
check "the journal's record names the signal" $?
"$ttmem" report "$tmp/sig.ttmem" 2>/dev/null | grep -q "^Recorded .*, killed by signal 15, exit status 143 (ran "
check "the text says killed by signal 15" $?

# ---- a journal without MADE says nothing of a command --------------------------------------------
"$ttmem" simulate --scenario llama --journal "$tmp/sim.ttmem" >/dev/null 2>&1
check "simulate --journal writes a journal" $?
"$ttmem" report "$tmp/sim.ttmem" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if "recorded" not in d and d["made"]["command"] is None and d["made"]["exit_status"] is None else 1)'
check "a report of a journal without MADE: no recorded, made's command null" $?
! "$ttmem" report "$tmp/sim.ttmem" 2>&1 | grep -q "^Recorded"
check "its text has no Recorded line" $?
"$ttmem" journal --json "$tmp/sim.ttmem" | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)["files"][0]["recorded"] is None else 1)'
check "ttmem journal --json: recorded null" $?
! "$ttmem" journal "$tmp/sim.ttmem" | grep -q "^Recorded"
check "ttmem journal: no Recorded line" $?

# ---- the append fails: a file size limit put on record while the command runs -------------------
# The command lowers record's own RLIMIT_FSIZE (prlimit on its parent): record's append then
# fails with EFBIG while the private ttmemd, another process, writes the journal as usual.
# record's stdout is /dev/null and its stderr a pipe: the limit applies to regular files only.
if command -v prlimit >/dev/null 2>&1; then
    "$ttmem" record -o "$tmp/big.ttmem" -- sh -c \
        'prlimit --pid $PPID --fsize=1 && "$0" --scenario llama; exit 5' "$simproc" \
        2>&1 >/dev/null | cat >"$tmp/big.err"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 5 ]; check "a failed append: record still exits with the command's 5 (got $rc)" $?
    n=$(grep -c "cannot add the command and its exit status to the journal" "$tmp/big.err")
    [ "$n" -eq 1 ] && grep -q "File too large (the journal is kept without them)" "$tmp/big.err"
    check "a failed append is one line naming why ($(tr '\n' ' ' <"$tmp/big.err"))" $?
    "$ttmem" journal --json "$tmp/big.ttmem" >"$tmp/big.json" 2>&1
    check "the journal still reads" $?
    python3 - "$tmp/big.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["files"][0]
ok = (f["recorded"] is None and f["damage"]["bad_blocks"] == 0 and not f["damage"]["truncated"]
      and f["records"]["events"] > 0 and all(c["kind"] != "MADE" for c in f["chunks"]))
if not ok:
    print(f)
sys.exit(0 if ok else 1)
PY
    check "the journal is as the daemon left it: its events, no damage, no MADE" $?
    "$ttmem" report "$tmp/big.ttmem" >/dev/null 2>&1
    check "ttmem report reads it" $?
else
    echo "note: no prlimit here: the failed append case is skipped"
fi

# ---- a journal that record cannot write to (read-only, as a user that is not root) --------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 &&
    setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$ttmem"; then
    mkdir "$tmp/ro" && chown 65534:65534 "$tmp/ro"
    (cd "$tmp/ro" && TMPDIR="$tmp/ro" setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$ttmem" record -o ro.ttmem -- sh -c '"$0" --scenario llama; chmod 0444 ro.ttmem; exit 4' \
        "$simproc" >/dev/null 2>"$tmp/ro.err")
    rc=$?
    [ "$rc" -eq 4 ]; check "a read-only journal: record exits with the command's 4 (got $rc)" $?
    [ "$(grep -c "cannot add the command" "$tmp/ro.err")" -eq 1 ] && grep -q "Permission denied" "$tmp/ro.err"
    check "a read-only journal is one line ($(tr '\n' ' ' <"$tmp/ro.err"))" $?
    "$ttmem" journal --json "$tmp/ro/ro.ttmem" | python3 -c '
import json, sys
f = json.load(sys.stdin)["files"][0]
sys.exit(0 if f["recorded"] is None and f["damage"]["bad_blocks"] == 0 and f["records"]["events"] > 0 else 1)'
    check "the read-only journal reads whole, without MADE" $?
else
    echo "note: not root or no setpriv (or the build is not readable by nobody): the read-only case is skipped"
fi

echo "journal_made.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
