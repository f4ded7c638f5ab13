#!/usr/bin/env bash
# ttmem top from the outside: a real ttmemd on a temporary socket fed by real clients (libttmem
# through it_client, and a simulator process), plus a TT-Metal shared-memory region; the
# interactive monitor runs under tmux and the captured pane must show the devices, processes
# and counters with the numbers `ttmem status --json` gives; the views, help, resize,
# too-small, the daemon lost (STALE) and back; --once / --loop / --json checked against
# status; bad input gets one clear line. Whatever binaries $1 holds are used: under
# `make test-asan` these frames run under ASan+UBSan, and a sanitizer report fails the test.
set -u
build=$1
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
client="$build/tests/it_client"
simproc="$build/ttmem-simproc"
if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIP: tmux is not installed (scripts/deps.sh installs it)"
    exit 0
fi
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-top.XXXXXX)
sock="$tmp/d.sock"
shm="$tmp/shm"
mkdir "$shm"
tm() { tmux -S "$tmp/tmux.sock" "$@"; }
pids=()
dpid=""
cleanup() {
    tm kill-server 2>/dev/null
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8

start_daemon() {
    "$ttmemd" --foreground --socket "$sock" --arch wormhole_b0 --log-level warn \
        2>>"$tmp/ttmemd.log" &
    dpid=$!
    for _ in $(seq 1200); do [ -S "$sock.query" ] && return 0; sleep 0.05; done
    return 1
}
# gone NAME PATTERN: the pane into $tmp/NAME once PATTERN is no longer in it (up to 60 s)
gone() {
    for _ in $(seq 600); do
        tm capture-pane -p -t top >"$tmp/$1" 2>/dev/null
        grep -Eq -- "$2" "$tmp/$1" || return 0
        sleep 0.1
    done
    echo "--- pane $1 still has '$2':"
    cat "$tmp/$1"
    return 1
}
# capture NAME PATTERN: the pane into $tmp/NAME once it matches PATTERN (up to 10 s)
capture() { # NAME PATTERN...: the pane into $tmp/NAME once every PATTERN is in one capture of
    # it (a frame drawn halfway has only some); up to a generous 60 s (a hang, not a slow machine)
    local name=$1 pat ok
    shift
    for _ in $(seq 600); do
        tm capture-pane -p -t "${tsess:-top}" >"$tmp/$name" 2>/dev/null
        ok=1
        for pat in "$@"; do
            grep -Eq -- "$pat" "$tmp/$name" || { ok=0; break; }
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.1
    done
    echo "--- pane $name never matched all of: $*"
    cat "$tmp/$name"
    return 1
}

# to_top NAME: Up until the selection mark is on the table's first row (arrows, not Home: the
# pane's terminal may send a Home the monitor's terminfo does not know); the pane in $tmp/NAME
to_top() {
    tm send-keys -t top Up Up Up Up Up Up Up Up Up Up Up Up
    for _ in $(seq 600); do
        tm capture-pane -p -t top >"$tmp/$1"
        grep -A1 -E "^S +PID NAME" "$tmp/$1" | tail -1 | grep -Eq "^[RrC]> " && return 0
        sleep 0.1
    done
    echo "--- pane $1: the first row is never selected:"
    cat "$tmp/$1"
    return 1
}
# select_pid NAME PID: to the first row, then Down until the selection mark is on PID's row
# (each Down waits for the mark to leave the row it was on); the pane in $tmp/NAME
select_pid() {
    local name=$1 pid=$2 prev now
    to_top "$name" || return 1
    for _ in $(seq 30); do
        grep -Eq "^[RrC]> +$pid " "$tmp/$name" && return 0
        prev=$(grep -E "^[RrC]> " "$tmp/$name" | awk '{ print $2 }')
        tm send-keys -t top Down
        for _ in $(seq 100); do
            tm capture-pane -p -t top >"$tmp/$name"
            now=$(grep -E "^[RrC]> " "$tmp/$name" | awk '{ print $2 }')
            [ -n "$now" ] && [ "$now" != "$prev" ] && break
            sleep 0.1
        done
        [ "$now" = "$prev" ] && break # the last row: no further down
    done
    grep -Eq "^[RrC]> +$pid " "$tmp/$name" && return 0
    echo "--- pane $name: pid $pid never selected:"
    cat "$tmp/$name"
    return 1
}

# ---- bad input and nothing to monitor, before any daemon ---------------------------------------
bad() { # description, expected exit status, expected substring, args...
    local what=$1 want_rc=$2 want=$3
    shift 3
    "$ttmem" top "$@" >"$tmp/o" 2>"$tmp/e" </dev/null
    local rc=$?
    [ $rc -eq "$want_rc" ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q -- "$want" "$tmp/e"
    st=$?; check "$what (rc=$rc, stderr: $(cat "$tmp/e"))" $st
}
bad "unknown option" 2 "unknown option '--bogus'" --bogus
bad "bad --loop" 2 "--loop wants seconds" --loop abc
bad "zero --loop" 2 "--loop wants seconds" -l 0
bad "bad --iterations" 2 "--iterations wants a whole number" --once --iterations x
bad "bad --width" 2 "--width wants a whole number" --once --width 5
bad "unknown view" 2 "unknown view 'nope'" --once --view nope
bad "unknown sort column" 2 "unknown column 'size'" --once --sort size
bad "--once with --loop" 2 "exclude each other" --once --loop 1
bad "--pid with --json" 2 "--pid opens the process view, which --json does not draw" --json --pid 5
bad "a bad --pid" 2 "--pid wants a whole number" --once --pid 0
bad "a missing value" 2 "missing its value" --once --socket
bad "interactive without a terminal" 2 "not a terminal; use 'ttmem top --once'" --socket "$sock"
bad "--once with nothing to monitor" 1 "nothing to monitor: ttmemd is not running at $sock" \
    --once --socket "$sock" --shm-dir "$shm"
grep -q "start 'ttmemd', or run your program under 'ttmem record -- CMD'" "$tmp/e"
check "nothing to monitor says how to start tracking" $?
bad "--json with nothing to monitor" 1 "nothing to monitor" --json --socket "$sock" --shm-dir "$shm"

# ---- a daemon, clients, a simulator process, a TT-Metal region ---------------------------------
start_daemon; check "ttmemd starts on $sock" $?
run_holder "$tmp/h1" "$tmp/h1.out" --device 1 --leak 3 --alloc-at 0x7000 --double-free
h1=${pids[-1]}
exec 7>"$tmp/h1"
run_holder "$tmp/h2" "$tmp/h2.out" --device 2 --leak 5 --alloc-at 0x8000
h2=${pids[-1]}
exec 8>"$tmp/h2"
TTMEM=1 TTMEM_SOCKET="$sock" "$client" --device 3 --leak 2 >/dev/null # exits holding 2 buffers
TTMEM=1 TTMEM_SOCKET="$sock" "$simproc" --scenario mesh8 --device-base 8 --stop-after 400 \
    >"$tmp/sim.out" 2>>"$tmp/clients.err" &
sim=$!
pids+=("$sim")
for _ in $(seq 1200); do
    grep -q ready "$tmp/h1.out" && grep -q ready "$tmp/h2.out" && grep -q stopped "$tmp/sim.out" && break
    sleep 0.05
done
grep -q "ready 0" "$tmp/h1.out" && grep -q "ready 0" "$tmp/h2.out"; check "holders are ready" $?
grep -q "stopped 400" "$tmp/sim.out"; check "the simulator process replayed 400 events" $?
# TT-Metal's region for device 5, version 2, one live process (this shell): counters only
python3 - "$shm/tt_device_77_memory" $$ <<'PY'
import struct, sys
b = bytearray(8576)
struct.pack_into("<IIQI", b, 0, 2, 1, 0, 1)
struct.pack_into("<qqi", b, 24, 0, 77, 5)
struct.pack_into("<QQQQQ", b, 48, 2 << 30, 1 << 20, 0, 128 << 20, 0)
off = 856
struct.pack_into("<i", b, off, int(sys.argv[2]))
struct.pack_into("<QQQQQ", b, off + 8, 2 << 30, 1 << 20, 0, 128 << 20, 0)
b[off + 56:off + 56 + 10] = b"tt-metal-x"
open(sys.argv[1], "wb").write(b)
PY

"$ttmem" status --json --socket "$sock" >"$tmp/status.json"
check "status --json exits 0" $?

# ---- non-interactive ---------------------------------------------------------------------------
"$ttmem" status --json --socket "$sock" >"$tmp/status2.json"
"$ttmem" top --once --socket "$sock" --shm-dir "$shm" --width 100 >"$tmp/once.txt" 2>"$tmp/once.err"
check "--once exits 0" $?
[ ! -s "$tmp/once.err" ]; check "--once: nothing on stderr" $?
grep -q "^ ttmem top" "$tmp/once.txt" && grep -q "^PROCESSES" "$tmp/once.txt" && grep -q "^DIAGNOSIS" "$tmp/once.txt" &&
    grep -q "^TRANSPORT" "$tmp/once.txt" && ! grep -q "q quit" "$tmp/once.txt"
check "--once prints every section, no key hints" $?
[ "$(awk '{ if (length($0) > 100) n++ } END { print n + 0 }' "$tmp/once.txt")" -eq 0 ]; check "--once --width 100 fits" $?
grep -Eq "^R +$h1 +it_client +1 +4.00K +3.00K +0B +0B +0B +0B +1( +.*)?$" "$tmp/once.txt"; check "--once: holder 1's row" $?
grep -Eq "^R +$h2 +it_client +2 +4.00K +5.00K " "$tmp/once.txt"; check "--once: holder 2's row" $?
grep -Eq "^ +s5 counters only +DRAM \[ +capacity N/A +\] +N/A +2.12G / N/A +peak N/A" "$tmp/once.txt"
check "--once: the TT-Metal device, counters only, N/A where unknown" $?
"$ttmem" top --once --socket "$sock" --shm-dir "$shm" --width 80 --height 24 >"$tmp/once24.txt"
[ "$(wc -l <"$tmp/once24.txt")" -eq 24 ]; check "--once --height 24 is 24 lines" $?
"$ttmem" top --loop 0.2 --iterations 3 --socket "$sock" --shm-dir "$shm" --width 90 --height 20 >"$tmp/loop.txt"
check "--loop exits 0" $?
[ "$(grep -c "^ ttmem top" "$tmp/loop.txt")" -eq 3 ]; check "--loop --iterations 3 prints 3 frames" $?

"$ttmem" top --json --socket "$sock" --shm-dir "$shm" >"$tmp/top.json"
check "--json exits 0" $?
python3 - "$tmp/top.json" "$tmp/status2.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
assert t["schema"] == s["schema"] == "ttmem.status" and t["schema_version"] == s["schema_version"]
for k in ("totals", "devices", "processes", "socket"):
    assert t[k] == s[k], k
for k in ("version", "pid", "clients_total", "events"):
    assert t["daemon"][k] == s["daemon"][k], k
r = t["shm"]["regions"]
assert t["shm"]["counters_only"] and len(r) == 1 and r[0]["state"] == "ok" and r[0]["device_id"] == 5
assert r[0]["totals"]["DRAM"] == 2 << 30 and r[0]["totals"]["KERNEL"] is None
assert r[0]["processes"][0]["name"] == "tt-metal-x"
PY
check "--json: status's document, the same numbers, plus the shm region" $?
"$ttmem" top --json --loop 0.2 --iterations 2 --socket "$sock" --shm-dir "$shm" >"$tmp/loop.json"
python3 -c "import json,sys; ls=open(sys.argv[1]).read().splitlines(); assert len(ls)==2; [json.loads(l) for l in ls]" "$tmp/loop.json"
check "--json --loop: one document per line" $?

# ---- the interactive monitor under tmux --------------------------------------------------------
# A session of its own keeps the tmux server up between the monitor's sessions: the server
# exits with its last session, and a new-session racing that exit failed ("server exited
# unexpectedly").
tm new-session -d -s keep -x 80 -y 24 "sleep 3600"
tm new-session -d -s top -x 120 -y 40 \
    "'$ttmem' top --socket '$sock' --shm-dir '$shm' -d 0.5; echo \"exit=\$?\"; sleep 30"
capture pane1 "PROCESSES" && capture pane1 "DIAG .*dropped"
check "the monitor draws devices and processes" $?
python3 - "$tmp/status.json" "$tmp/pane1" "$dpid" "$h1" "$h2" "$sim" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
pane = open(sys.argv[2]).read().splitlines()
dpid, h1, h2, sim = (int(x) for x in sys.argv[3:7])
text = "\n".join(pane)

def fb(v):  # ttm__fmt_bytes
    if v < 1024:
        return "%d B" % v
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    x, u = float(v), 0
    while x >= 1024 and u + 1 < len(units):
        x /= 1024; u += 1
    return ("%.2f %s" if x < 10 else "%.1f %s" if x < 100 else "%.0f %s") % (x, units[u])

errors = []
def need(cond, what):
    if not cond:
        errors.append(what)

need(re.search(r"ttmemd %s pid %d up " % (re.escape(s["daemon"]["version"]), dpid), pane[0]),
     "header names the daemon: " + pane[0])
need("ttmemd (3 clients) at " in pane[1] and "1 TT-Metal shm region (counters only) in" in pane[1],
     "sources line: " + pane[1])
need(re.search(r"DEVICES %d\b" % (len(s["devices"]) + 1), text), "device count (daemon + shm)")
# every daemon device: DRAM and L1 used / capacity as status says (its line or the next)
for d in s["devices"]:
    i = next((k for k, l in enumerate(pane) if re.match(r"^ {0,3}%d (WH|wormhole_b0) +DRAM \[" % d["device"], l)), None)
    if i is None:
        errors.append("no row for device %d" % d["device"]); continue
    rows = pane[i] + " " + (pane[i + 1] if i + 1 < len(pane) else "")
    space = {"DRAM": ("DRAM", "TRACE"), "L1": ("L1", "L1_SMALL", "CB", "KERNEL")}
    for key, members in space.items():
        used = sum(d["memtypes"][m]["live_bytes"] for m in members)
        pat = re.escape(fb(used)) + r" ?/ ?" + re.escape(fb(d["capacity"][key]))
        need(re.search(pat, rows), "device %d %s %s in %r" % (d["device"], key, pat, rows))
need(re.search(r"^ +s5 +(shm|counters only)", text, re.M), "the TT-Metal region's device s5")
# every process row: bytes per type, devices and anomalies as status says, the command line
# last (N/A while the daemon does not know it); exited processes hidden, and counted
cols = ["DRAM", "L1", "L1_SMALL", "TRACE", "CB", "KERNEL"]
head = next((l for l in pane if re.match(r"^S +PID NAME", l)), "")
cx = head.find("COMMAND")
need(cx > head.find("ANOM") > 0, "a COMMAND column last: " + head)
def cut(l):
    return l[:cx].rstrip() if cx > 0 else l.rstrip()
exited = [p for p in s["processes"] if not p["alive"]]
need(len(exited) >= 1 and "%d exited hidden (x shows)" % len(exited) in text,
     "the title counts %d exited processes as hidden" % len(exited))
for p in s["processes"]:
    row = next((l for l in pane if re.match(r"^[RrX][ >] +%d " % p["pid"], l)), None)
    if not p["alive"]:
        need(row is None, "exited pid %d hidden: %r" % (p["pid"], row))
        continue
    if row is None:
        errors.append("no row for pid %d" % p["pid"]); continue
    want = " +".join(re.escape(fb(p["bytes"].get(c, 0))) for c in cols) + r" +%d$" % p["anomalies"]
    need(re.search(want, cut(row)), "pid %d: %r !~ %r" % (p["pid"], row, want))
    need(p["name"][:10] in row, "pid %d name" % p["pid"])
    need(row[0] == ("R" if p["connected"] else "r"), "pid %d state %r" % (p["pid"], row[0]))
    cmd = p.get("cmdline")
    shown = row[cx:].rstrip()
    if cmd is None:
        ok = shown == "N/A"
    elif shown.endswith("..."):  # cut to the column: a prefix of the command line
        ok = len(shown) > 8 and cmd.startswith(shown[:-3]) and len(cmd) > len(shown) - 3
    else:
        ok = shown == cmd
    need(ok, "pid %d command %r of %r" % (p["pid"], shown, cmd))
row = next((l for l in pane if re.match(r"^R[ >] +%d " % h1, l)), "")
need(re.search(r" 1 +4\.00 KiB +3\.00 KiB +0 B +0 B +0 B +0 B +1$", cut(row)), "holder 1 sent values: " + row)
row = next((l for l in pane if re.match(r"^R[ >] +%d " % sim, l)), "")
need(re.search(r" 8-15 ", row), "the simulator process is on devices 8-15: " + row)
need(re.search(r"^C[ >] +\d+ +tt-metal-x +5 +2\.00 GiB +1\.00 MiB +0 B +128 MiB +0 B +N/A +N/A$",
               "\n".join(cut(l) for l in pane), re.M),
     "the counters-only process with N/A for KERNEL and anomalies")
c = {k: {"count": n} for k, n in s["totals"]["class_count"].items()}
diag = next((l for l in pane if l.startswith("DIAG")), "")
for label, cls in (("unknown", "unknown_free"), ("double", "double_free"), ("excess", "excess_free"), ("leaked", "leaked_at_exit")):
    need(re.search(r"\b%s %d\b" % (label, c[cls]["count"]), diag), "DIAG %s %d in %r" % (label, c[cls]["count"], diag))
need(re.search(r"\bdropped %d\b" % s["daemon"]["dropped"], diag), "DIAG dropped")
need(c["double_free"]["count"] >= 1 and c["leaked_at_exit"]["count"] >= 2, "the clients' findings reached the daemon")
need(all(len(l) <= 120 for l in pane), "lines fit the pane")
if errors:
    print("\n".join(errors)); print("--- pane:"); print(text); sys.exit(1)
PY
check "the pane shows devices, processes and counters with status's numbers" $?

# views: processes, diagnosis (with explanations), history; help
tm send-keys -t top v
capture pane2 "^S +PID NAME" && ! grep -q "^DEVICES" "$tmp/pane2"; check "v: the processes view" $?
tm send-keys -t top v
capture pane3 "double frees +[0-9]"; check "v: the diagnosis view" $?
capture pane3 "the same object freed again" "a buffer still live when its process exited" \
    "its ring filled while no daemon"
check "diagnosis counters are explained" $?
leaks=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['totals']['class_count']['leaked_at_exit'])" "$tmp/status.json")
capture pane3 "leaks at exit +$leaks "
check "diagnosis: leaks at exit as status says ($leaks)" $?
tm send-keys -t top Tab
capture pane4 "HISTORY" && grep -Eq "^ +1 DRAM \|" "$tmp/pane4"; check "Tab: the history view" $?
tm send-keys -t top h
capture pane5 "^KEYS" "device filter"; check "h: help" $?
tm send-keys -t top x v
capture pane6s "^LIVE ALLOCATION SITES"; check "any key closes help; v: the sites view" $?
tm send-keys -t top v
capture pane6 "DIAG .*dropped"; check "v wraps to devices" $?
# selection: Up marks the first row; Down moves the mark to holder 1's row (the selection
# follows the pid while the rows refresh); Enter opens its process view, Esc goes back
to_top pane6a; check "Up: the first process row is selected" $?
first=$(grep -E "^[RrC]> " "$tmp/pane6a" | awk '{ print $2 }')
select_pid pane6a "$h1" && [ "$(grep -Ec "^.> " "$tmp/pane6a")" -eq 1 ] && [ "$first" != "$h1" ]
check "Down: the selection moves to holder 1 (pid $h1, from $first), one row marked" $?
tm send-keys -t top Enter
capture pane6b "^PROCESS $h1  it_client  R  running" "^BYTES BY DEVICE  1 device" \
    "^ +1 +4\.00 KiB +3\.00 KiB +0 B +0 B +0 B +0 B +7\.00 KiB *$" "anomalies 1 " "^command "
check "Enter: holder 1's process view (who, counters, its bytes on device 1)" $?
! grep -q "^PROCESSES" "$tmp/pane6b" && grep -q "Esc back" "$tmp/pane6b"
check "the process view replaces the table; its footer says Esc goes back" $?
# v, then p, whose PAUSED shows that the keys before it were handled: v changed nothing
tm send-keys -t top v p
capture pane6c "PAUSED" && grep -q "^PROCESS $h1 " "$tmp/pane6c"
check "v does nothing in the process view" $?
tm send-keys -t top p
for _ in $(seq 600); do # until the frame without PAUSED is drawn
    tm capture-pane -p -t top >"$tmp/pane6c2"
    grep -q "PAUSED" "$tmp/pane6c2" || break
    sleep 0.1
done
grep -q "^PROCESS $h1 " "$tmp/pane6c2" && ! grep -q "PAUSED" "$tmp/pane6c2"; check "p resumes" $?
tm send-keys -t top Escape
capture pane6d "^PROCESSES" "^R> +$h1 "; check "Esc: back to the table, holder 1 still selected" $?
# exited processes: hidden by default (the title counts them), x shows them dimmed, x hides
xpid=$(python3 -c "import json,sys; print(' '.join(str(p['pid']) for p in json.load(open(sys.argv[1]))['processes'] if not p['alive']))" "$tmp/status.json")
! grep -Eq "^X +$xpid " "$tmp/pane6d" && grep -q "1 exited hidden (x shows)" "$tmp/pane6d"
check "the exited client (pid $xpid) is hidden, counted in the title" $?
tm send-keys -t top x
capture pane6e "^X +$xpid +it_client" "exited shown .x hides."; check "x: the exited client is shown" $?
tm send-keys -t top x
capture pane6f "1 exited hidden .x shows." && ! grep -Eq "^X +$xpid " "$tmp/pane6f"
check "x again: hidden" $?
# Home and End: the first and the last row
sel_at() { # first|last NAME: until the mark is on the table's first or last row (of $tsess)
    for _ in $(seq 100); do
        tm capture-pane -p -t "${tsess:-top}" >"$tmp/$2"
        awk -v want="$1" '/^S +PID NAME/ { t = 1; next } t && /^[RrXCG][ >] / { n++; if ($0 ~ /^.> /) at = n; next } t { exit }
            END { exit !(at > 0 && (want == "first" ? at == 1 : at == n)) }' "$tmp/$2" && return 0
        sleep 0.1
    done
    cat "$tmp/$2"
    return 1
}
tm send-keys -t top End
sel_at last pane6g && ! grep -q "device 1 only\|filter.*1" "$tmp/pane6g"
check "End: the last process row is selected (no device filter)" $?
tm send-keys -t top Home
sel_at first pane6h; check "Home: the first process row is selected" $?
# the process view's allocation sites: a program run with TTMEM_STACKS=1 holds three 1 MiB
# buffers allocated in hold_big and 4 KiB in main_leak; its view lists both, symbolized
mkfifo "$tmp/sfifo"
TTMEM=1 TTMEM_SOCKET="$sock" TTMEM_STACKS=1 "$build/tests/stacks/ttm_sites_fp" hold \
    <"$tmp/sfifo" >"$tmp/sites.out" 2>>"$tmp/clients.err" &
spid=$!
pids+=("$spid")
exec 9>"$tmp/sfifo"
for _ in $(seq 1200); do grep -q . "$tmp/sites.out" && break; sleep 0.05; done
[ "$(cat "$tmp/sites.out")" = held ]; check "the sites holder (pid $spid) holds its buffers" $?
lb=$(grep -n 'SITE:hold_big' "$2/tests/stacks/sites_main.c" | cut -d: -f1)
ll=$(grep -n 'SITE:main_leak' "$2/tests/stacks/sites_main.c" | cut -d: -f1)
site_big="^ +3\.00 MiB +3 +99\.9% +DRAM +hold_big \(\S*/sites_main\.c:$lb\) \[ttm_sites_fp\]"
site_leak="^ +4\.00 KiB +1 +0\.1% +DRAM +main_leak \(\S*/sites_main\.c:$ll\) \[ttm_sites_fp\]"
# (a monitor of its own opened on the holder with --pid, beside the first one)
tm new-session -d -s pv -x 160 -y 40 \
    "TERM=xterm-256color '$ttmem' top --socket '$sock' --shm-dir '$shm' -d 0.5 --pid $spid; echo \"exit=\$?\"; sleep 30"
tsess=pv capture pane6h "^PROCESS $spid  ttm_sites_fp  R  running" \
    "^LIVE ALLOCATION SITES  2 sites of pid $spid, bytes by allocation stack" "$site_big" \
    "^ +<- hold \(\S*/sites_main\.c:[0-9]+\) \[ttm_sites_fp\]" "$site_leak"
check "--pid: its process view, hold_big's 3 MiB first, then main_leak, with their callers" $?
t=$(grep -n "^LIVE ALLOCATION SITES" "$tmp/pane6h" | cut -d: -f1)
b=$(grep -En "$site_big" "$tmp/pane6h" | cut -d: -f1)
l=$(grep -En "$site_leak" "$tmp/pane6h" | cut -d: -f1)
[ -n "$t" ] && [ -n "$b" ] && [ -n "$l" ] && [ "$((t + 2))" -eq "$b" ] && [ "$b" -lt "$l" ]
check "the sites are in bytes order under their title and header (lines $t, $b, $l)" $?
tm send-keys -t pv Escape
tsess=pv capture pane6i "^PROCESSES" "^R> +$spid "; check "Esc: back to the table, the holder selected" $?
# this monitor's TERM is xterm's while tmux sends Home and End as its own terminal does
# (ESC [ 1 ~, ESC [ 4 ~, which xterm's terminfo does not name): still Home and End, not Esc,
# '[', a device filter of "1" and '~'
tm send-keys -t pv End
tsess=pv sel_at last pane6k && ! grep -q "^DEVICES.*device 1\b" "$tmp/pane6k" && ! grep -q "^PROCESS " "$tmp/pane6k"
check "End under a TERM that does not name tmux's sequence: the last row" $?
tm send-keys -t pv Home
tsess=pv sel_at first pane6l; check "Home under that TERM: the first row" $?
tm send-keys -t pv q
tsess=pv capture pane6j "^exit=0"; check "q quits that monitor" $?
tm kill-session -t pv
# the same view as plain text: --once --pid
"$ttmem" top --once --pid "$spid" --width 160 --socket "$sock" --shm-dir "$shm" >"$tmp/pid.txt" 2>&1
check "--once --pid exits 0" $?
grep -q "^PROCESS $spid  ttm_sites_fp" "$tmp/pid.txt" && grep -Eq "$site_big" "$tmp/pid.txt" &&
    grep -Eq "$site_leak" "$tmp/pid.txt" && grep -q "^BYTES BY DEVICE  1 device" "$tmp/pid.txt" &&
    ! grep -q "^PROCESSES" "$tmp/pid.txt"
check "--once --pid: the process view, sites symbolized, no process table" $?
"$ttmem" top --once --pid $$ --width 100 --socket "$sock" --shm-dir "$shm" >"$tmp/pidc.txt" 2>&1
grep -q "^PROCESS $$  tt-metal-x  C  TT-Metal counters only" "$tmp/pidc.txt" &&
    grep -q "LIVE ALLOCATION SITES  N/A: TT-Metal's regions have no call sites" "$tmp/pidc.txt"
check "--once --pid of a TT-Metal counters-only process: no sites, N/A" $?
"$ttmem" top --once --pid 999999 --width 100 --socket "$sock" --shm-dir "$shm" >"$tmp/pidx.txt" 2>&1
grep -q "this process is no longer reported" "$tmp/pidx.txt"; check "--once --pid of an unknown pid says so" $?
echo done >&9
exec 9>&-
for _ in $(seq 600); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
# device filter by number, sort keys
tm send-keys -t top 2
capture pane7 "DEVICES 1 .device 2 only" && grep -Eq "^R[ >] +$h2 " "$tmp/pane7" && ! grep -Eq "^R[ >] +$h1 " "$tmp/pane7"
check "2: only device 2 and its process" $?
tm send-keys -t top a s
capture pane8 "sort l1 descending" && ! grep -q "device 2 only" "$tmp/pane8"; check "a: all devices; s: next sort column" $?
tm send-keys -t top p
capture pane9 "PAUSED"; check "p: paused" $?
tm send-keys -t top p
gone pane9 "PAUSED"; check "p: resumed" $?
# resize: 80x24 fits, 60x20 is too small, back
tm resize-window -t top -x 80 -y 24
capture pane10 "q quit" "PROCESSES" "DEVICES" && [ "$(awk '{ if (length($0) > 80) n++ } END { print n + 0 }' "$tmp/pane10")" -eq 0 ] &&
    [ "$(wc -l <"$tmp/pane10")" -le 24 ]
check "resized to 80x24: everything fits" $?
grep -q "PROCESSES" "$tmp/pane10" && grep -q "DEVICES" "$tmp/pane10"; check "80x24 still shows devices and processes" $?
tm resize-window -t top -x 60 -y 20
capture pane11 "too small: ttmem top needs 70x16"; check "60x20: a one-line too-small message" $?
tm resize-window -t top -x 120 -y 40
capture pane12 "PROCESSES"; check "back to 120x40" $?

# the daemon lost: the last frame stays, marked STALE; a new daemon is picked up
kill -TERM "$dpid"
wait "$dpid" 2>/dev/null
old=$dpid
dpid=""
capture pane13 "STALE" "lost .* ago" "^R[ >] +$h1 "
check "daemon gone: STALE, the last frame kept" $?
start_daemon; check "a new ttmemd starts" $?
capture pane14 "ttmemd [0-9.]+ pid $dpid " && ! grep -q STALE "$tmp/pane14"
check "the monitor reconnects to the new daemon (pid $old -> $dpid)" $?
tm send-keys -t top q
capture pane15 "^exit=0"; check "q quits with status 0" $?
tm kill-session -t top

# a few frames on their own (under ASan in the asan tree): exit 0 after --iterations
tm new-session -d -s top -x 100 -y 30 \
    "'$ttmem' top --socket '$sock' --shm-dir '$shm' -d 0.2 --iterations 5 --view history 2>'$tmp/frames.err'; echo \"exit=\$?\"; sleep 30"
capture pane16 "^exit=" && grep -q "^exit=0" "$tmp/pane16"
st=$?; check "5 frames, then exit 0 ($(head -c 400 "$tmp/frames.err"))" $st
[ ! -s "$tmp/frames.err" ]; check "nothing on stderr (no sanitizer report)" $?
tm kill-session -t top

# the daemon gone, shm region still there: --once shows the counters, says the daemon is absent
kill -TERM "$dpid"
wait "$dpid" 2>/dev/null
dpid=""
"$ttmem" top --once --socket "$sock" --shm-dir "$shm" --width 100 >"$tmp/shmonly.txt" 2>&1
check "--once with only TT-Metal regions exits 0" $?
grep -q "no ttmemd at $sock" "$tmp/shmonly.txt" && grep -q "tt-metal-x" "$tmp/shmonly.txt" &&
    grep -q "^DIAG\|N/A: TT-Metal's shared-memory counters carry no buffer identity" "$tmp/shmonly.txt"
check "--once: shm-only frame, diagnosis N/A" $?

# ---- the causes of unmatched frees (issue 13): a daemon of its own fed address-only events ----
# the simulator's legacy llama (no object ids, as the prototype's clients): the diagnosis view,
# the one-line summary and --json show the causes `ttmem status --json` gives
sock=$tmp/c.sock
start_daemon; check "a ttmemd for the causes starts" $?
TTMEM=1 TTMEM_SOCKET="$sock" "$simproc" --scenario llama --client legacy >"$tmp/llama.out" \
    2>>"$tmp/clients.err"
check "the legacy llama ran" $?
# its exit settled: every event applied (the daemon's events equal what the process sent)
settled=1
for _ in $(seq 600); do
    "$ttmem" status --json --socket "$sock" >"$tmp/cstatus.json" 2>/dev/null &&
        python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['processes'] and not d['processes'][0]['alive'] else 1)" "$tmp/cstatus.json" &&
        { settled=0; break; }
    sleep 0.1
done
check "the daemon settled the legacy llama's exit (within 60 s)" $settled
"$ttmem" top --once --view diagnosis --socket "$sock" --shm-dir "$shm" --width 120 >"$tmp/ctop.txt" 2>&1
check "--once --view diagnosis exits 0" $?
"$ttmem" top --once --socket "$sock" --shm-dir "$shm" --width 160 --height 30 >"$tmp/csum.txt" 2>&1
"$ttmem" top --json --socket "$sock" --shm-dir "$shm" >"$tmp/ctop.json" 2>&1
"$ttmem" status --socket "$sock" --shm-dir "$shm" >"$tmp/cstatus.txt" 2>&1
python3 - "$tmp/cstatus.json" "$tmp/ctop.txt" "$tmp/csum.txt" "$tmp/ctop.json" "$tmp/cstatus.txt" <<'PY'
import json, re, sys
st = json.load(open(sys.argv[1]))
view, summary = open(sys.argv[2]).read(), open(sys.argv[3]).read()
top = json.load(open(sys.argv[4]))
status_text = open(sys.argv[5]).read()
bad = []
# status's text: the section, one line per cause, its evidence as the JSON words it
if "\nCauses of the unmatched frees" not in status_text:
    bad.append("status text has no Causes section")
for c in st.get("causes", []):
    if not re.search(r"^  [0-9,]+ .*: " + re.escape(c["evidence"]) + "$", status_text, re.M):
        bad.append("status text lacks the line of %s" % c["cause"])
causes = st.get("causes", [])
if not causes or sum(c["frees"] for c in causes) != st["totals"]["class_count"]["excess_free"] + st["totals"]["class_count"]["unknown_free"]:
    bad.append("status: the causes do not add up to the unmatched frees: %r" % causes)
names = [c["cause"] for c in causes]
if "mesh_multiplicity" not in names or "excess_storm" not in names:
    bad.append("status: no mesh multiplicity or storm in %r" % names)
block = view.split("CAUSES", 1)[1] if "CAUSES" in view else ""
flat = " ".join(block.split())
total = sum(c["frees"] for c in causes)
for i, c in enumerate(causes):
    count = "{:,}".format(c["frees"])
    head = ("%s of %s unmatched frees" % (count, "{:,}".format(total))) if i == 0 else count + " ("
    words = " ".join(c["evidence"].replace("\u2014", "-").split())
    if head not in flat or words not in flat:
        bad.append("diagnosis view lacks %r / %r" % (head, words))
line = next((l for l in summary.splitlines() if l.startswith("DIAG")), "")
first = causes[0] if causes else {"cause": "?", "share_pct": 0}
short = {"mesh_multiplicity": "mesh", "double_release": "double-release", "excess_storm": "storm",
         "pre_tracking": "pre-tracking", "unexplained": "unexplained"}.get(first["cause"], "?")
if not re.search(r"causes %s %d%%" % (short, round(first["share_pct"])), line):
    bad.append("DIAG line lacks the first cause: %r" % line)
if [(c["cause"], c["frees"]) for c in top.get("causes", [])] != [(c["cause"], c["frees"]) for c in causes]:
    bad.append("top --json causes differ from status")
for b in bad:
    print("FAIL: " + b)
sys.exit(1 if bad else 0)
PY
check "causes: status's text, top's diagnosis view, its DIAG line and --json say what status --json says" $?
kill -TERM "$dpid"
wait "$dpid" 2>/dev/null
dpid=""

echo done >&7
echo done >&8
exec 7>&- 8>&-
echo "top.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
