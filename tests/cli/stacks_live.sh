#!/usr/bin/env bash
# Call sites of a running daemon (issue 11): a copy of tests/stacks/ttm_sites_fp run with
# TTMEM_STACKS=1 holds three 1 MiB buffers from hold_big and one from main_leak; then
# `ttmem dump --stacks` (each buffer's allocation site), `ttmem status --stacks` (live buffers
# by allocation site) and `ttmem top --view sites` must name those functions and lines. After
# the program exits its leaks are grouped by site; with the program's file replaced by another
# build the frames in it show module+offset (never another build's names), and with the
# original back they are symbolized again: modules are matched by build-id.
set -u
. "$(dirname "$0")/lib/stacks.sh"
ttmemd="$build/ttmemd"
sock="$tmp/d.sock"
dpid=""
hpid=""
on_exit() {
    [ -n "$hpid" ] && kill -9 "$hpid" 2>/dev/null
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    wait 2>/dev/null
}
"$ttmemd" --foreground --socket "$sock" --log-level warn 2>>"$tmp/ttmemd.log" &
dpid=$!
for _ in $(seq 1200); do [ -S "$sock.query" ] && break; sleep 0.05; done
[ -S "$sock.query" ]; check "ttmemd listens" $?

mkdir "$tmp/bin"
cp "$progs/ttm_sites_fp" "$tmp/bin/ttm_sites_fp"
mkfifo "$tmp/fifo"
TTMEM=1 TTMEM_SOCKET="$sock" TTMEM_STACKS=1 "$tmp/bin/ttm_sites_fp" hold <"$tmp/fifo" \
    >"$tmp/hold.out" 2>"$tmp/hold.err" &
hpid=$!
exec 3>"$tmp/fifo"
for _ in $(seq 1200); do grep -q . "$tmp/hold.out" && break; sleep 0.05; done
[ "$(cat "$tmp/hold.out")" = held ]
check "the holder reported its buffers ($(cat "$tmp/hold.out" "$tmp/hold.err"))" $?

# dump --stacks: every buffer with its allocation site
"$ttmem" dump --stacks --socket "$sock" >"$tmp/dump.txt" 2>&1
check "dump --stacks exits 0" $?
"$ttmem" dump --stacks --json --socket "$sock" >"$tmp/dump.json" 2>&1
check "dump --stacks --json exits 0" $?
python3 - "$tmp/dump.json" "$tmp/dump.txt" "$sources" <<'PY'
import re, sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[3]])
bufs = [b for d in r.doc["devices"] for t in d["memtypes"] for p in t["processes"]
        for b in p["buffers"]]
want = {0x10100000: "hold_big", 0x10200000: "hold_big", 0x10300000: "hold_big",
        0x10001000: "main_leak"}
got = {int(b["addr"], 16): b for b in bufs}
if set(got) != set(want):
    r.fail("dump: buffers %s" % sorted(hex(a) for a in got))
for addr, func in want.items():
    if addr in got:
        r.check_stack("dump 0x%x" % addr, got[addr]["stack"], func, func, "ttm_sites_fp")
# the text: each buffer line, then its innermost frame
lines = open(sys.argv[2]).read().split("\n")
for addr, func in want.items():
    f, l = r.marker(func)
    i = next((k for k, t in enumerate(lines) if re.match(r"^ +0x%X " % addr, t)), -1)
    if i < 0 or not re.match(r"^ +at %s \(\S*/%s:%d\) \[ttm_sites_fp\]$" % (func, f, l),
                             lines[i + 1] if i + 1 < len(lines) else ""):
        r.fail("dump text: 0x%X is not followed by its site: %r" % (addr, lines[i:i + 2]))
sys.exit(r.done())
PY
check "dump --stacks: each buffer's allocation site, JSON and text" $?

# status --stacks: live buffers by allocation site, largest first
"$ttmem" status --stacks --json --socket "$sock" >"$tmp/status.json" 2>&1
check "status --stacks --json exits 0" $?
"$ttmem" status --stacks --socket "$sock" >"$tmp/status.txt" 2>&1
check "status --stacks exits 0" $?
python3 - "$tmp/status.json" "$tmp/status.txt" "$sources" <<'PY'
import re, sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[3]])
ls = r.doc["live_sites"]
if [(s["count"], s["bytes"]) for s in ls] != [(3, 3 << 20), (1, 4096)]:
    r.fail("status: live_sites %s" % ls)
else:
    r.check_stack("live site 1", ls[0]["stack"], "hold_big", "hold_big", "ttm_sites_fp")
    r.check_stack("live site 2", ls[1]["stack"], "main_leak", "main_leak", "ttm_sites_fp")
text = open(sys.argv[2]).read()
f, l = r.marker("hold_big")
if not re.search(r"\nLive buffers by allocation site.*\n  3\.00 MiB in 3 buffers\n    at hold_big "
                 r"\(\S*/%s:%d\) \[ttm_sites_fp\]\n" % (f, l), text):
    r.fail("status text: no 'Live buffers by allocation site' led by hold_big:\n" + text)
sys.exit(r.done())
PY
check "status --stacks: live sites by bytes, hold_big then main_leak, JSON and text" $?

# top: the sites view
"$ttmem" top --once --view sites --width 160 --socket "$sock" --shm-dir "$tmp" >"$tmp/top.txt" 2>&1
check "top --once --view sites exits 0" $?
f=sites_main.c
lb=$(grep -n 'SITE:hold_big' "$sources/$f" | cut -d: -f1)
ll=$(grep -n 'SITE:main_leak' "$sources/$f" | cut -d: -f1)
grep -Eq "^ +3\.00 MiB +3 +hold_big \(\S*/$f:$lb\) \[ttm_sites_fp\]" "$tmp/top.txt"
check "top sites: 3.00 MiB in 3 buffers at hold_big first" $?
grep -Eq "^ +4\.00 KiB +1 +main_leak \(\S*/$f:$ll\) \[ttm_sites_fp\]" "$tmp/top.txt"
check "top sites: 4.00 KiB at main_leak" $?
[ "$(grep -En "hold_big \(|main_leak \(" "$tmp/top.txt" | head -1 | grep -c hold_big)" -eq 1 ]
check "top sites: the largest first" $?
grep -Eq "^ +<- main \(" "$tmp/top.txt"; check "top sites: the caller main under a site" $?
# top --json --stacks: the same live sites, symbolized, in the status document
"$ttmem" top --json --stacks --socket "$sock" --shm-dir "$tmp" >"$tmp/top.json" 2>&1
check "top --json --stacks exits 0" $?
python3 - "$tmp/top.json" "$sources" <<'PY'
import sys
from sites import Sites
r = Sites(sys.argv[1], [sys.argv[2]])
ls = r.doc.get("live_sites", [])
if [(s["count"], s["bytes"]) for s in ls] != [(3, 3 << 20), (1, 4096)]:
    r.fail("top --json --stacks: live_sites %s" % ls)
else:
    r.check_stack("top live site 1", ls[0]["stack"], "hold_big", "hold_big", "ttm_sites_fp")
    r.check_stack("top live site 2", ls[1]["stack"], "main_leak", "main_leak", "ttm_sites_fp")
sys.exit(r.done())
PY
check "top --json --stacks: live sites symbolized, hold_big then main_leak" $?
"$ttmem" top --once --stacks --socket "$sock" --shm-dir "$tmp" >"$tmp/top_bad.txt" 2>&1
[ $? -eq 2 ] && [ "$(wc -l <"$tmp/top_bad.txt")" -eq 1 ] && grep -q "is for --json" "$tmp/top_bad.txt"
check "top --stacks without --json: one line, exit 2 ($(cat "$tmp/top_bad.txt"))" $?

# the program exits: its 4 buffers are leaks, grouped by allocation site
echo >&3
exec 3>&-
wait "$hpid"
hpid=""
for _ in $(seq 600); do
    "$ttmem" status --stacks --json --socket "$sock" >"$tmp/exit.json" 2>/dev/null
    python3 -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1]))["leak_groups"]) != 2)' \
        "$tmp/exit.json" && break
    sleep 0.1
done
# another build at the program's path: its frames are not symbolized from the wrong file
cp "$progs/ttm_sites_nofp" "$tmp/bin/ttm_sites_fp"
"$ttmem" status --stacks --json --socket "$sock" >"$tmp/rebuilt.json" 2>&1
"$ttmem" status --stacks --socket "$sock" >"$tmp/rebuilt.txt" 2>&1
cp "$progs/ttm_sites_fp" "$tmp/bin/ttm_sites_fp"
"$ttmem" status --stacks --json --socket "$sock" >"$tmp/back.json" 2>&1
python3 - "$tmp/exit.json" "$tmp/rebuilt.json" "$tmp/back.json" "$tmp/rebuilt.txt" "$sources" <<'PY'
import re, sys
from sites import Sites
src = [sys.argv[5]]
r = Sites(sys.argv[1], src)
g = r.doc["leak_groups"]
if [(x["count"], x["bytes"]) for x in g] != [(3, 3 << 20), (1, 4096)]:
    r.fail("after exit: leak groups %s" % g)
else:
    r.check_stack("leak group 1", g[0]["stack"], "hold_big", "hold_big", "ttm_sites_fp")
rb = Sites(sys.argv[2], src)
for x in rb.doc["leak_groups"]:
    for f in rb.frames(x["stack"]) or []:
        if rb.module_name(f) == "ttm_sites_fp" and (f["function"] or f["file"] or f["line"]):
            r.fail("rebuilt file used: %s" % rb.show(x["stack"]))
if not re.search(r"\n    at ttm_sites_fp\+0x[0-9a-f]+\n", open(sys.argv[4]).read()):
    r.fail("rebuilt: the text does not show ttm_sites_fp+0x...")
bk = Sites(sys.argv[3], src)
g = bk.doc["leak_groups"]
if g:
    bk.check_stack("original back", g[0]["stack"], "hold_big", "hold_big", "ttm_sites_fp")
r.failures += bk.failures
sys.exit(r.done())
PY
check "leaks by site after the exit; another build's file is not used; the original is again" $?

echo "stacks_live: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
