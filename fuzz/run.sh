#!/usr/bin/env bash
# fuzz/run.sh — runs one libFuzzer target (built with -DTTM_FUZZ=ON) over its checked-in seed
# corpus fuzz/corpus/NAME and regression inputs fuzz/regressions/NAME, with its dictionary
# fuzz/dict/NAME.dict if there is one. The checked-in files are only read: the inputs libFuzzer
# adds go to a work directory next to the binary (work/NAME/new), which later runs resume from
# unless --fresh empties it; a crashing input is saved there as work/NAME/crash-* (copy it into
# fuzz/regressions/NAME to make it a regression input).
#
# usage: fuzz/run.sh [--fresh] BINARY NAME [libFuzzer options...]
#   e.g. fuzz/run.sh build-fuzz/fuzz/fuzz_ring_libfuzzer ring -runs=10000000
set -eu
fresh=0
if [ "${1:-}" = "--fresh" ]; then
  fresh=1
  shift
fi
if [ $# -lt 2 ]; then
  echo "usage: fuzz/run.sh [--fresh] BINARY NAME [libFuzzer options...]" >&2
  exit 2
fi
bin=$1 name=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
[ -d "$src/corpus/$name" ] || { echo "fuzz/run.sh: no corpus $src/corpus/$name" >&2; exit 2; }
work=$(cd "$(dirname "$bin")" && pwd)/work/$name
[ "$fresh" = 1 ] && rm -rf "$work/new"
mkdir -p "$work/new"
dirs=("$work/new" "$src/corpus/$name")
[ -d "$src/regressions/$name" ] && dirs+=("$src/regressions/$name")
opts=(-artifact_prefix="$work/" -print_final_stats=1)
[ -f "$src/dict/$name.dict" ] && opts+=(-dict="$src/dict/$name.dict")
exec "$bin" "${opts[@]}" "$@" "${dirs[@]}"
