# poc_daemon.sh — sourced by the tests that need a ttmemd with the legacy socket (poc.sh,
# analyze_journal.sh): $ttmemd, $tmp and the dpid variable are the caller's. (Not a test
# itself: ctest runs tests/cli/*.sh.)

# start_daemon LOG ARGS...: a foreground daemon on $tmp/d.sock with the legacy socket $tmp/p.sock
start_daemon() {
    local log=$1
    shift
    "$ttmemd" --foreground --socket "$tmp/d.sock" --poc-socket="$tmp/p.sock" --log-file "$log" "$@" &
    dpid=$!
    for _ in $(seq 200); do [ -S "$tmp/p.sock" ] && [ -S "$tmp/d.sock.query" ] && return 0; sleep 0.02; done
    echo "FAIL: ttmemd did not start ($log)"
    return 1
}
stop_daemon() {
    kill -TERM "$dpid"
    timeout 10 tail --pid="$dpid" -f /dev/null
    wait "$dpid"
    local rc=$?
    dpid=
    return $rc
}
