#!/usr/bin/env bash
# ttmem report from the outside (issue 12, part B): for every simulator scenario and both
# clients, `ttmem report JOURNAL` prints exactly what `ttmem simulate --journal JOURNAL` printed
# (JSON and text); `--at peak:D:M` lists exactly the buffers the simulator's own model has live
# at that peak (simulate --peaks, the ground truth); a cut or damaged journal still reports, with
# one line saying what was lost; bad input gets one clear line.
set -u
build=$1
ttmem="$build/ttmem"
. "$(dirname "$0")/lib/check.sh"
. "$(dirname "$0")/lib/made.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

scenarios=$("$ttmem" simulate --scenario list | awk '{print $1}')
[ -n "$scenarios" ]; check "scenario list is not empty" $?
for s in $scenarios; do
    for c in identity legacy; do
        j="$tmp/$s-$c.ttmem"
        "$ttmem" simulate --scenario "$s" --client "$c" --seed 3 --top 7 --journal "$j" --json \
            >"$tmp/sim.json" 2>"$tmp/err"
        check "simulate $s $c --journal exits 0 ($(head -c 200 "$tmp/err"))" $?
        "$ttmem" report "$j" --json --top 7 >"$tmp/rep.json" 2>"$tmp/err"
        check "report $s $c exits 0 ($(head -c 200 "$tmp/err"))" $?
        [ ! -s "$tmp/err" ]; check "report $s $c says nothing on stderr ($(head -c 200 "$tmp/err"))" $?
        same_report "$tmp/sim.json" "$tmp/rep.json"
        check "report $s $c --json equals simulate's ($(diff "$tmp/sim.json" "$tmp/rep.json" | head -5))" $?
        "$ttmem" simulate --scenario "$s" --client "$c" --seed 3 --journal "$j.2" >"$tmp/sim.txt"
        "$ttmem" report "$j.2" >"$tmp/rep.txt"
        cmp -s "$tmp/sim.txt" "$tmp/rep.txt"
        check "report $s $c text equals simulate's" $?
    done
done

# --at peak:D:M: the live set of the simulator's model at each of its peaks
for s in leaks multi-process mesh8 reuse trace llama; do
    for c in identity legacy; do
        j="$tmp/$s-$c.ttmem"
        "$ttmem" simulate --scenario "$s" --client "$c" --seed 3 --peaks >"$tmp/truth.json"
        check "simulate $s $c --peaks exits 0" $?
        python3 - "$ttmem" "$j" "$tmp/truth.json" >"$tmp/at.out" 2>&1 <<'PY'
import json, subprocess, sys
ttmem, journal, truth = sys.argv[1:4]
t = json.load(open(truth))
assert t["schema"] == "ttmem.sim_peaks", t.get("schema")
assert t["peaks"], "the scenario has peaks"
bad = 0
for p in t["peaks"]:
    spec = "peak:%d:%s" % (p["device"], p["memtype"])
    out = subprocess.run([ttmem, "report", journal, "--at", spec, "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, (spec, out.stderr)
    a = json.loads(out.stdout)
    assert a["schema"] == "ttmem.at", a.get("schema")
    want = sorted((b["pid"], b["addr"], b["size"], b["obj"]) for b in p["buffers"])
    got = sorted((b["pid"], b["addr"], b["size"], b["obj"]) for b in a["buffers"])
    if (want != got or a["at"]["peak_bytes"] != p["bytes"] or a["at"]["ts"] != p["ts"]
            or a["live"]["bytes"] != p["bytes"] or a["live"]["count"] != len(want)):
        bad += 1
        print("%s: %d buffers (%d B at %d), the model has %d (%d B at %d)" % (
            spec, len(got), a["at"]["peak_bytes"], a["at"]["ts"], len(want), p["bytes"], p["ts"]))
    names = [b["name"] for b in a["buffers"]]
    assert len(set(names)) == len(names), "buffer names are unique at a moment"
    assert all(n.startswith("b%x_" % b["addr"]) for n, b in zip(names, a["buffers"]))
    # the groups add up to the live set
    for g in ("by_site", "by_scope", "by_process"):
        if len(a[g]) < 10:
            assert sum(x["bytes"] for x in a[g]) == p["bytes"], (spec, g)
sys.exit(1 if bad else 0)
PY
        check "report $s $c --at peak:D:M lists the model's live set ($(head -c 300 "$tmp/at.out"))" $?
    done
done

# --at TIME: at the run's end everything still live; before its first record nothing
j="$tmp/leaks-identity.ttmem"
"$ttmem" report "$j" --at 0 --json >"$tmp/at0.json"; check "--at 0 exits 0" $?
"$ttmem" report "$j" --at 1000s --json >"$tmp/atend.json" 2>"$tmp/err"; check "--at 1000s exits 0" $?
grep -q "after the run's last record" "$tmp/err"; check "--at past the end says so" $?
python3 - "$tmp/atend.json" <<'PY'; check "--at the end: nothing live (every process exited)" $?
import json, sys
a = json.load(open(sys.argv[1]))
assert a["at"]["kind"] == "time" and a["live"]["count"] == 0, a["live"]
PY
"$ttmem" report "$j" --at 12.5ms >/dev/null; check "--at 12.5ms exits 0" $?
"$ttmem" report "$j" --at peak >"$tmp/at.txt"; check "--at peak (text) exits 0" $?
grep -q "^By allocation site" "$tmp/at.txt"; check "--at text groups by allocation site" $?
grep -q "^By scope" "$tmp/at.txt" && grep -q "^By process" "$tmp/at.txt"
check "--at text groups by scope and by process" $?

# a journal cut inside its last block: still reports, one line on stderr, exit 0
j="$tmp/llama-identity.ttmem"
size=$(stat -c %s "$j")
head -c $((size - 1000)) "$j" >"$tmp/cut.ttmem"
"$ttmem" report "$tmp/cut.ttmem" --json >"$tmp/cut.json" 2>"$tmp/err"
check "a cut journal reports (exit 0)" $?
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "cut inside a block" "$tmp/err"
check "a cut journal: one line says what was lost ($(cat "$tmp/err"))" $?
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/cut.json"
check "a cut journal's report is JSON" $?

# several runs: one report keyed by (host, device), the hosts listed
"$ttmem" report "$tmp/mesh8-identity.ttmem" "$tmp/leaks-legacy.ttmem" --json >"$tmp/two.json" 2>"$tmp/err"
check "report of two runs exits 0 ($(head -c 200 "$tmp/err"))" $?
python3 - "$tmp/two.json" "$tmp/mesh8-identity.ttmem" "$tmp/leaks-legacy.ttmem" "$ttmem" <<'PY'
import json, subprocess, sys
two = json.load(open(sys.argv[1]))
one = [json.loads(subprocess.run([sys.argv[4], "report", f, "--json"], capture_output=True,
                                 text=True, check=True).stdout) for f in sys.argv[2:4]]
assert len(two["hosts"]) == 2, two["hosts"]
# the runs are ordered by host then creation: find which is which by their devices
order = [h["source"] for h in two["hosts"]]
parts = sorted(one, key=lambda r: order.index(r["source"]))
assert sum(h["procs"] for h in two["hosts"]) == len(two["processes"])
assert len(two["devices"]) == sum(len(p["devices"]) for p in parts)
assert two["totals"]["events"] == sum(p["totals"]["events"] for p in parts)
base = two["hosts"][1]["device_base"]
assert base == 256, base
assert sorted(d["device"] for d in two["devices"]) == sorted(
    [d["device"] for d in parts[0]["devices"]] + [base + d["device"] for d in parts[1]["devices"]])
PY
check "two runs: hosts listed, devices keyed by (host, device), totals summed" $?

# bad input: one line each
"$ttmem" report "$tmp/nope.ttmem" 2>"$tmp/err" >/dev/null; st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "no such file" "$tmp/err"
check "a missing journal: exit 1, one line ($(cat "$tmp/err"))" $?
echo "not a journal" >"$tmp/garbage.ttmem"
"$ttmem" report "$tmp/garbage.ttmem" 2>"$tmp/err" >/dev/null; st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "not a ttmem journal" "$tmp/err"
check "not a journal: exit 1, one line ($(cat "$tmp/err"))" $?
"$ttmem" report 2>"$tmp/err" >/dev/null; [ $? -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
check "no file: exit 2, one line" $?
"$ttmem" report "$j" --bogus 2>"$tmp/err" >/dev/null; [ $? -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
check "an unknown option: exit 2, one line" $?
for bad in peak:x peak:0:NOPE 12parsecs -3 peakish; do
    "$ttmem" report "$j" --at "$bad" 2>"$tmp/err" >/dev/null; st=$?
    [ $st -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; check "--at $bad: exit 2, one line ($(cat "$tmp/err"))" $?
done
"$ttmem" report "$j" --at peak:31:DRAM 2>"$tmp/err" >/dev/null; st=$?
[ $st -eq 1 ] && grep -q "nothing was ever in use" "$tmp/err"; check "--at a peak never reached: one line" $?
"$ttmem" report "$j" "$j" 2>"$tmp/err" >/dev/null; st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "both file 0" "$tmp/err"
check "the same journal twice: one line ($(cat "$tmp/err"))" $?
"$ttmem" simulate --scenario leaks --journal "$tmp/no/such/dir.ttmem" 2>"$tmp/err" >/dev/null; st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; check "simulate --journal into a missing directory: one line" $?
if [ -w /dev/full ]; then
    "$ttmem" simulate --scenario llama --journal /dev/full 2>"$tmp/err" >/dev/null; st=$?
    [ $st -eq 1 ] && grep -q "No space left" "$tmp/err"; check "simulate --journal on a full disk: one line ($(cat "$tmp/err"))" $?
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
