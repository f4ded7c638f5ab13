# check.sh — sourced by the tests in tests/cli: one way to count checks, and the long-lived
# client the daemon tests hold buffers with. (Not a test itself: ctest runs tests/cli/*.sh.)

pass=0
fail=0

# check NAME STATUS: counts a check that passed when STATUS is 0; prints the failures (and, with
# TTM_VERBOSE=1, the passes).
check() {
    if [ "$2" -eq 0 ]; then
        pass=$((pass + 1))
        [ -n "${TTM_VERBOSE:-}" ] && echo "ok: $1"
    else
        echo "FAIL: $1"
        fail=$((fail + 1))
    fi
    return 0
}

# check_none NAME FILE WHAT: counts a check that passed when FILE is empty; otherwise prints
# "WHAT (N):" and FILE's lines, indented (each a finding, e.g. file:line: why).
check_none() {
    local n
    n=$(wc -l <"$2")
    if [ "$n" -ne 0 ]; then
        echo "$3 ($n):"
        sed 's/^/  /' "$2"
    fi
    [ "$n" -eq 0 ]; check "$1" $?
}

# run_holder FIFO OUT ARGS...: starts an it_client ($client) on $sock that reports ARGS and holds
# its buffers until a line arrives on FIFO; its pid is appended to the pids array.
run_holder() {
    local fifo=$1 out=$2
    shift 2
    mkfifo "$fifo"
    TTMEM=1 TTMEM_SOCKET="$sock" "$client" "$@" --hold <"$fifo" >"$out" 2>>"$tmp/clients.err" &
    pids+=($!)
}
