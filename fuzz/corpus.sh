#!/usr/bin/env bash
# fuzz/corpus.sh — the seed corpora fuzz/corpus/NAME/: every fuzz target's built-in seeds,
# which its ttm__fuzz_seeds() makes with the real encoders (HELLOs and replies sent through
# the real protocol code, rings filled by the real producer, snapshots, queries and errors from
# the snapshot encoder, legacy messages from the legacy encoder, log lines from the log
# formatters), written out by `fuzz_NAME --write-corpus`; for ttshm and ttshm_reap also the
# regions that tests/integration/shm_writer.py writes the way the runtime lays them out.
#
# usage: fuzz/corpus.sh BUILD_DIR           rewrites fuzz/corpus/*/ (after a format change)
#        fuzz/corpus.sh --check BUILD_DIR   fails when the checked-in corpus differs from what
#                                           the encoders make now (ctest fuzz.corpus)
set -eu
check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi
[ $# -eq 1 ] || { echo "usage: fuzz/corpus.sh [--check] BUILD_DIR" >&2; exit 2; }
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for c in "$src"/fuzz_*.c; do
  name=$(basename "$c" .c)
  short=${name#fuzz_}
  bin=$build/fuzz/$name
  [ -x "$bin" ] || { echo "fuzz/corpus.sh: $bin not built" >&2; exit 2; }
  out=$tmp/$short
  "$bin" --write-corpus "$out" >/dev/null
  if [ "$short" = ttshm ] || [ "$short" = ttshm_reap ]; then
    # pid 1 is alive everywhere; 4194304 (the largest pid_max) never is: a ghost
    python3 "$src/../tests/integration/shm_writer.py" layouts "$out" 1 4194304
    for v in 1 2 3 4; do mv "$out/tt_device_10${v}_memory" "$out/region-v$v"; done
  fi
  if [ "$check" = 1 ]; then
    if ! diff -r "$out" "$src/corpus/$short" >/dev/null 2>&1; then
      echo "fuzz/corpus.sh: fuzz/corpus/$short is not what the encoders make now;" \
           "regenerate it: bash fuzz/corpus.sh $build" >&2
      status=1
    fi
  else
    rm -rf "$src/corpus/$short"
    mkdir -p "$src/corpus"
    cp -r "$out" "$src/corpus/$short"
    echo "fuzz/corpus/$short: $(ls "$out" | wc -l) files"
  fi
done
exit $status
