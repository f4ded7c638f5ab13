#!/usr/bin/env bash
# Python frames (issue 11): tests/stacks/py_sites.py reports through libttmem by ctypes; under
# `ttmem record --stacks=python --json` the leak and the unknown free must show the script's
# own frames — its .py file, the function and the line of the call, then the calling function
# main at its line — interleaved with the native ones; with --stacks (native only) no Python
# frame appears.
set -u
. "$(dirname "$0")/lib/stacks.sh"
lib="$build/libttmem.so"
script="$sources/py_sites.py"
# a sanitizer build's libttmem needs the sanitizer runtimes loaded first in the (uninstrumented)
# interpreter
py=(python3)
rt=$(ldd "$lib" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ {printf "%s ", $3}')
[ -n "$rt" ] && py=(env LD_PRELOAD="$rt" ASAN_OPTIONS=detect_leaks=0 python3)

rec --stacks=python --json -- "${py[@]}" "$script" "$lib" \
    >"$tmp/py.json" 2>"$tmp/err"
check "record --stacks=python returns the script's 0 (got $?; $(head -c 300 "$tmp/err"))" $?
python3 - "$tmp/py.json" "$sources" <<'PY'
import sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[2]])
def py_frames(stack_id):
    return [f for f in (r.frames(stack_id) or []) if f["kind"] == "python"]
def check(what, stack_id, func, marker, caller_marker):
    fr = py_frames(stack_id)
    if not fr or not r.frame_is(fr[0], func, marker, None, kind="python"):
        r.fail("%s: the innermost Python frame is not %s at %s:%d; %s"
               % (what, func, *r.marker(marker), r.show(stack_id)))
    elif len(fr) < 2 or not r.frame_is(fr[1], "main", caller_marker, None, kind="python"):
        r.fail("%s: main at %s:%d does not call it; %s"
               % (what, *r.marker(caller_marker), r.show(stack_id)))
    all_fr = r.frames(stack_id) or []
    if all_fr and all_fr[0]["kind"] != "native":
        r.fail("%s: the innermost frame is not the native call into libttmem's caller; %s"
               % (what, r.show(stack_id)))
leaks = [l for l in r.doc["leaks"] if int(l["addr"], 16) == 0x60001000]
if len(leaks) != 1:
    r.fail("the leak at 0x60001000 is not listed: %s" % r.doc["leaks"])
else:
    check("leak", leaks[0]["stack"], "py_leak", "py_leak", "py_main_leak")
o = r.offender("unknown_free", 0x60003000)
if o is not None:
    if not o["sites"]:
        r.fail("unknown free: no site")
    else:
        check("unknown free", o["sites"][0]["stack"], "py_unknown", "py_unknown",
              "py_main_unknown")
sys.exit(r.done())
PY
check "the script's frames: py_sites.py, function and line of each call, then main" $?

rec --stacks --json -- "${py[@]}" "$script" "$lib" \
    >"$tmp/native.json" 2>/dev/null
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["stacks"], "no stacks"
kinds = {f["kind"] for s in r["stacks"] for f in s["frames"]}
assert kinds == {"native"}, kinds
' "$tmp/native.json"
check "--stacks (native): native frames only" $?

echo "stacks_python: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
