#!/usr/bin/env bash
# ttmem export from the outside (issue 12, item 5): journals of simulator scenarios exported to
# Perfetto, SQLite and CSV and checked by tests/cli/export_check.py against the report of the
# same run (`ttmem simulate --json`, which `ttmem report` of the journal equals: PLAN12 rule 7);
# stdout, several runs, a cut and a corrupted journal, and bad input (one line each).
set -u
build=$1
src=${2:-$(dirname "$0")/../..}
ttmem="$build/ttmem"
here=$(dirname "$0")
. "$here/lib/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# every format of a few scenarios, against the report's numbers
for sc in leaks:identity multi-process:legacy reuse:identity invalid:identity mesh8:legacy \
          llama:identity; do
    s=${sc%%:*} c=${sc##*:}
    j="$tmp/$s-$c.ttmem"
    "$ttmem" simulate --scenario "$s" --client "$c" --journal "$j" --json >"$tmp/$s-$c.json"
    check "simulate $s --journal" $?
    for f in perfetto sqlite csv; do
        "$ttmem" export "$j" --format "$f" 2>"$tmp/err"
        st=$?; check "export $s $f exits 0 ($(cat "$tmp/err"))" $st
        [ ! -s "$tmp/err" ]; check "export $s $f prints nothing" $?
    done
    python3 "$here/export_check.py" journal "$tmp/$s-$c.json" "$tmp/$s-$c" \
        "$src/docs/EXPORT.md" >"$tmp/out" 2>&1
    st=$?; check "export_check $s $c: $(cat "$tmp/out")" $st
done
ls "$tmp" | grep -q '\.tmp' && st=1 || st=0
check "no temporary file left behind" $st

# stdout and -o give the same bytes as the default output
j="$tmp/leaks-identity.ttmem"
for f in perfetto csv; do
    ext=$([ $f = csv ] && echo csv || echo perfetto-trace)
    "$ttmem" export "$j" --format $f -o - >"$tmp/stdout.$f"
    cmp -s "$tmp/stdout.$f" "$tmp/leaks-identity.$ext"; check "export --format $f -o - is the file" $?
done
"$ttmem" export --format csv -o "$tmp/named.csv" "$j"
cmp -s "$tmp/named.csv" "$tmp/leaks-identity.csv"; check "options before the file, -o FILE" $?
echo old >"$tmp/named.csv"
"$ttmem" export "$j" --format=csv -o "$tmp/named.csv"
cmp -s "$tmp/named.csv" "$tmp/leaks-identity.csv"; check "an existing output is replaced" $?

# two runs (two journals): each keeps its events, its processes and its devices apart
"$ttmem" simulate --scenario multi-process --journal "$tmp/a.ttmem" >/dev/null
"$ttmem" simulate --scenario leaks --journal "$tmp/b.ttmem" >/dev/null
"$ttmem" export "$tmp/a.ttmem" "$tmp/b.ttmem" --format sqlite -o "$tmp/ab.sqlite" 2>"$tmp/err"
check "export of two journals ($(cat "$tmp/err"))" $?
"$ttmem" export "$tmp/a.ttmem" "$tmp/b.ttmem" --format perfetto -o "$tmp/ab.pf"
check "perfetto export of two journals" $?
"$ttmem" export "$tmp/a.ttmem" --format csv -o "$tmp/a.csv"
"$ttmem" export "$tmp/b.ttmem" --format csv -o "$tmp/b.csv"
python3 - "$tmp" "$here" <<'PY'
import csv, os, sqlite3, sys
tmp, here = sys.argv[1], sys.argv[2]
sys.path.insert(0, here)
import perfetto_decode
db = sqlite3.connect(os.path.join(tmp, "ab.sqlite"))
runs = db.execute("SELECT run, host FROM meta ORDER BY run").fetchall()
assert len(runs) == 2, runs
n = [len(list(csv.reader(open(os.path.join(tmp, f))))) - 1 for f in ("a.csv", "b.csv")]
got = db.execute("SELECT run, count(*) FROM events GROUP BY run ORDER BY run").fetchall()
assert sorted(c for _, c in got) == sorted(n), (got, n)
tracks, _ = perfetto_decode.decode(open(os.path.join(tmp, "ab.pf"), "rb").read())
devs = [t["name"] for t in tracks.values() if set(t) == {"uuid", "name"}]
host = runs[0][1]
assert devs and all(d.startswith(host + " device ") for d in devs), devs
assert len(devs) == len(set(devs)) or len({runs[0][1], runs[1][1]}) == 1, devs
PY
check "two runs: meta rows, events per run, device tracks named by host" $?

# damage: a journal cut short, a block corrupted: what is readable is exported, one line says
# what was lost, exit status 0
j="$tmp/llama-identity.ttmem"
size=$(stat -c %s "$j")
head -c $((size * 6 / 10)) "$j" >"$tmp/cut.ttmem"
"$ttmem" export "$tmp/cut.ttmem" --format csv -o "$tmp/cut.csv" 2>"$tmp/err"
st=$?; check "export of a cut journal exits 0" $st
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^ttmem: export: " "$tmp/err"
check "a cut journal: one line says what was lost ($(cat "$tmp/err"))" $?
full=$(wc -l <"$tmp/llama-identity.csv") cut=$(wc -l <"$tmp/cut.csv")
[ "$cut" -gt 1 ] && [ "$cut" -lt "$full" ]; check "a cut journal: some rows, not all ($cut of $full)" $?
head -n "$cut" "$tmp/llama-identity.csv" | cmp -s - "$tmp/cut.csv"
check "a cut journal: the rows before the cut, exactly" $?
cp "$j" "$tmp/bad.ttmem"
printf 'XXXXXXXXXXXXXXXX' | dd of="$tmp/bad.ttmem" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
"$ttmem" export "$tmp/bad.ttmem" --format sqlite -o "$tmp/bad.sqlite" 2>"$tmp/err"
st=$?; check "export of a corrupted journal exits 0" $st
[ "$(wc -l <"$tmp/err")" -eq 1 ]; check "a corrupted block: one line ($(cat "$tmp/err"))" $?
python3 -c "
import sqlite3,sys; n=sqlite3.connect(sys.argv[1]).execute('select count(*) from events').fetchone()[0]
sys.exit(0 if 0 < n < int(sys.argv[2]) - 1 else 1)" "$tmp/bad.sqlite" "$full"
check "a corrupted block: the rest exported" $?

# bad input: one line on stderr, non-zero exit, no output file
bad() { # description, expected-substring, args...
    local what=$1 want=$2
    shift 2
    "$ttmem" "$@" >"$tmp/o" 2>"$tmp/e"
    local rc=$?
    [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q -- "$want" "$tmp/e"
    st=$?; check "$what (rc=$rc, stderr: $(cat "$tmp/e"))" $st
}
j="$tmp/leaks-identity.ttmem"
bad "unknown format" "unknown format 'json'" export "$j" --format json
bad "no format" "--format is required" export "$j"
bad "no journal" "no journal given" export --format csv
bad "missing journal" "nope.ttmem" export "$tmp/nope.ttmem" --format csv
echo "not a journal" >"$tmp/text.ttmem"
bad "not a journal" "text.ttmem" export "$tmp/text.ttmem" --format csv
bad "unwritable output" "cannot write $tmp/none/x.csv" export "$j" --format csv -o "$tmp/none/x.csv"
bad "sqlite to stdout" "cannot go to stdout" export "$j" --format sqlite -o -
bad "unknown option" "unknown option" export "$j" --format csv --frobnicate
bad "missing value" "missing its value" export "$j" --format
[ ! -e "$tmp/text.csv" ] && [ ! -e "$tmp/none" ]; check "no output after an error" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
