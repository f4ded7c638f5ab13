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

# run_holder FIFO OUT ARGS...: starts an it_client ($client) on $sock that reports ARGS and holds
# its buffers until a line arrives on FIFO; its pid is appended to the pids array.
run_holder() {
    local fifo=$1 out=$2
    shift 2
    mkfifo "$fifo"
    TTMEM=1 TTMEM_SOCKET="$sock" "$client" "$@" --hold <"$fifo" >"$out" 2>>"$tmp/clients.err" &
    pids+=($!)
}
