#!/usr/bin/env bash
# Module maps across dlopen/dlclose and exec (issue 11): tests/stacks/ttm_sites_dl leaks a
# buffer from libttm_dl_a.so, unloads it, leaks one from libttm_dl_b.so (most likely mapped
# where the first was), unloads it, then execs itself and leaks one from the new image. The
# report, made after the process exited, must name each leak after the module that was mapped
# when it happened, with the right function and line.
set -u
. "$(dirname "$0")/lib/stacks.sh"

rec --stacks --json -- "$progs/ttm_sites_dl" >"$tmp/r.json" 2>"$tmp/err"
check "record --stacks returns the program's 0 (got $?; $(head -c 300 "$tmp/err"))" $?
python3 - "$tmp/r.json" "$sources" <<'PY'
import sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[2]])
a = r.leak(0x30001000, "dl_leak_a", "dl_leak", "libttm_dl_a.so")
b = r.leak(0x40001000, "dl_leak_b", "dl_leak", "libttm_dl_b.so")
e = r.leak(0x50001000, "exec_leak", "exec_leak", "ttm_sites_dl")
if a and b and a["stack"] == b["stack"]:
    r.fail("the two modules' leaks share stack %d" % a["stack"])
# the two libraries are two modules, each with its own build-id
mods = {m["path"].rsplit("/", 1)[-1]: m for m in r.doc["modules"]}
for name in ("libttm_dl_a.so", "libttm_dl_b.so", "ttm_sites_dl"):
    if name not in mods or len(mods[name]["build_id"]) < 16:
        r.fail("module %s: %s" % (name, mods.get(name)))
if "libttm_dl_a.so" in mods and "libttm_dl_b.so" in mods and \
        mods["libttm_dl_a.so"]["build_id"] == mods["libttm_dl_b.so"]["build_id"]:
    r.fail("the two libraries have one build-id")
pids = {l["pid"] for l in r.doc["leaks"]}
if len(pids) != 1:
    r.fail("one process (exec keeps the pid): %s" % pids)
sys.exit(r.done())
PY
check "each leak names the module mapped when it happened, before and after dlclose and exec" $?

echo "stacks_dl: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
