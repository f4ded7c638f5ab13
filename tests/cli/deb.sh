#!/usr/bin/env bash
# deb.sh BUILD SRC — the Debian packages (ctest: packaging.deb; TTM_KEEP=1 keeps the temporary
# directory). A copy of the source tree (what git tracks and the new files it does not ignore)
# is built by `dpkg-buildpackage -us -uc -b` with parallel=2; the packages, ttmem, libttmem-dev
# and python3-ttmem, must come out, pass lintian without an error (when lintian is installed;
# debian/*.lintian-overrides hold the warnings that are no defect, each with its reason), be
# extracted with `dpkg -x` into a scratch root (never installed on the machine), and from
# there: ttmem and ttmemd print the changelog's version, `ttmem demo` runs, a program built with
# the packaged ttmem.pc links libttmem and runs, the Python package imports, and the packaged
# unit passes `systemd-analyze verify`. Skipped (passes) where dpkg-buildpackage or debhelper
# is missing (scripts/deps.sh installs them).
set -u
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/check.sh"
for tool in dpkg-buildpackage dh dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "deb.sh: $tool is not installed (scripts/deps.sh: dpkg-dev, debhelper); skipped"
        exit 0
    fi
done
tmp=$(mktemp -d /tmp/ttmem-deb.XXXXXX)
trap '[ -n "${TTM_KEEP:-}" ] || rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" "$tmp/root"

# the source: git's files (tracked, and untracked but not ignored), no build trees
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # (obj-<triplet>/: dh's build tree, when someone built the packages in the source tree)
    (cd "$src" && git ls-files -z -c -o --exclude-standard | grep -zv '^obj-' |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$tmp/src"
else
    tar -C "$src" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -xf - -C "$tmp/src"
fi
[ -f "$tmp/src/debian/control" ] && [ -x "$tmp/src/debian/rules" ]
check "the copied source has debian/control and an executable debian/rules" $?
version=$(cd "$tmp/src" && dpkg-parsechangelog -S Version)
upstream=$(sed -nE 's/^project\(ttmem VERSION ([0-9.]+).*/\1/p' "$tmp/src/CMakeLists.txt")
[ "${version%%-*}" = "$upstream" ]
check "debian/changelog's version $version is the project's $upstream" $?

(cd "$tmp/src" && DEB_BUILD_OPTIONS="parallel=2 nocheck" dpkg-buildpackage -us -uc -b) \
    >"$tmp/build.out" 2>&1
built=$?
check "dpkg-buildpackage -us -uc -b builds ($(grep -E 'error|missing' "$tmp/build.out" | tail -3))" $built
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb_bin="$tmp/ttmem_${version}_${arch}.deb"
deb_dev="$tmp/libttmem-dev_${version}_${arch}.deb"
deb_py="$tmp/python3-ttmem_${version}_${arch}.deb"
if [ "$built" -ne 0 ] || [ ! -f "$deb_bin" ] || [ ! -f "$deb_dev" ] || [ ! -f "$deb_py" ]; then
    echo "deb.sh: no packages to check ($(ls "$tmp"/*.deb 2>/dev/null | tr '\n' ' ')):"
    tail -25 "$tmp/build.out"
    echo "deb.sh: $pass passed, $fail failed"
    exit 1
fi
! grep -q 'dh_missing: warning' "$tmp/build.out"
check "every installed file is in a package ($(grep 'dh_missing' "$tmp/build.out" | head -3))" $?

# lintian on the .changes (every package of the build): no error; what it still warns of is
# printed (the overrides in debian/ keep those that are no defect)
if command -v lintian >/dev/null 2>&1; then
    changes="$tmp/ttmem_${version}_${arch}.changes"
    lintian --fail-on error "$changes" >"$tmp/lintian.out" 2>&1
    st=$?
    check "lintian finds no error in the packages ($(grep -E '^E:' "$tmp/lintian.out" | head -5 | tr '\n' ' '))" $st
    grep -qE '^E:' "$tmp/lintian.out" && st=1 || st=0
    check "and names none in its output" $st
    grep -E '^W:' "$tmp/lintian.out" | sed 's/^/deb.sh: lintian: /'
else
    echo "deb.sh: lintian is not installed (scripts/deps.sh installs it); the packages are not linted"
fi

# what each package holds
dpkg-deb -c "$deb_bin" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/bin.list"
dpkg-deb -c "$deb_dev" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/dev.list"
dpkg-deb -c "$deb_py" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/py.list"
for f in /usr/lib/python3/dist-packages/ttmem/__init__.py /usr/lib/python3/dist-packages/ttmem/_paths.py \
    /usr/share/doc/python3-ttmem/copyright; do
    grep -qx "$f" "$tmp/py.list"; check "python3-ttmem holds $f" $?
done
! grep -q '/python3' "$tmp/bin.list"; check "ttmem holds no Python module" $?
for f in /usr/share/doc/ttmem/copyright; do
    grep -qx "$f" "$tmp/bin.list"; check "ttmem holds $f" $?
done
dep=$(dpkg-deb -f "$deb_py" Depends)
case "$dep" in *"python3 ("*"ttmem (= $version)"*) st=0 ;; *) st=1 ;; esac
check "python3-ttmem depends on python3 and ttmem (= $version) ($dep)" $st
for f in /usr/bin/ttmem /usr/bin/ttmemd /usr/libexec/ttmem/ttmem-simproc \
    /lib/systemd/system/ttmemd.service /usr/lib/sysusers.d/ttmem.conf \
    /usr/share/ttmem/prometheus.yml /usr/share/man/man1/ttmem.1.gz /usr/share/man/man8/ttmemd.8.gz \
    /usr/share/bash-completion/completions/ttmem /usr/share/zsh/vendor-completions/_ttmem; do
    grep -qx "$f" "$tmp/bin.list"; check "ttmem holds $f" $?
done
grep -qE '^/usr/lib/[^/]+/libttmem\.so\.[0-9]+$' "$tmp/bin.list"
check "ttmem holds libttmem's shared library (soname link)" $?
for re in '/usr/include/ttmem/ttmem\.h' '/usr/lib/[^/]+/libttmem\.so' '/usr/lib/[^/]+/libttmem\.a' \
    '/usr/lib/[^/]+/pkgconfig/ttmem\.pc' '/usr/share/man/man3/libttmem\.3\.gz' \
    '/usr/lib/[^/]+/cmake/ttmem/ttmemConfig\.cmake'; do
    grep -qxE "$re" "$tmp/dev.list"; check "libttmem-dev holds $re" $?
done
! grep -qE '/ttmem-simproc$|/bin/(it_|test_|bench_)' "$tmp/dev.list"
check "libttmem-dev holds no program" $?
! grep -qE '/bin/(it_|test_|bench_|gendocs)' "$tmp/bin.list"; check "no test or benchmark packaged" $?
dep=$(dpkg-deb -f "$deb_dev" Depends)
case "$dep" in *"ttmem (= $version)"*) st=0 ;; *) st=1 ;; esac
check "libttmem-dev depends on ttmem (= $version) ($dep)" $st
deps=$(dpkg-deb -f "$deb_bin" Depends)
case "$deps" in *libc6*) st=0 ;; *) st=1 ;; esac
check "ttmem's Depends come from its libraries ($deps)" $st
dpkg-deb --ctrl-tarfile "$deb_bin" | tar -tf - | grep -q '^\./postinst$'
check "ttmem has a postinst (the group, the unit)" $?
dpkg-deb -I "$deb_bin" postinst | grep -q 'systemd-sysusers'
check "whose postinst creates the group with systemd-sysusers" $?

# extracted into a scratch root, never installed on the machine
dpkg -x "$deb_bin" "$tmp/root" && dpkg -x "$deb_dev" "$tmp/root" && dpkg -x "$deb_py" "$tmp/root"
check "dpkg -x extracts the three packages" $?
r="$tmp/root"
libdir=$(dirname "$(ls "$r"/usr/lib/*/libttmem.so | head -1)")
export LD_LIBRARY_PATH="$libdir"
out=$("$r/usr/bin/ttmem" --version 2>&1)
case "$out" in *"$upstream"*) st=0 ;; *) st=1 ;; esac
check "the packaged ttmem --version says $upstream ($out)" $st
out=$("$r/usr/bin/ttmemd" --version 2>&1)
case "$out" in *"$upstream"*) st=0 ;; *) st=1 ;; esac
check "the packaged ttmemd --version says $upstream ($out)" $st
# (it starts the packaged ttmemd next to it and ttmem-simproc from libexec; a private daemon)
env -u TTMEM -u TTMEM_SOCKET TMPDIR="$tmp" timeout 120 "$r/usr/bin/ttmem" demo >"$tmp/demo.out" 2>&1
check "the packaged ttmem demo runs ($(tail -2 "$tmp/demo.out"))" $?
grep -q "from 3 processes" "$tmp/demo.out"
check "with its three simulated processes, ttmem-simproc found in libexec" $?
# the Python package imports from the scratch root and names the packaged library's path
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
out=$(cd "$tmp" && PYTHONPATH="$r/usr/lib/python3/dist-packages" python3 -c \
    'import ttmem, ttmem._paths as p; print(p.LIBTTMEM, ttmem.__file__)' 2>&1)
case "$out" in "/usr/lib/$multiarch/libttmem.so.0 $r/usr/lib/python3/dist-packages/ttmem/"*) st=0 ;; *) st=1 ;; esac
check "the packaged Python package imports and names /usr/lib/$multiarch/libttmem.so.0 ($out)" $st

# a program built against the packaged header, ttmem.pc and library
cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <ttmem/ttmem.h>
int main(void)
{
    printf("%s\n", ttm_strerror(0) ? "linked" : "null");
    return 0;
}
C
pc=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs ttmem 2>&1)
check "pkg-config finds the packaged ttmem.pc ($pc)" $?
# shellcheck disable=SC2086
cc -o "$tmp/prog" "$tmp/prog.c" $pc >"$tmp/cc.out" 2>&1
check "a program compiles and links with it ($(head -3 "$tmp/cc.out"))" $?
out=$("$tmp/prog" 2>&1)
[ "$out" = linked ]; check "and runs against the packaged libttmem ($out)" $?
ldd "$tmp/prog" | grep -q "$libdir/libttmem.so"
check "the packaged shared library, not another ($(ldd "$tmp/prog" | grep ttmem))" $?

# and with the packaged CMake package (find_package(ttmem), ttmem::ttmem)
mkdir -p "$tmp/cm"
cp "$tmp/prog.c" "$tmp/cm/prog.c"
printf '%s\n' 'cmake_minimum_required(VERSION 3.18)' 'project(p C)' \
    'find_package(ttmem REQUIRED)' 'add_executable(prog prog.c)' \
    'target_link_libraries(prog PRIVATE ttmem::ttmem)' >"$tmp/cm/CMakeLists.txt"
(cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$r/usr" && cmake --build "$tmp/cm/b") \
    >"$tmp/cm.out" 2>&1
check "find_package(ttmem) in the packaged tree builds a program ($(tail -3 "$tmp/cm.out"))" $?
out=$("$tmp/cm/b/prog" 2>&1)
[ "$out" = linked ]; check "which runs ($out)" $?

# the packaged man pages render, the packaged bash completion registers
if command -v man >/dev/null 2>&1; then
    for m in man1/ttmem.1 man8/ttmemd.8 man3/libttmem.3; do
        MANWIDTH=80 man -l "$r/usr/share/man/$m.gz" >"$tmp/man.out" 2>&1 &&
            [ "$(wc -l <"$tmp/man.out")" -gt 10 ]
        check "man -l renders the packaged $m ($(head -2 "$tmp/man.out"))" $?
    done
fi
out=$(bash -c '. "$1" && complete -p ttmem' _ "$r/usr/share/bash-completion/completions/ttmem" 2>&1)
case "$out" in "complete "*ttmem) st=0 ;; *) st=1 ;; esac
check "the packaged bash completion registers ttmem ($out)" $st

# the packaged unit: ExecStart names /usr/bin/ttmemd; verify it with the scratch root's binary
unit="$tmp/ttmemd.service"
grep -q '^ExecStart=/usr/bin/ttmemd --system --foreground' "$r/lib/systemd/system/ttmemd.service"
check "the unit's ExecStart is /usr/bin/ttmemd --system --foreground" $?
if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s|^ExecStart=/usr/bin/ttmemd |ExecStart=$r/usr/bin/ttmemd |" \
        "$r/lib/systemd/system/ttmemd.service" >"$unit"
    systemd-analyze verify "$unit" >"$tmp/verify.out" 2>&1
    check "systemd-analyze verify accepts the packaged unit ($(head -3 "$tmp/verify.out"))" $?
    ! grep -q "ttmemd.service" "$tmp/verify.out"
    check "and has nothing to say about it" $?
else
    echo "deb.sh: systemd-analyze is not installed; the unit is not verified"
fi

echo "deb.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
