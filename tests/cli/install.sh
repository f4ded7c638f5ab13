#!/usr/bin/env bash
# install.sh SRC CC — the packaging contract (ctest: packaging.install; TTM_KEEP=1 keeps the
# temporary directory). A scratch tree is configured by
# `make install` with -DBUILD_TESTING=OFF and cmocka unfindable, built with CC and staged with
# DESTDIR under the prefix /usr, with apt-get and dpkg-query replaced by programs that leave a
# mark: then make must not have looked for a package, CMake for cmocka or any test; the staged
# tree must follow GNUInstallDirs (lib/<multiarch> on Debian), hold no test helper in bin,
# give a ttmem.pc that a program compiles and links against, and its ttmem, ttmemd and
# `ttmem demo` (which finds ttmem-simproc in libexec) must run from the staged tree.
set -u
src=$1
cc=${2:-cc}
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-install.XXXXXX)
trap '[ -n "${TTM_KEEP:-}" ] || rm -rf "$tmp"' EXIT
stage="$tmp/stage"
tree="$tmp/tree"

# make install must not install packages: apt-get, apt, dpkg-query (and sudo) leave a mark and
# fail.
mkdir -p "$tmp/fakebin"
for p in apt-get apt dpkg-query sudo; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/package-tool-called"\nexit 1\n' "$p" "$tmp" \
        >"$tmp/fakebin/$p"
    chmod +x "$tmp/fakebin/$p"
done

PATH="$tmp/fakebin:$PATH" make -C "$src" --no-print-directory install INSTALL_BUILD="$tree" \
    PREFIX=/usr DESTDIR="$stage" JOBS=2 \
    CMAKE_ARGS="-DCMAKE_C_COMPILER=$cc -DCMAKE_DISABLE_FIND_PACKAGE_cmocka=TRUE" \
    >"$tmp/make.out" 2>&1
made=$?
check "make install DESTDIR=... PREFIX=/usr builds and stages a tree ($(tail -3 "$tmp/make.out"))" $made
[ ! -e "$tmp/package-tool-called" ]
st=$?; check "make install runs no package tool ($(cat "$tmp/package-tool-called" 2>/dev/null))" $st
if [ "$made" -ne 0 ] || [ ! -d "$stage" ]; then
    echo "install.sh: make install failed, nothing staged to check:"
    tail -20 "$tmp/make.out"
    echo "install.sh: $pass passed, $fail failed"
    exit 1
fi
[ -f "$tree/CMakeCache.txt" ]; check "it configured the scratch tree $tree" $?
grep -q '^BUILD_TESTING:BOOL=OFF' "$tree/CMakeCache.txt"; check "with BUILD_TESTING=OFF" $?
grep -q '^TTM_WERROR:BOOL=OFF' "$tree/CMakeCache.txt"; check "and warnings not fatal" $?
# every find_* leaves its result in the cache: nothing of cmocka's may be there
looked=$(grep -i cmocka "$tree/CMakeCache.txt" | grep -v '^CMAKE_DISABLE_FIND_PACKAGE_cmocka')
[ -z "$looked" ]; check "no cmocka looked for ($looked)" $?
! grep -rqil cmocka "$tree" --include='*.make' --include='link.txt' --include=Makefile
check "nothing compiled or linked with cmocka" $?
[ ! -e "$tree/tests" ] && [ ! -e "$tree/fuzz" ]; check "no test or fuzz target configured" $?
ntests=$(cd "$tree" && ctest -N 2>/dev/null | sed -nE 's/^Total Tests: ([0-9]+)/\1/p')
[ "$ntests" = 0 ]; check "ctest lists no test in it ($ntests)" $?
[ -x "$tree/ttmem" ] && [ -x "$tree/ttmemd" ] && [ -x "$tree/bench/bench_core" ]
check "the CLI, the daemon and the benchmarks built" $?

# the layout: GNUInstallDirs under /usr
# (Debian, prefix /usr: lib/<multiarch>, what the compiler says; elsewhere what CMake chose)
libdir=$(sed -nE 's/^CMAKE_INSTALL_LIBDIR:PATH=(.*)/\1/p' "$tree/CMakeCache.txt")
multiarch=$("$cc" -print-multiarch 2>/dev/null)
if [ -f /etc/debian_version ] && [ -n "$multiarch" ]; then
    [ "$libdir" = "lib/$multiarch" ]; check "CMake's libdir is Debian's multiarch one ($libdir)" $?
    libdir="lib/$multiarch"
else
    [ -n "$libdir" ]; check "GNUInstallDirs gave a libdir ($libdir)" $?
fi
top=$(cd "$stage" && ls -A)
[ "$top" = usr ]; check "everything is under the prefix /usr ($top)" $?
bin=$(cd "$stage/usr/bin" 2>/dev/null && ls -A | tr '\n' ' ')
[ "$bin" = "ttmem ttmemd " ]; check "bin holds ttmem and ttmemd, no test helper ($bin)" $?
[ -x "$stage/usr/libexec/ttmem/ttmem-simproc" ]
check "ttmem-simproc is in libexec/ttmem" $?
lib="$stage/usr/$libdir"
[ -f "$lib/libttmem.so.0.1.0" ] && [ -L "$lib/libttmem.so.0" ] && [ -L "$lib/libttmem.so" ] &&
    [ -f "$lib/libttmem.a" ]
st=$?; check "libttmem (shared with its SONAME link, static) in $libdir ($(ls "$lib" 2>/dev/null | tr '\n' ' '))" $st
[ -f "$stage/usr/include/ttmem/ttmem.h" ]; check "the header in include/ttmem" $?
[ "$(ls -A "$stage/usr/include/ttmem" 2>/dev/null)" = ttmem.h ]
check "and only the public header" $?
unit="$stage/usr/lib/systemd/system/ttmemd.service"
[ -f "$unit" ]; check "the unit in lib/systemd/system" $?
grep -q '^ExecStart=/usr/bin/ttmemd ' "$unit"; check "its ExecStart names /usr/bin/ttmemd" $?
[ -f "$stage/usr/lib/sysusers.d/ttmem.conf" ]; check "the group in lib/sysusers.d/ttmem.conf" $?
[ -f "$stage/usr/share/ttmem/prometheus.yml" ] && [ -f "$stage/usr/share/ttmem/grafana/ttmem.json" ]
check "the Prometheus and Grafana examples in share/ttmem" $?

# ttmem.pc, found through the staged pkgconfig directory, points into the staged tree
pc="$lib/pkgconfig/ttmem.pc"
[ -f "$pc" ]; check "ttmem.pc in $libdir/pkgconfig" $?
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_LIBDIR="$lib/pkgconfig"
pcdir=$(pkg-config --variable=libdir ttmem 2>&1)
[ "$(realpath -m "$pcdir")" = "$(realpath "$lib")" ]; check "ttmem.pc's libdir is $libdir ($pcdir)" $?
pcinc=$(pkg-config --variable=includedir ttmem 2>&1)
[ "$(realpath -m "$pcinc")" = "$(realpath "$stage/usr/include")" ]
check "ttmem.pc's includedir is include ($pcinc)" $?
cat >"$tmp/use.c" <<'EOF'
#include <stdio.h>
#include <ttmem/ttmem.h>
int main(void)
{
    printf("%s %d\n", ttm_err_name(TTM_EINVAL), ttm_client_enabled());
    return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's words are meant to split
"$cc" -o "$tmp/use" "$tmp/use.c" $(pkg-config --cflags --libs ttmem) >"$tmp/cc.out" 2>&1
st=$?; check "a program compiles and links with pkg-config --cflags --libs ttmem ($(head -3 "$tmp/cc.out"))" $st
out=$(env -u TTMEM -u TT_ALLOC_TRACKING_ENABLED LD_LIBRARY_PATH="$lib" "$tmp/use" 2>&1)
[ "$out" = "TTM_EINVAL 0" ]; check "and runs against the staged libttmem ($out)" $?
LD_LIBRARY_PATH="$lib" ldd "$tmp/use" | grep -q "libttmem.so.0 => $lib/libttmem.so.0 "
st=$?; check "the shared one ($(LD_LIBRARY_PATH="$lib" ldd "$tmp/use" | grep ttmem))" $st
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR

# the staged programs run (they link libttmem statically or not at all)
version=$(sed -nE 's/^CMAKE_PROJECT_VERSION:STATIC=(.*)/\1/p' "$tree/CMakeCache.txt")
out=$("$stage/usr/bin/ttmem" --version 2>&1)
[ "$out" = "ttmem $version" ]; check "the staged ttmem --version ($out)" $?
out=$("$stage/usr/bin/ttmemd" --version 2>&1)
[ "$out" = "ttmemd $version" ]; check "the staged ttmemd --version ($out)" $?
# `ttmem demo` starts the staged ttmemd (next to it) and the staged ttmem-simproc (libexec),
# with nothing of ttmem's on PATH
env -u TTMEM -u TTMEM_SOCKET PATH="$tmp/fakebin" TMPDIR="$tmp" "$stage/usr/bin/ttmem" demo \
    >"$tmp/demo.out" 2>&1
st=$?; check "the staged ttmem demo runs ($(tail -3 "$tmp/demo.out"))" $st
grep -q "from 3 processes" "$tmp/demo.out"
st=$?; check "with its three simulated processes ($(grep -m1 Transport "$tmp/demo.out"))" $st

echo "install.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
