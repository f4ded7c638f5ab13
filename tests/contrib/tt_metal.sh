#!/usr/bin/env bash
# contrib/tt-metal from the outside: ttmem_tt_metal.cpp compiles (g++, TT-Metal's C++20,
# -Wall -Wextra -Werror) against the transcribed TT-Metal declarations, links libttmem, and the
# driver's TT-Metal calls reach the real daemon as docs/TT-METAL.md says: buffers by unique_id,
# a mesh backing buffer on each device with its per-device buffers as views, circular buffers,
# hooked allocations left out, TT-NN op names as the scopes of each thread's allocations.
# Usage: tt_metal.sh CXX LIBTTMEM TTMEM SRCDIR [CXXFLAGS] (CXXFLAGS: a sanitizer build's flags)
set -u
cxx=$1
lib=$2
ttmem=$3
src=$4
read -r -a extra <<<"${5:-}"
. "$src/tests/cli/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-ttmetal.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$cxx" -std=c++20 -Wall -Wextra -Werror -pthread "${extra[@]}" -isystem "$src/tests/contrib" \
    -I"$src/include" -I"$src/contrib/tt-metal" -DTTMEM_TT_METAL_DECLS='<tt_metal_decls.hpp>' \
    "$src/contrib/tt-metal/ttmem_tt_metal.cpp" "$src/tests/contrib/tt_metal_driver.cpp" \
    "$lib" -Wl,-rpath,"$(dirname "$lib")" -o "$tmp/driver" 2>"$tmp/cc.err"
st=$?; check "the contrib source and the driver compile and link ($(head -c 600 "$tmp/cc.err"))" $st
[ ! -s "$tmp/cc.err" ]; check "the compiler says nothing" $?
[ $st -eq 0 ] || { echo "tt_metal.sh: $pass passed, $fail failed"; exit 1; }

# without tracking the hooks do nothing and the driver says so
env -u TTMEM -u TT_ALLOC_TRACKING_ENABLED "$tmp/driver" >/dev/null 2>"$tmp/off.err"
check "with tracking off the driver refuses (got $?)" $([ $? -eq 1 ]; echo $?)
grep -q "tracking is off" "$tmp/off.err"; check "and says why" $?

mkdir "$tmp/priv"
TMPDIR="$tmp/priv" "$ttmem" record -o "$tmp/r.json" -- "$tmp/driver" >"$tmp/out" 2>"$tmp/err"
st=$?; check "the driver under ttmem record exits 0 ($(head -c 400 "$tmp/err"))" $st
grep -q "^tt_metal_driver: done" "$tmp/out"; check "the driver ran to its end" $?

python3 - "$tmp/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = {k: v["count"] for k, v in r["classes"].items() if v["count"]}
# a, leaked, backing on 2 devices, the CB once (dispatched twice), other: 6; the hooked
# allocation and the globally allocated CB are not there
want = {"alloc_ok": 6, "free_ok": 4, "alloc_view": 2, "free_view": 2, "leaked_at_exit": 2}
assert c == want, c
strings = {s["id"]: s["text"] for s in r.get("strings", [])}
leaks = {(l["device"], l["addr"]): l for l in r["leaks"]}
assert set(leaks) == {(0, "0x20000"), (1, "0x50000")}, list(leaks)
l0, l1 = leaks[(0, "0x20000")], leaks[(1, "0x50000")]
assert (l0["obj"], l0["size"]) == (2, 2048), l0
assert (l1["obj"], l1["size"]) == (6, 512), l1
assert strings.get(l0["scope"]) == "ttnn::matmul", (l0, strings)
assert strings.get(l1["scope"]) == "ttnn::add", (l1, strings)
PY
check "the report has exactly the driver's TT-Metal events" $?
python3 - "$tmp/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["totals"]
b = t["class_bytes"]
# owning bytes: a 4096, leaked 2048, the mesh backing buffer's device-local 8192 on each of the
# 2 devices, the CB 1024 on each of 4 cores, other 512; freed: a, the backing buffer twice, the CB
assert b["alloc_ok"] == 4096 + 2048 + 2 * 8192 + 4 * 1024 + 512, b
assert b["free_ok"] == 4096 + 2 * 8192 + 4 * 1024, b
assert b["alloc_view"] == 0 and b["leaked_at_exit"] == 2048 + 512, b
assert t["live_records"] == 0, t
PY
check "bytes: the mesh buffer on each device, the CB on each core, views hold none" $?

echo "tt_metal.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
