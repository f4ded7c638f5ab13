#!/usr/bin/env bash
# ttmem simulate from the outside: every scenario passes --check in both client behaviours,
# the report says what the investigators dug out by hand, and bad input gets one clear line.
set -u
build=$1
ttmem="$build/ttmem"
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# every scenario, both client behaviours, --check
scenarios=$("$ttmem" simulate --scenario list | awk '{print $1}')
[ -n "$scenarios" ]; check "scenario list is not empty" $?
for s in $scenarios; do
    for c in identity legacy; do
        "$ttmem" simulate --scenario "$s" --client "$c" --seed 7 --check >"$tmp/out" 2>"$tmp/err"
        st=$?; check "simulate $s --client $c --check exits 0 ($(head -c 300 "$tmp/err"))" $st
        grep -q "check passed" "$tmp/err"; check "simulate $s $c says check passed" $?
    done
done

# causes: every scenario, several seeds, in the legacy client (addresses only): --check holds
# the attributed causes against the scenario's own, and says the accuracy (at least 99%)
for s in $scenarios; do
    for seed in 1 2 3 11; do
        "$ttmem" simulate --scenario "$s" --client legacy --seed "$seed" --check >/dev/null \
            2>"$tmp/err"
        st=$?; check "simulate $s --client legacy --seed $seed --check exits 0 ($(head -c 400 "$tmp/err"))" $st
        acc=$(sed -n 's/^ttmem: causes: .*(accuracy \([0-9.]*\)%.*/\1/p' "$tmp/err")
        if grep -q "^ttmem: causes: no address-only unmatched frees" "$tmp/err"; then acc=100; fi
        awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 99) }'
        check "simulate $s legacy seed $seed: causes on the right cause >= 99% (${acc:-none})" $?
    done
done
# the mixes have every cause, and the llama run the issue's 3,504 mesh frees and 1,100 storm frees
for s in mix2 mix8 mix32; do
    "$ttmem" simulate --scenario "$s" --client legacy --check >/dev/null 2>"$tmp/err"
    for c in mesh_multiplicity double_release excess_storm pre_tracking unexplained; do
        grep -Eq "^ttmem: causes: .*[:,] $c [1-9][0-9,]* of [1-9]" "$tmp/err"
        check "$s: --check counts $c frees ($(grep causes "$tmp/err" | head -c 300))" $?
    done
done
"$ttmem" simulate --scenario llama --client legacy --check >/dev/null 2>"$tmp/err"
grep -q "^ttmem: causes: 4,604 of 4,604 unmatched frees on the right cause (accuracy 100.00%" \
    "$tmp/err" &&
    grep -q "mesh_multiplicity 3,504 of 3,504, excess_storm 1,100 of 1,100$" "$tmp/err"
check "llama legacy: 3,504 mesh and 1,100 storm frees, all on the right cause ($(grep causes "$tmp/err" | head -c 300))" $?

# --check --seeds N-M: every seed's run checked, one line summing the causes
"$ttmem" simulate --scenario program-pool --client legacy --check --seeds 4-6 >"$tmp/out" 2>"$tmp/err"
st=$?; check "simulate --check --seeds 4-6 exits 0 ($(head -c 300 "$tmp/err"))" $st
[ ! -s "$tmp/out" ] && grep -q "^ttmem: program-pool (legacy client), 3 seeds: 0 failed the check, 0 below 99% on the causes; causes over all seeds 108 of 108 unmatched frees" "$tmp/err"
check "--seeds prints no report and sums 3 seeds ($(head -c 300 "$tmp/err"))" $?

# the legacy llama report names the worst address and the excess percentage
"$ttmem" simulate --scenario llama --client legacy >"$tmp/legacy.txt" 2>&1
grep -Eq "^Worst +device [0-9]+ DRAM 0x[0-9A-F]+ freed [0-9,]+ more times than allocated" "$tmp/legacy.txt"
check "legacy report names the worst address" $?
grep -Eq "\(([0-9.]+)% more frees than allocations\)" "$tmp/legacy.txt"
check "legacy report gives the excess of frees in %" $?
grep -Eq "^Unmatched +[0-9,]+ frees on [0-9,]+ addresses" "$tmp/legacy.txt"
check "legacy report counts unmatched frees and their addresses" $?

# identity: mesh views are explained, no unknown or excess frees
"$ttmem" simulate --scenario mesh8 --client identity --json >"$tmp/id.json"
check "identity json exits 0" $?
python3 - "$tmp/id.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == "ttmem.report" and r["schema_version"] == 2, r.get("schema")
c = r["classes"]
assert c["unknown_free"]["count"] == 0, c["unknown_free"]
assert c["excess_free"]["count"] == 0, c["excess_free"]
assert c["free_view"]["count"] + c["view_after_owner"]["count"] > 0
assert r["totals"]["allocs"] > 0 and len(r["devices"]) == 8, len(r["devices"])
PY
check "identity mesh8 JSON: views explained, no unknown/excess frees" $?

# call sites: the pool's double frees carry the stack of the pool's release and of the free
# that released the buffer first (two different paths), every leak group a stack, and the
# breakdown names the scenario's phases
"$ttmem" simulate --scenario program-pool --client identity --json >"$tmp/pp.json"
check "program-pool json exits 0" $?
"$ttmem" simulate --scenario leaks --client identity --json >"$tmp/leaks.json"
check "leaks json exits 0" $?
python3 - "$tmp/pp.json" "$tmp/leaks.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
df = r["classes"]["double_free"]
assert df["count"] > 0 and df["offenders"], df
pairs = set()
for o in df["offenders"]:
    assert o["sites"], o
    for s in o["sites"]:
        assert s["stack"] != 0 and s["release_stack"] != 0 and s["stack"] != s["release_stack"], s
        assert s["scope"] != 0 and s["phase"] != 0, s
        pairs.add((s["stack"], s["release_stack"]))
assert sum(s["count"] for o in df["offenders"] for s in o["sites"]) + \
    sum(o["sites_other"] for o in df["offenders"]) == sum(o["count"] for o in df["offenders"])
if "stacks" in r:
    stacks = {s["id"]: s for s in r["stacks"]}
    for st, rel in pairs:
        assert stacks[st]["frames"][1]["function"] == "tt::tt_metal::ProgramBufferPool::release"
        assert "ProgramImpl" in stacks[rel]["frames"][1]["function"], stacks[rel]
l = json.load(open(sys.argv[2]))
assert l["leaked_count"] > 0
for k in l["leaks"]:
    assert k["stack"] != 0, k
if "leak_groups" in l:
    assert l["leak_groups"] and all(g["stack"] != 0 for g in l["leak_groups"]), l["leak_groups"]
    assert sum(g["count"] for g in l["leak_groups"]) == l["leaked_count"]
PY
check "simulate --json: sites of double frees and leaks name the simulated paths" $?

# golden reports: the text a user reads, byte for byte (regenerate with UPDATE_GOLDEN=1 after a
# deliberate change, and read the diff)
src=${2:-$(dirname "$0")/../..}
golden() { # file, args...
    local file="$src/tests/golden/$1"
    shift
    "$ttmem" simulate "$@" >"$tmp/golden" 2>/dev/null
    if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then cp "$tmp/golden" "$file"; fi
    diff -u "$file" "$tmp/golden" >"$tmp/golden.diff"
    st=$?; check "golden $1 ($(head -c 600 "$tmp/golden.diff"))" $st
}
golden leaks_identity.txt --scenario leaks --client identity --seed 3
golden program_pool_legacy.txt --scenario program-pool --client legacy --seed 3

# bad input: one line on stderr, non-zero exit
bad() { # description, expected-substring, args...
    local what=$1 want=$2
    shift 2
    "$ttmem" "$@" >"$tmp/o" 2>"$tmp/e"
    local rc=$?
    [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ] && grep -q "$want" "$tmp/e"
    st=$?; check "$what (rc=$rc, stderr: $(cat "$tmp/e"))" $st
}
bad "unknown scenario" "unknown scenario 'nope'" simulate --scenario nope
bad "bad client" "identity' or 'legacy'" simulate --scenario llama --client both
bad "bad seed" "not a number" simulate --scenario llama --seed 12x
bad "negative seed" "not a number" simulate --scenario llama --seed -1
bad "missing scenario" "scenario is required" simulate
bad "unknown flag" "unknown option" simulate --scenario llama --frobnicate
bad "unknown command" "unknown command" frobnicate
bad "missing value" "missing its value" simulate --scenario
bad "seeds without check" "seeds goes with --check" simulate --scenario llama --seeds 1-3
bad "seeds reversed" "is not N or N-M" simulate --scenario llama --check --seeds 5-2
bad "seeds not a number" "is not N or N-M" simulate --scenario llama --check --seeds 1-x

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
