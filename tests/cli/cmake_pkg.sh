#!/usr/bin/env bash
# cmake_pkg.sh BUILD SRC — the CMake package (ctest: cli.cmake_pkg; TTM_KEEP=1 keeps the
# temporary directory). The build tree is installed into a DESTDIR; a small project outside the
# tree then finds it with find_package(ttmem) (CMAKE_PREFIX_PATH = the staged prefix), links
# one program against ttmem::ttmem and one against ttmem::ttmem_static, and both run: they
# call libttmem (ttm_strerror, ttm_client_enabled, ttm_scope_push with tracking off) and the
# shared one must load the staged libttmem.so, not one of the build tree or the system.
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-cmakepkg.XXXXXX)
trap '[ -n "${TTM_KEEP:-}" ] || rm -rf "$tmp"' EXIT
stage="$tmp/stage"

DESTDIR="$stage" cmake --install "$build" >"$tmp/install.out" 2>&1
rc=$?
check "the build tree installs into a DESTDIR ($(tail -1 "$tmp/install.out"))" $rc
prefix=$(sed -nE 's/^CMAKE_INSTALL_PREFIX:PATH=(.*)/\1/p' "$build/CMakeCache.txt")
libdir=$(sed -nE 's/^CMAKE_INSTALL_LIBDIR:PATH=(.*)/\1/p' "$build/CMakeCache.txt")
root="$stage$prefix"
cfg="$root/$libdir/cmake/ttmem"
[ -f "$cfg/ttmemConfig.cmake" ] && [ -f "$cfg/ttmemConfigVersion.cmake" ] &&
    [ -f "$cfg/ttmemTargets.cmake" ]
check "ttmemConfig.cmake, its version file and its targets are in $libdir/cmake/ttmem" $?
[ -f "$root/$libdir/pkgconfig/ttmem.pc" ]; check "next to ttmem.pc" $?
! grep -rqF -e "$build" -e "$src" "$cfg"; check "the package names no path of the build or source tree" $?

mkdir -p "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(uses_ttmem C)
find_package(ttmem 0.1 REQUIRED)
add_executable(use_shared use.c)
target_link_libraries(use_shared PRIVATE ttmem::ttmem)
add_executable(use_static use.c)
target_link_libraries(use_static PRIVATE ttmem::ttmem_static)
file(WRITE ${CMAKE_BINARY_DIR}/found.txt "${ttmem_DIR}\n${ttmem_VERSION}\n")
CM
cat >"$tmp/proj/use.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <ttmem/ttmem.h>
int main(void)
{
    /* tracking is off (no TTMEM in the environment): calls return TTM_EDISABLED */
    if (ttm_client_enabled() != 0)
        return 3;
    int rc = ttm_scope_push("op");
    printf("%s %s\n", ttm_err_name(rc), ttm_strerror(TTM_EINVAL) ? "strerror" : "none");
    return rc == TTM_EDISABLED ? 0 : 4;
}
C
cmake -S "$tmp/proj" -B "$tmp/proj/b" -DCMAKE_PREFIX_PATH="$root" >"$tmp/cfg.out" 2>&1
cfgrc=$?
check "find_package(ttmem) finds the staged package ($(grep -m1 -i error "$tmp/cfg.out"))" $cfgrc
[ "$(sed -n 1p "$tmp/proj/b/found.txt" 2>/dev/null)" = "$cfg" ]
st=$?; check "from the staged tree ($(sed -n 1p "$tmp/proj/b/found.txt" 2>/dev/null))" $st
want=$(sed -nE 's/^CMAKE_PROJECT_VERSION:STATIC=(.*)/\1/p' "$build/CMakeCache.txt")
[ "$(sed -n 2p "$tmp/proj/b/found.txt" 2>/dev/null)" = "$want" ]
check "its version is the project's ($want)" $?
cmake --build "$tmp/proj/b" >"$tmp/build.out" 2>&1
rc=$?
check "a program links against ttmem::ttmem and ttmem::ttmem_static ($(grep -m1 -i error "$tmp/build.out"))" $rc
out=$(env -u TTMEM -u TT_ALLOC_TRACKING_ENABLED "$tmp/proj/b/use_shared" 2>&1)
check "the shared program runs ($out)" $?
[ "$out" = "TTM_EDISABLED strerror" ]; check "and calls libttmem ($out)" $?
so=$(env -u TTMEM LD_TRACE_LOADED_OBJECTS=1 "$tmp/proj/b/use_shared" 2>/dev/null |
    sed -nE 's/.*libttmem\.so[^ ]* => ([^ ]+).*/\1/p')
case "$so" in "$root/$libdir/"*) st=0 ;; *) st=1 ;; esac
check "it loads the staged libttmem.so ($so)" $st
out=$(env -u TTMEM -u TT_ALLOC_TRACKING_ENABLED "$tmp/proj/b/use_static" 2>&1)
[ "$out" = "TTM_EDISABLED strerror" ]; check "the static program runs and calls libttmem ($out)" $?
! env LD_TRACE_LOADED_OBJECTS=1 "$tmp/proj/b/use_static" 2>/dev/null | grep -q libttmem
check "the static program needs no libttmem.so" $?

echo "cmake_pkg.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
