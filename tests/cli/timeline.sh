#!/usr/bin/env bash
# ttmem timeline (issue 12, helper C): every scenario's page rendered in a real headless
# Chromium and what it drew compared with the report of the same run (timeline_check.py); a
# journal cut short still makes a page that says what was lost; bad input gets one clear line.
set -u
build=$1
ttmem="$build/ttmem"
here=$(dirname "$0")
. "$here/lib/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v chromium >/dev/null 2>&1; then
    echo "SKIP: chromium is not installed (scripts/deps.sh installs it): the pages are not rendered"
else
    python3 "$here/timeline_check.py" "$ttmem" "$tmp/pages" >"$tmp/check.out" 2>&1
    st=$?
    tail -n 30 "$tmp/check.out"
    check "the pages render in Chromium and draw the report's numbers" $st
fi

# a journal cut at an arbitrary byte: a page of what came before, and the loss said in it
"$ttmem" simulate --scenario llama --journal "$tmp/full.ttmem" >/dev/null
size=$(stat -c %s "$tmp/full.ttmem")
head -c $((size * 2 / 3)) "$tmp/full.ttmem" >"$tmp/cut.ttmem"
"$ttmem" timeline "$tmp/cut.ttmem" >"$tmp/cut.out" 2>"$tmp/cut.err"
check "a cut journal still makes a page ($(head -c 200 "$tmp/cut.err"))" $?
[ -s "$tmp/cut.html" ]; check "default output: FILE with .html" $?
grep -q '"damage":"[^"]' "$tmp/cut.html"; check "the page says what was lost" $?

# bad input: one line each, no crash
bad() { # NAME EXPECTED-TEXT ARGS...
    local name=$1 want=$2
    shift 2
    "$ttmem" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"
    local st=$?
    [ "$st" -ne 0 ] && [ "$st" -lt 128 ]; check "$name: fails cleanly (status $st)" $?
    [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && grep -q "$want" "$tmp/bad.err"
    check "$name: one line saying '$want' ($(cat "$tmp/bad.err"))" $?
}
bad "no file" "usage" timeline
bad "missing file" "timeline:" timeline "$tmp/nothere.ttmem"
printf 'not a journal at all, just text\n' >"$tmp/text.ttmem"
bad "not a journal" "timeline:" timeline "$tmp/text.ttmem"
bad "unknown option" "unknown option" timeline --frobnicate "$tmp/full.ttmem"
bad "budget too small" "max-bytes" timeline --max-bytes 10 "$tmp/full.ttmem"
bad "unwritable output" "cannot" timeline "$tmp/full.ttmem" -o /nonexistent/dir/x.html

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
