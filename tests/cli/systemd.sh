#!/usr/bin/env bash
# contrib/systemd/ttmemd.service as the build configured it: systemd-analyze verify finds
# nothing to say about it (run on the build's ttmemd), its hardening keeps the exposure level
# that `systemd-analyze security` reports at "OK" or better.
# Skipped (passes) where systemd-analyze is missing.
set -u
build=$1
. "$(dirname "$0")/lib/check.sh"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd.sh: systemd-analyze is not installed; skipped"
    exit 0
fi
tmp=$(mktemp -d /tmp/ttmem-unit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unit="$tmp/ttmemd.service"
[ -f "$build/ttmemd.service" ]; check "the build configured ttmemd.service" $?
# the installed ExecStart names the install's bindir; verify needs a binary that exists
bindir=$(sed -nE 's|^ExecStart=(.*)/ttmemd .*|\1|p' "$build/ttmemd.service")
[ -n "$bindir" ] && [ "${bindir#/}" != "$bindir" ]; check "ExecStart is an absolute path ($bindir)" $?
sed "s|^ExecStart=$bindir/ttmemd |ExecStart=$build/ttmemd |" "$build/ttmemd.service" >"$unit"
grep -q -- "--system --foreground" "$unit"; check "the unit runs ttmemd --system in the foreground" $?
systemd-analyze verify "$unit" >"$tmp/verify.out" 2>&1
check "systemd-analyze verify accepts the unit" $?
! grep -q "ttmemd.service" "$tmp/verify.out"; st=$?; check "and has nothing to say about it ($(grep ttmemd.service "$tmp/verify.out" | head -3))" $st
if systemd-analyze security --offline=yes "$unit" >"$tmp/security.out" 2>&1; then
    level=$(sed -nE 's/.*Overall exposure level for ttmemd.service: ([0-9.]+).*/\1/p' "$tmp/security.out")
    [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 4.0) }'
    check "exposure level $level is at most 4.0 (OK)" $?
fi

echo "systemd.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
