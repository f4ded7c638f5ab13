#!/usr/bin/env bash
# contrib/tt-metal/ttmem.cmake from the outside: ttmem installed into a scratch prefix, a
# stand-in TT-Metal project (tests/contrib/standin) configured with
# -DCMAKE_PROJECT_INCLUDE=contrib/tt-metal/ttmem.cmake builds the ttmem hooks into its tt_metal
# target and links the installed libttmem found through ttmem.pc; the driver linked with it
# reports to a real ttmemd. A project without a tt_metal target stops with ttmem.cmake's message.
# Usage: tt_metal_cmake.sh BUILDDIR SRCDIR CXX [CXXFLAGS] (CXXFLAGS: a sanitizer build's flags)
set -u
build=$1
src=$2
cxx=$3
flags=${4:-}
. "$src/tests/cli/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-ttcmake.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/p" >"$tmp/install.log" 2>&1
check "ttmem installs into a scratch prefix ($(tail -c 300 "$tmp/install.log"))" $?
pc=$(find "$tmp/p" -name ttmem.pc | head -1)
[ -n "$pc" ]; check "the prefix has ttmem.pc" $?
export PKG_CONFIG_PATH=$(dirname "$pc")

cmake -S "$src/tests/contrib/standin" -B "$tmp/b" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
    -DCMAKE_PROJECT_INCLUDE="$src/contrib/tt-metal/ttmem.cmake" \
    -DTTMEM_CONTRIB_DIR="$src/contrib/tt-metal" >"$tmp/cfg.log" 2>&1
st=$?; check "the stand-in project configures ($(tail -c 600 "$tmp/cfg.log"))" $st
grep -q "^-- ttmem: TT-Metal reports to libttmem [0-9.]* (tt_metal)" "$tmp/cfg.log"
check "ttmem.cmake says it attached to tt_metal" $?
cmake --build "$tmp/b" -j2 >"$tmp/build.log" 2>&1
st=$?; check "the stand-in builds the hooks into tt_metal ($(tail -c 600 "$tmp/build.log"))" $st
grep -q "ttmem_tt_metal.cpp" "$tmp/b/CMakeFiles/tt_metal.dir/build.make" 2>/dev/null ||
    grep -rq "ttmem_tt_metal.cpp" "$tmp/b/CMakeFiles/tt_metal.dir/" 2>/dev/null
check "the hooks are compiled as part of tt_metal" $?

mkdir "$tmp/priv"
TMPDIR="$tmp/priv" "$build/ttmem" record -o "$tmp/r.json" -- "$tmp/b/driver" >"$tmp/out" 2>"$tmp/err"
st=$?; check "the stand-in's driver under ttmem record exits 0 ($(head -c 400 "$tmp/err"))" $st
python3 - "$tmp/r.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = {k: v["count"] for k, v in r["classes"].items() if v["count"]}
assert c == {"alloc_ok": 6, "free_ok": 4, "alloc_view": 2, "free_view": 2, "leaked_at_exit": 2}, c
PY
check "the events went through the installed libttmem to the daemon" $?

# a project without the target: one clear message from ttmem.cmake
mkdir "$tmp/empty"
printf 'cmake_minimum_required(VERSION 3.19)\nproject(empty LANGUAGES CXX)\n' >"$tmp/empty/CMakeLists.txt"
cmake -S "$tmp/empty" -B "$tmp/eb" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PROJECT_INCLUDE="$src/contrib/tt-metal/ttmem.cmake" \
    >"$tmp/ecfg.log" 2>&1
check "without a tt_metal target the configure fails" $([ $? -ne 0 ]; echo $?)
grep -q "ttmem.cmake: no target 'tt_metal'" "$tmp/ecfg.log"; check "and says which target is missing" $?

echo "tt_metal_cmake.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
