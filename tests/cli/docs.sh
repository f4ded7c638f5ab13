#!/usr/bin/env bash
# The generated blocks of the docs (docs/REPORT_SCHEMA.md's records, docs/DAEMON.md's snapshot
# sections, docs/METRICS.md's table of every family) are what the record tables make now: tools/gendocs writes a fresh copy, and any
# difference fails with the diff and the command that regenerates the docs.
set -u
build=$1
src=$2
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$build/tools/gendocs" "$src/docs" "$tmp"; check "gendocs runs" $?
for f in REPORT_SCHEMA.md DAEMON.md METRICS.md; do
    grep -q "<!-- generated: " "$src/docs/$f"; check "$f has a generated block" $?
    if diff -u "$src/docs/$f" "$tmp/$f"; then
        check "$f is what the tables make" 0
    else
        check "$f is what the tables make; regenerate: $build/tools/gendocs $src/docs $src/docs" 1
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
