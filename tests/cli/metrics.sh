#!/usr/bin/env bash
# ttmemd's Prometheus endpoint from the outside: `ttmemd --metrics-listen` on a free loopback
# port, a real Prometheus server (Debian's prometheus package) scraping it every second, real
# clients (libttmem through it_client, simulator processes) and a TT-Metal shm region.
#   - promtool check metrics passes on `ttmem metrics` and on a real scrape; 404, 405, the
#     content type, keep-alive;
#   - Prometheus's HTTP API returns what `ttmem status --json` says: device memory per
#     device/memtype, capacities, clients, events, diagnosis counters per class/device,
#     per-process bytes with the right pid and process labels, the shm region's counters;
#   - a process's series disappear once it exits (Prometheus's next scrape marks them stale);
#   - slow and hostile HTTP clients (requests never finished, a reader taking 1 byte/s) stall
#     neither event ingestion nor other scrapes, and idle connections are closed;
#   - bad --metrics-listen values and a port in use: one clear line, ttmemd does not start.
# Whatever binaries $1 holds are used (ASan+UBSan ones under `make test-asan`).
set -u
build=$1
ttmem="$build/ttmem"
ttmemd="$build/ttmemd"
client="$build/tests/it_client"
simproc="$build/ttmem-simproc"
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    echo "SKIP: prometheus/promtool are not installed (scripts/deps.sh installs them)"
    exit 0
fi
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-metrics.XXXXXX)
sock="$tmp/d.sock"
shm="$tmp/shm"
mkdir "$shm"
pids=()
dpid=""
ppid_prom=""
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
    [ -n "$ppid_prom" ] && kill -9 "$ppid_prom" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# fetch.py METHOD URL OUT [TIMEOUT]: the body into OUT; prints "STATUS CONTENT-TYPE" (no proxies).
cat >"$tmp/fetch.py" <<'PY'
import sys, urllib.request, urllib.error
method, url, out = sys.argv[1], sys.argv[2], sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 5
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    r = opener.open(urllib.request.Request(url, method=method), timeout=timeout)
    code, ctype, body = r.status, r.headers.get("Content-Type"), r.read()
except urllib.error.HTTPError as e:
    code, ctype, body = e.code, e.headers.get("Content-Type"), e.read()
except Exception as e:
    print("0 error:%s" % e)
    sys.exit(1)
open(out, "wb").write(body)
print(code, ctype)
PY
http() { python3 "$tmp/fetch.py" "$@"; }

# ---- bad input: one line, ttmemd does not start ------------------------------------------------
bad() { # description, expected exit status, expected substring, args...
    local what=$1 want_rc=$2 want=$3
    shift 3
    timeout 20 "$ttmemd" --foreground --socket "$tmp/bad.sock" "$@" >"$tmp/o" 2>"$tmp/e" </dev/null
    local rc=$?
    [ $rc -eq "$want_rc" ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -qF -- "$want" "$tmp/e" &&
        [ ! -e "$tmp/bad.sock" ] && [ ! -e "$tmp/bad.sock.query" ]
    st=$?; check "$what (rc=$rc, stderr: $(cat "$tmp/e"))" $st
}
bad "port 0" 2 "the port must be a number from 1 to 65535" --metrics-listen 0
bad "port 70000" 2 "the port must be a number from 1 to 65535" --metrics-listen 127.0.0.1:70000
bad "port not a number" 2 "the port must be a number" --metrics-listen http
bad "empty value" 2 "--metrics-listen is empty" --metrics-listen ""
bad "address not an IPv4 address" 2 "'1.2.3' is not an IPv4 address" --metrics-listen 1.2.3:9464
bad "host name" 2 "is not an IPv4 address" --metrics-listen example.com:9464
bad "IPv6 without brackets" 2 "put an IPv6 address in brackets" --metrics-listen ::1:9464
bad "IPv6 bracket not closed" 2 "an IPv6 address goes in brackets" --metrics-listen "[::1"
bad "bad IPv6 address" 2 "is not an IPv6 address" --metrics-listen "[::g]:9464"
bad "no address before the colon" 2 "0.0.0.0:PORT for every interface" --metrics-listen :9464
bad "missing value" 2 "missing its value" --metrics-listen
bad "address of no local interface" 1 "no interface of this host has that address" \
    --metrics-listen "192.0.2.1:$(free_port)"

busy=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("listening", flush=True); time.sleep(120)' \
    "$busy" >"$tmp/busy.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/busy.out" && break; sleep 0.05; done
bad "port in use (foreground)" 1 \
    "ttmemd: cannot listen for metrics on 127.0.0.1:$busy: Address already in use: something else listens there" \
    --metrics-listen "$busy"
"$ttmemd" --socket "$tmp/bad.sock" --metrics-listen "$busy" >"$tmp/o" 2>"$tmp/e" </dev/null
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q "Address already in use" "$tmp/e" &&
    [ ! -e "$tmp/bad.sock" ]
st=$?; check "port in use (detached): the command says why and exits 1 (rc=$rc, $(cat "$tmp/e"))" $st

# ---- the daemon, its clients, a TT-Metal region --------------------------------------------------
mport=$(free_port)
"$ttmemd" --foreground --socket "$sock" --arch wormhole_b0 --log-level info \
    --metrics-listen "$mport" --shm-dir "$shm" 2>>"$tmp/ttmemd.log" &
dpid=$!
for _ in $(seq 200); do [ -S "$sock.query" ] && break; sleep 0.05; done
[ -S "$sock.query" ]; check "ttmemd starts with --metrics-listen $mport" $?
# the line is written when the endpoint is registered, which may come after the query socket
for _ in $(seq 200); do
    grep -q "metrics: serving http://127.0.0.1:$mport/metrics" "$tmp/ttmemd.log" && break
    sleep 0.05
done
grep -q "metrics: serving http://127.0.0.1:$mport/metrics" "$tmp/ttmemd.log"
check "the log names the endpoint" $?
murl="http://127.0.0.1:$mport/metrics"

run_holder "$tmp/h1" "$tmp/h1.out" --device 1 --leak 3 --alloc-at 0x7000 --double-free
h1=${pids[-1]}
exec 7>"$tmp/h1"
run_holder "$tmp/h2" "$tmp/h2.out" --device 2 --leak 5 --alloc-at 0x8000
h2=${pids[-1]}
exec 8>"$tmp/h2"
# exits at once: an unknown free and two buffers leaked at exit on device 3
TTMEM=1 TTMEM_SOCKET="$sock" "$client" --device 3 --leak 2 --free-at 0x5000 >/dev/null
TTMEM=1 TTMEM_SOCKET="$sock" "$simproc" --scenario mesh8 --device-base 8 --stop-after 400 \
    >"$tmp/sim.out" 2>>"$tmp/clients.err" &
sim=$!
pids+=("$sim")
TTMEM=1 TTMEM_SOCKET="$sock" "$simproc" --scenario mesh32 --device-base 32 --stop-after 600 \
    >"$tmp/sim32.out" 2>>"$tmp/clients.err" &
sim32=$!
pids+=("$sim32")
for _ in $(seq 200); do
    grep -q ready "$tmp/h1.out" && grep -q ready "$tmp/h2.out" && grep -q stopped "$tmp/sim.out" &&
        grep -q stopped "$tmp/sim32.out" && break
    sleep 0.05
done
grep -q "ready 0" "$tmp/h1.out" && grep -q "ready 0" "$tmp/h2.out" &&
    grep -q "stopped 400" "$tmp/sim.out" && grep -q "stopped 600" "$tmp/sim32.out"
check "clients and simulator processes hold their buffers" $?
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

# ---- the endpoint itself, and promtool -----------------------------------------------------------
r=$(http GET "$murl" "$tmp/scrape.txt")
[ "$r" = "200 text/plain; version=0.0.4; charset=utf-8" ]; check "GET /metrics: 200 and the 0.0.4 content type ($r)" $?
promtool check metrics <"$tmp/scrape.txt" >"$tmp/promtool.out" 2>&1
st=$?; check "promtool check metrics passes on a scrape ($(head -5 "$tmp/promtool.out"))" $st
"$ttmem" metrics --socket "$sock" --shm-dir "$shm" >"$tmp/cli.txt" 2>"$tmp/cli.err"
st=$?; check "ttmem metrics exits 0 ($(cat "$tmp/cli.err"))" $st
promtool check metrics <"$tmp/cli.txt" >"$tmp/promtool2.out" 2>&1
st=$?; check "promtool check metrics passes on ttmem metrics ($(head -5 "$tmp/promtool2.out"))" $st
for f in ttmem_device_memory_used_bytes ttmem_process_memory_bytes ttmem_diagnosis_events_total \
    ttmem_ttmetal_memory_bytes ttmem_device_memory_capacity_bytes; do
    grep -q "^$f{" "$tmp/scrape.txt"; check "the scrape has $f samples" $?
done
diff <(grep '^# TYPE' "$tmp/cli.txt") \
    <(grep '^# TYPE' "$tmp/scrape.txt" | grep -v -e ttmem_scrapes_total -e ttmem_scrape_duration \
        -e ttmem_http_connections -e ttmem_ttmetal_scan) \
    >"$tmp/families.diff"
st=$?; check "the endpoint serves ttmem metrics' families ($(head -3 "$tmp/families.diff"))" $st
# docs/METRICS.md's table (generated from the renderer's tables) lists every family served
undoc=$(grep '^# TYPE' "$tmp/scrape.txt" | while read -r _ _ f _; do
    grep -qF "| \`$f\` |" "$(dirname "$0")/../../docs/METRICS.md" || echo "$f"; done)
[ -z "$undoc" ]; check "docs/METRICS.md lists every family of a scrape (missing: $undoc)" $?
grep -q '^ttmem_scrapes_total{code="200"} ' "$tmp/scrape.txt" &&
    grep -q '^ttmem_scrape_duration_seconds_count ' "$tmp/scrape.txt"
check "the endpoint adds its own scrape counters" $?
r=$(http HEAD "$murl" "$tmp/head.txt")
[ "${r%% *}" = 200 ] && [ ! -s "$tmp/head.txt" ]; check "HEAD /metrics: 200, no body ($r)" $?
r=$(http GET "http://127.0.0.1:$mport/" "$tmp/404.txt")
[ "${r%% *}" = 404 ]; check "GET /: 404 ($r)" $?
r=$(http GET "http://127.0.0.1:$mport/metrics/x" "$tmp/404.txt")
[ "${r%% *}" = 404 ]; check "GET /metrics/x: 404 ($r)" $?
r=$(http POST "$murl" "$tmp/405.txt")
[ "${r%% *}" = 405 ]; check "POST /metrics: 405 ($r)" $?
r=$(http DELETE "$murl" "$tmp/405.txt")
[ "${r%% *}" = 405 ]; check "DELETE /metrics: 405 ($r)" $?
# two requests on one connection (Prometheus keeps its connection alive)
python3 - "$mport" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for _ in range(2):
    c.request("GET", "/metrics")
    r = c.getresponse()
    assert r.status == 200 and r.read().startswith(b"# HELP"), r.status
PY
check "two scrapes on one kept-alive connection" $?

# ---- a real Prometheus scraping it every second -------------------------------------------------
pport=$(free_port)
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ttmem
    static_configs:
      - targets: ["127.0.0.1:$mport"]
EOF
promtool check config "$tmp/prometheus.yml" >"$tmp/promcfg.out" 2>&1
st=$?; check "promtool accepts the scrape configuration ($(tail -2 "$tmp/promcfg.out"))" $st
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
ppid_prom=$!
purl="http://127.0.0.1:$pport"
for _ in $(seq 300); do
    [ "$(http GET "$purl/-/ready" "$tmp/ready" 1 2>/dev/null | cut -d' ' -f1)" = 200 ] && break
    sleep 0.1
done
[ "$(http GET "$purl/-/ready" "$tmp/ready" 2>/dev/null | cut -d' ' -f1)" = 200 ]
st=$?; check "prometheus starts on 127.0.0.1:$pport ($(tail -3 "$tmp/prometheus.log"))" $st

# compare.py: polls until Prometheus's latest samples equal `ttmem status --json` (the clients
# hold still, so once a scrape after they settled is in, they must agree), then reports every
# family that does not. Exit 0 when everything matched within the deadline.
cat >"$tmp/compare.py" <<'PY'
import json, subprocess, sys, time, urllib.parse, urllib.request
purl, ttmem, sock, deadline = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
gone = [int(p) for p in sys.argv[5].split(",") if p] if len(sys.argv) > 5 else []
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MEMTYPES = ["DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE", "CB", "KERNEL"]

def query(q):
    u = purl + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    r = json.load(opener.open(u, timeout=5))
    assert r["status"] == "success", r
    return {tuple(sorted((k, v) for k, v in s["metric"].items() if k not in ("__name__", "job", "instance"))):
            float(s["value"][1]) for s in r["data"]["result"]}

def L(**kw):
    return tuple(sorted((k, str(v)) for k, v in kw.items()))

def expected(s):
    e = {}
    d = s["daemon"]
    e["ttmem_daemon_up"] = {L(): 1}
    e['up{job="ttmem"}'] = {L(): 1}
    e["ttmem_clients_connected"] = {L(): d["clients_connected"]}
    e["ttmem_clients_total"] = {L(): d["clients_total"]}
    e["ttmem_ring_events_total"] = {L(): d["events"]}
    e["ttmem_events_dropped_total"] = {L(): d["dropped"]}
    e["ttmem_live_buffers"] = {L(): s["totals"]["live_records"]}
    e["ttmem_events_total"] = {L(kind="alloc"): s["totals"]["allocs"],
                               L(kind="free"): s["totals"]["frees"],
                               L(kind="mark"): s["totals"]["marks"],
                               L(kind="other"): s["totals"]["events"] - s["totals"]["allocs"]
                               - s["totals"]["frees"] - s["totals"]["marks"]}
    used, peak, cap, diag = {}, {}, {}, {}
    for dev in s["devices"]:
        for mt in MEMTYPES:
            m = dev["memtypes"].get(mt, {})
            used[L(device=dev["device"], memtype=mt.lower())] = m.get("live_bytes", 0)
            peak[L(device=dev["device"], memtype=mt.lower())] = m.get("peak_bytes", 0)
        for sp, v in dev["capacity"].items():
            if v != 0:
                cap[L(device=dev["device"], space=sp.lower())] = v
        for cls, n in dev["class_count"].items():
            diag[L(device=dev["device"], **{"class": cls})] = n
    e["ttmem_device_memory_used_bytes"] = used
    e["ttmem_device_memory_peak_bytes"] = peak
    e["ttmem_device_memory_capacity_bytes"] = cap
    e["ttmem_diagnosis_events_total"] = diag
    procs = {}
    for p in s["processes"]:
        if not p["alive"]:
            continue
        for pd in p["devices"]:
            for mt, m in pd["memtypes"].items():
                if m["allocs"] > 0:
                    procs[L(pid=p["pid"], process=p["name"], device=pd["device"],
                            memtype=mt.lower())] = m["live_bytes"]
    e["ttmem_process_memory_bytes"] = procs
    e["ttmem_ttmetal_memory_bytes"] = {L(region=77, memtype="dram"): 2 << 30,
                                       L(region=77, memtype="l1"): 1 << 20,
                                       L(region=77, memtype="l1_small"): 0,
                                       L(region=77, memtype="trace"): 128 << 20,
                                       L(region=77, memtype="cb"): 0,
                                       L(region=77, memtype="kernel"): 0}
    return e

end = time.time() + deadline
while True:
    st = json.loads(subprocess.run([ttmem, "status", "--json", "--socket", sock],
                                   check=True, capture_output=True).stdout)
    want = expected(st)
    bad = []
    for fam, series in want.items():
        got = query(fam)
        if got != {k: float(v) for k, v in series.items()}:
            missing = [k for k in series if k not in got]
            extra = [k for k in got if k not in series]
            wrong = [(k, got[k], series[k]) for k in series if k in got and got[k] != series[k]]
            bad.append("%s: %d missing %s, %d extra %s, %d wrong %s" % (
                fam, len(missing), missing[:2], len(extra), extra[:2], len(wrong), wrong[:2]))
    for pid in gone:
        got = query('ttmem_process_memory_bytes{pid="%d"}' % pid)
        if got:
            bad.append("pid %d still has %d series" % (pid, len(got)))
        if any(p["pid"] == pid and p["alive"] for p in st["processes"]):
            bad.append("pid %d is still alive for the daemon" % pid)
    if not bad:
        alive = [p["pid"] for p in st["processes"] if p["alive"]]
        print("match: %d families, %d device series, %d process series, live pids %s" % (
            len(want), len(want["ttmem_device_memory_used_bytes"]),
            len(want["ttmem_process_memory_bytes"]), alive))
        sys.exit(0)
    if time.time() > end:
        print("\n".join(bad))
        sys.exit(1)
    time.sleep(0.5)
PY
python3 "$tmp/compare.py" "$purl" "$ttmem" "$sock" 30 >"$tmp/compare1.out" 2>&1
st=$?; check "Prometheus's scraped values equal ttmem status --json: $(cat "$tmp/compare1.out")" $st
python3 - "$tmp/compare1.out" "$h1" "$h2" "$sim" "$sim32" <<'PY'
import sys
line = open(sys.argv[1]).read()
for pid in sys.argv[2:]:
    assert " %s" % pid in line.replace("[", " ").replace(",", " "), (pid, line)
PY
check "the compared series include every holding process by pid" $?

# a process that exits: its series go with Prometheus's next scrape; the rest still agree
echo done >&7
exec 7>&-
wait "$h1"
python3 "$tmp/compare.py" "$purl" "$ttmem" "$sock" 30 "$h1" >"$tmp/compare2.out" 2>&1
st=$?; check "after pid $h1 exits its series are gone and the rest still match: $(cat "$tmp/compare2.out")" $st
python3 - "$purl" "$h2" <<'PY'
import json, sys, urllib.parse, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
q = 'ttmem_process_memory_bytes{pid="%s",device="2",memtype="l1"}' % sys.argv[2]
r = json.load(opener.open(sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": q}), timeout=5))
v = r["data"]["result"]
assert len(v) == 1 and v[0]["metric"]["process"] == "it_client" and float(v[0]["value"][1]) == 5 * 1024, v
PY
check "pid $h2's L1 bytes on device 2 are 5 KiB, labelled it_client" $?

# ---- hostile HTTP clients do not stall ingestion or other scrapes ---------------------------------
# From another address (127.0.0.2), one connection that asks for the whole exposition and reads
# it one byte a second, then 40 that send part of a request and never finish it: 7 of those fit
# under the per-address limit (8, the slow reader holds one), the other 33 are shut down as they
# start. They stay open while clients push events and Prometheus and this script (from
# 127.0.0.1) go on scraping, until the idle timeout (5 s) closes the unfinished requests and the
# per-request deadline (10 s) the slow reader (tests/integration/it_query_hostile.c has the
# trickling ones). Every step waits for what it checks (a count of closed connections), never
# for a time.
cat >"$tmp/hostile.py" <<'PY'
import socket, sys, time
port, n, out, want_refused = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def connect():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    s.bind(("127.0.0.2", 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s
slow = connect()
slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
conns = []
for i in range(n):
    s = connect()
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: never-finishes")
    except OSError:
        pass  # refused already
    s.setblocking(False)
    conns.append(s)
closed = set()
def count_closed():
    for i, s in enumerate(conns):
        if i in closed:
            continue
        try:
            if s.recv(4096) == b"":
                closed.add(i)
        except BlockingIOError:
            pass
        except OSError:
            closed.add(i)
    return len(closed)
def wait_closed(k, what):
    end = time.time() + 60  # a deadline only turns a hang into a failure
    while count_closed() < k:
        if time.time() > end:
            with open(out, "a") as f:
                f.write("%s timeout closed=%d\n" % (what, len(closed)))
            sys.exit(1)
        time.sleep(0.05)
wait_closed(want_refused, "open")
with open(out, "w") as f:
    f.write("open %d refused=%d\n" % (n, count_closed()))
slow.setblocking(False)
got = 0
end = time.time() + 60
while count_closed() < n or got == 0:
    try:
        b = slow.recv(1)
        if not b:
            break
        got += 1
    except BlockingIOError:
        pass
    except OSError:
        break
    if time.time() > end:
        break
    time.sleep(1)
with open(out, "a") as f:
    f.write("done closed=%d slow_bytes=%d\n" % (count_closed(), got))
PY
python3 "$tmp/hostile.py" "$mport" 40 "$tmp/hostile.out" 33 &
hostile=$!
pids+=("$hostile")
for _ in $(seq 1200); do grep -q "^open" "$tmp/hostile.out" 2>/dev/null && break; sleep 0.05; done
grep -q "^open 40 refused=33$" "$tmp/hostile.out"
st=$?; check "a slow reader and 40 unfinished requests from one address: 33 shut down at its limit of 8 ($(head -1 "$tmp/hostile.out" 2>/dev/null))" $st
# a stream of events while they hang on, and a burst of 20,000 events that must all arrive
mkfifo "$tmp/stream"
TTMEM=1 TTMEM_SOCKET="$sock" "$client" --device 4 --stream <"$tmp/stream" >"$tmp/stream.out" \
    2>>"$tmp/clients.err" &
streamer=$!
pids+=("$streamer")
exec 9>"$tmp/stream"
TTMEM=1 TTMEM_SOCKET="$sock" "$client" --device 5 --pairs 10000 >"$tmp/burst.out" &
burst=$!
wait "$burst"
grep -q "dropped=0 .*flush=0" "$tmp/burst.out"
st=$?; check "20,000 events reach the daemon while HTTP clients hang on ($(cat "$tmp/burst.out"))" $st
ok=0
for i in 1 2 3 4 5; do
    r=$(http GET "$murl" "$tmp/scrape$i.txt" 30)
    [ "${r%% *}" = 200 ] && ok=$((ok + 1))
done
[ $ok -eq 5 ]; check "other scrapes are answered meanwhile ($ok of 5)" $?
echo q >&9
exec 9>&-
wait "$streamer"
python3 - "$ttmem" "$sock" "$burst" "$tmp/burst.out" "$streamer" "$tmp/stream.out" <<'PY'
import json, re, subprocess, sys, time
ttmem, sock = sys.argv[1], sys.argv[2]
want = {}
for pid, out in ((sys.argv[3], sys.argv[4]), (sys.argv[5], sys.argv[6])):
    m = re.search(r"stats events=(\d+)", open(out).read())
    assert m, out
    want[int(pid)] = int(m.group(1))
for _ in range(40):
    s = json.loads(subprocess.run([ttmem, "status", "--json", "--socket", sock], check=True,
                                  capture_output=True).stdout)
    got = {p["pid"]: p["events"] for p in s["processes"] if p["pid"] in want}
    if got == want:
        pass
        sys.exit(0)
    time.sleep(0.1)
sys.exit("daemon has %s, clients sent %s" % (got, want))
PY
check "the daemon took every event of the burst and of the stream" $?
python3 - "$purl" <<'PY'
import json, sys, urllib.parse, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
r = json.load(opener.open(sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode(
    {"query": 'up{job="ttmem"}'}), timeout=5))
assert [float(v["value"][1]) for v in r["data"]["result"]] == [1.0], r
PY
check "Prometheus still scrapes ttmemd (up == 1)" $?
wait "$hostile"
grep -q "done closed=40 " "$tmp/hostile.out"
st=$?; check "ttmemd closed the 40 unfinished requests (idle timeout) and the slow reader (deadline) ($(tail -1 "$tmp/hostile.out"))" $st
r=$(http GET "$murl" "$tmp/scrape_after.txt" 30)
grep -Eq '^ttmem_http_connections_closed_total\{reason="per_address"\} (3[3-9]|[4-9][0-9])' "$tmp/scrape_after.txt"
st=$?; check "the connections shut down at the per-address limit are counted ($(grep '^ttmem_http_connections_closed_total' "$tmp/scrape_after.txt" | tr '\n' ' '))" $st
python3 "$tmp/compare.py" "$purl" "$ttmem" "$sock" 30 "$h1" >"$tmp/compare3.out" 2>&1
st=$?; check "after the hostile clients, Prometheus and status still agree: $(cat "$tmp/compare3.out")" $st

# ---- IPv6 loopback, when the host has it ----------------------------------------------------------
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    p6=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])')
    "$ttmemd" --foreground --socket "$tmp/v6.sock" --metrics-listen "[::1]:$p6" \
        2>>"$tmp/v6.log" &
    v6=$!
    pids+=("$v6")
    for _ in $(seq 200); do [ -S "$tmp/v6.sock.query" ] && break; sleep 0.05; done
    r=$(http GET "http://[::1]:$p6/metrics" "$tmp/v6.txt")
    [ "${r%% *}" = 200 ] && grep -q "^ttmem_daemon_up 1" "$tmp/v6.txt"
    check "--metrics-listen [::1]:$p6 serves over IPv6 ($r)" $?
    kill -TERM "$v6"
    wait "$v6"
    check "the IPv6 daemon stops cleanly" $?
else
    echo "note: no IPv6 loopback here; [::1] not tried"
fi

# ---- a clean stop frees the port ---------------------------------------------------------------
kill -TERM "$dpid"
for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$dpid" 2>/dev/null; check "SIGTERM stops ttmemd with its endpoint" $?
wait "$dpid"
check "... with exit status 0" $?
dpid=""
python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$mport"
check "the metrics port is free again" $?
! grep -Eq "ERROR|AddressSanitizer|runtime error" "$tmp/ttmemd.log"
check "no errors or sanitizer reports in the daemon's log" $?

echo "metrics.sh: $pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
    echo "--- ttmemd log (tail)"
    tail -20 "$tmp/ttmemd.log"
    echo "--- prometheus log (tail)"
    tail -20 "$tmp/prometheus.log"
fi
[ "$fail" -eq 0 ]
