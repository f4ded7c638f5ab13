#!/usr/bin/env bash
# ttmem record --stacks from the outside (issue 11): the call-site test programs of
# tests/stacks (a leak, a double free and an unknown free from the main program and from a
# shared library; C with and without frame pointers, C++) run under `ttmem record --stacks
# --json`, and each finding must name the function, file, line and module of its call — the
# lines found by the SITE markers of the sources, the callers up to main, the scope and phase
# names. Then the text report of the same program against its JSON, --stack-depth, a run
# without stacks, and bad flags.
set -u
. "$(dirname "$0")/lib/stacks.sh"

# check_c VARIANT: the C program built with (fp) or without (nofp) frame pointers
check_c() {
    local v=$1
    rec --stacks --json -- "$progs/ttm_sites_$v" >"$tmp/$v.json" 2>"$tmp/$v.err"
    check "$v: record --stacks returns the program's 0 (got $?; $(head -c 300 "$tmp/$v.err"))" $?
    python3 - "$tmp/$v.json" "$sources" "ttm_sites_$v" "libttm_sites_lib_$v.so" <<'PY'
import sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[2]])
exe, lib = sys.argv[3], sys.argv[4]
M, L = 0x10000000, 0x20000000
r.leak(M + 0x1000, "main_leak", "main_leak", exe, phase="main")
r.site("double_free", M + 0x2000, "main_double_free", "main_double", exe,
       release=("main_double_free", "main_release"), phase="main")
r.site("unknown_free", M + 0x3000, "main_unknown_free", "main_unknown", exe, phase="main")
r.leak(L + 0x1000, "lib_leak", "lib_leak", lib, scope="sites.lib", phase="lib")
r.site("double_free", L + 0x2000, "lib_double_free", "lib_double", lib,
       release=("lib_double_free", "lib_release"), scope="sites.lib", phase="lib")
r.site("unknown_free", L + 0x3000, "lib_unknown_free", "lib_unknown", lib, scope="sites.lib",
       phase="lib")
# every native frame of every stack is symbolized or says why not (module + offset)
for s in r.doc["stacks"]:
    for f in s["frames"]:
        if f["kind"] == "native" and not f["offset"].startswith("0x"):
            r.fail("stack %d: offset %r is not hex" % (s["id"], f["offset"]))
# the breakdown: each phase and the scope hold one leak, one double free, one unknown free
rows = {(b["kind"], r.strings.get(b["name"])): b for b in r.doc["breakdown"]}
for key in (("phase", "main"), ("phase", "lib"), ("scope", "sites.lib")):
    b = rows.get(key)
    if b is None:
        r.fail("breakdown: no row %s %s (rows %s)" % (key[0], key[1], list(rows)))
        continue
    cc = b["class_count"]
    if (b["allocs"], b["leaked_count"], b["leaked_bytes"], cc["double_free"],
            cc["unknown_free"]) != (2, 1, 4096, 1, 1):
        r.fail("breakdown %s %s: %s" % (key[0], key[1], b))
if [p["text"] for p in sorted(r.doc["phases"], key=lambda p: p["ts"])
        for p in [dict(p, text=r.strings.get(p["name"]))]] != ["main", "lib"]:
    r.fail("phases: %s" % r.doc["phases"])
sys.exit(r.done())
PY
    check "$v: every finding names its function, file, line and module" $?
}
check_c fp
check_c nofp

# C++: demangled, qualified names of member functions and template instances
if [ -x "$progs/ttm_sites_cxx" ]; then
    rec --stacks --json -- "$progs/ttm_sites_cxx" >"$tmp/cxx.json" 2>"$tmp/cxx.err"
    check "c++: record --stacks returns 0 (got $?; $(head -c 300 "$tmp/cxx.err"))" $?
    python3 - "$tmp/cxx.json" "$sources" <<'PY'
import sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[2]])
exe, lib = "ttm_sites_cxx", "libttm_sites_cxx_lib.so"
M, L = 0x10000000, 0x20000000
r.leak(M + 0x1000, "ttsite::main_site<", "cxx_main_leak", exe)
r.site("double_free", M + 0x2000, "ttsite::main_site<", "cxx_main_double", exe,
       release=("ttsite::main_site<", "cxx_main_release"))
r.site("unknown_free", M + 0x3000, "ttsite::main_site<", "cxx_main_unknown", exe)
r.leak(L + 0x1000, "ttsite::LibPool::leak", "cxx_lib_leak", lib)
r.site("double_free", L + 0x2000, "ttsite::LibPool::double_free", "cxx_lib_double", lib,
       release=("ttsite::LibPool::double_free", "cxx_lib_release"))
r.site("unknown_free", L + 0x3000, "ttsite::LibPool::unknown_free", "cxx_lib_unknown", lib)
sys.exit(r.done())
PY
    check "c++: every finding names its demangled function, file, line and module" $?
else
    echo "SKIP: no C++ compiler: tests/stacks/ttm_sites_cxx was not built"
fi

# the text report of the same program agrees with its JSON
rec --stacks -- "$progs/ttm_sites_fp" >"$tmp/fp.txt" 2>"$tmp/fp.err"
check "text: record --stacks returns 0 (got $?)" $?
python3 - "$tmp/fp.json" "$tmp/fp.txt" "$sources" <<'PY'
import re, sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[3]])
text = open(sys.argv[2]).read()
lines = text.split("\n")
def at(func, marker, module):
    f, l = r.marker(marker)
    return re.compile(r"^ +at %s \(\S*/%s:%d\) \[%s\]$" % (re.escape(func), re.escape(f), l,
                                                           re.escape(module)))
def find(pattern, start=0):
    for i in range(start, len(lines)):
        if pattern.search(lines[i]):
            return i
    return -1
# the leak groups, largest first, as in the JSON, each with its innermost frame under it
i = find(re.compile(r"^Leaks by allocation site"))
if i < 0:
    r.fail("text: no 'Leaks by allocation site' section")
groups = [g for g in r.doc["leak_groups"]]
for n, g in enumerate(groups):
    j = find(re.compile(r"^  \S+ \S+ in %d buffers? \(record %d of %d\)" % (g["count"], n + 1,
                                                                          len(groups))), i)
    if j < 0:
        r.fail("text: leak group %d (%s) not listed" % (n + 1, g))
        continue
    fr = r.frames(g["stack"])
    want = "    at %s (%s:%d)" % (fr[0]["function"], fr[0]["file"], fr[0]["line"])
    if not lines[j + 1].startswith(want):
        r.fail("text: leak group %d: %r under it, not %r" % (n + 1, lines[j + 1], want))
if find(at("main_leak", "main_leak", "ttm_sites_fp")) < 0:
    r.fail("text: no frame 'at main_leak (...sites_main.c:N) [ttm_sites_fp]'")
# the double free: the second free, then the one that released the buffer
j = find(re.compile(r"^  double_free +device 0 DRAM +0x10002000"))
k = find(re.compile(r"^      freed again:$"), j) if j >= 0 else -1
m = find(re.compile(r"^      released first by:$"), k) if k >= 0 else -1
if j < 0 or k < 0 or m < 0:
    r.fail("text: the double free at 0x10002000 lacks its two stacks (%d %d %d)" % (j, k, m))
else:
    if not at("main_double_free", "main_double", "ttm_sites_fp").search(lines[k + 1]):
        r.fail("text: freed again at: %r" % lines[k + 1])
    if not at("main_double_free", "main_release", "ttm_sites_fp").search(lines[m + 1]):
        r.fail("text: released at: %r" % lines[m + 1])
# By phase / By scope: the same figures as the JSON breakdown
for kind, title in (("phase", "By phase"), ("scope", "By scope")):
    i = find(re.compile(r"^%s" % title))
    if i < 0:
        r.fail("text: no %s section" % title)
        continue
    for b in r.doc["breakdown"]:
        if b["kind"] != kind:
            continue
        name = r.strings.get(b["name"])
        j = find(re.compile(r"^  %s +%d +%d +%d " % (re.escape(name), b["allocs"],
                                                   b["anomalies"], b["leaked_count"])), i)
        if j < 0:
            r.fail("text: %s row %s %s not in the text" % (title, name, b))
sys.exit(r.done())
PY
check "text: leak groups, the double free's two stacks and the breakdown agree with the JSON" $?

# --stack-depth N: N frames captured (JSON) and shown (text)
rec --stacks --stack-depth 2 --json -- "$progs/ttm_sites_fp" >"$tmp/d2.json" 2>/dev/null
check "--stack-depth 2: returns 0" $?
python3 - "$tmp/d2.json" "$sources" <<'PY'
import sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[2]])
if not r.doc["stacks"]:
    r.fail("no stacks")
for s in r.doc["stacks"]:
    if len(s["frames"]) > 2:
        r.fail("--stack-depth 2: %s" % r.show(s["id"]))
l = r.leak(0x10001000, "main_leak", "main_leak", "ttm_sites_fp", phase="main")
if l is not None and len(r.frames(l["stack"])) != 2:
    r.fail("--stack-depth 2: main_leak's stack %s" % r.show(l["stack"]))
sys.exit(r.done())
PY
check "--stack-depth 2: every stack has at most 2 frames, main_leak's exactly main_leak <- main" $?
rec --stacks --stack-depth 1 -- "$progs/ttm_sites_fp" >"$tmp/d1.txt" 2>/dev/null
awk '/^ +at /{n++; next} {if (n > 1) bad = 1; n = 0} END {exit bad || n > 1}' "$tmp/d1.txt"
check "--stack-depth 1: one frame under each site in the text" $?
grep -Eq "^ +at main_leak \(" "$tmp/d1.txt"; check "--stack-depth 1: the frame is the innermost" $?

# the environment the program gets
rec --stacks=python --stack-depth 7 -- sh -c 'echo "$TTMEM_STACKS $TTMEM_STACK_DEPTH"' \
    >"$tmp/env.txt" 2>/dev/null
[ "$(head -1 "$tmp/env.txt")" = "python 7" ]
check "--stacks=python --stack-depth 7 sets TTMEM_STACKS=python TTMEM_STACK_DEPTH=7 ($(head -1 "$tmp/env.txt"))" $?
rec --stacks -- sh -c 'echo "${TTMEM_STACKS-unset} ${TTMEM_STACK_DEPTH-unset}"' >"$tmp/env.txt" 2>/dev/null
[ "$(head -1 "$tmp/env.txt")" = "native unset" ]
check "--stacks sets TTMEM_STACKS=native and leaves the depth to the library ($(head -1 "$tmp/env.txt"))" $?
env -u TTMEM_STACKS TMPDIR="$priv" "$ttmem" record -- sh -c 'echo "${TTMEM_STACKS-unset}"' \
    >"$tmp/env.txt" 2>/dev/null
[ "$(head -1 "$tmp/env.txt")" = "unset" ]; check "without --stacks TTMEM_STACKS is not set" $?

# without --stacks: no stacks, no frames in the text; the phases still break the report down
env -u TTMEM_STACKS TMPDIR="$priv" "$ttmem" record --json -- "$progs/ttm_sites_fp" >"$tmp/off.json" 2>/dev/null
check "no --stacks: returns 0" $?
python3 - "$tmp/off.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["stacks"] == [] and r["modules"] == [], (r["stacks"], r["modules"])
sites = [s for c in r["classes"].values() for o in c["offenders"] for s in o["sites"]]
assert sites and all(s["stack"] == 0 and s["phase"] != 0 for s in sites), sites
assert all(l["stack"] == 0 for l in r["leaks"]), r["leaks"]
assert {b["kind"] for b in r["breakdown"]} == {"phase", "scope"}, r["breakdown"]
PY
check "no --stacks: no stacks; sites carry only the phase; the breakdown is there" $?
env -u TTMEM_STACKS TMPDIR="$priv" "$ttmem" record -- "$progs/ttm_sites_fp" >"$tmp/off.txt" 2>/dev/null
! grep -Eq "^ +at " "$tmp/off.txt"; check "no --stacks: no frames in the text" $?
grep -q "^By phase" "$tmp/off.txt"; check "no --stacks: the text still breaks down by phase" $?

# bad flags: one line, exit 2
for bad in "--stacks=perl" "--stack-depth 0" "--stack-depth 65" "--stack-depth x"; do
    # shellcheck disable=SC2086
    rec $bad -- true >/dev/null 2>"$tmp/err"
    st=$?
    [ $st -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
    check "record $bad: exit 2 with one line (got $st: $(cat "$tmp/err"))" $?
done
[ -z "$(ls -A "$priv")" ]; check "no private directory left behind" $?

echo "stacks: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
