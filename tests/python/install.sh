#!/usr/bin/env bash
# The Python package as `make install` installs it (issue 14, part P): the install rule stages
# python/ttmem and a generated _paths.py into the interpreter's site directory under the prefix
# (DESTDIR, from the configured build tree); the staged package imports, names the staged
# libttmem and programs, and records a block through them (record() under the staged ttmemd).
set -u
build=$1
. "$(dirname "$0")/../cli/lib/check.sh"
py=${TTM_PYTHON:-python3}
tmp=$(mktemp -d /tmp/ttmem-pyinst.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
site=$(cat "$build/python/sitedir")
[ -n "$prefix" ] && [ -n "$site" ]; check "the build tree says the prefix ($prefix) and site directory ($site)" $?
DESTDIR="$tmp" cmake --install "$build" >"$tmp/install.log" 2>&1
check "cmake --install with DESTDIR ($(tail -1 "$tmp/install.log"))" $?
pkg="$tmp$prefix/$site/ttmem"
for f in __init__.py _lib.py _cli.py _wire.py _paths.py; do
    [ -f "$pkg/$f" ]; check "ttmem/$f is in $prefix/$site" $?
done
"$py" - "$prefix" "$prefix/$site" <<'PY'
import os, site, sys, sysconfig
prefix, d = sys.argv[1], os.path.normpath(sys.argv[2])
ours = [os.path.normpath(x) for x in site.getsitepackages() if x.startswith(prefix + os.sep)
        and not x.startswith(os.path.join(prefix, "local") + os.sep)]
scheme = os.path.normpath(sysconfig.get_path("purelib", "posix_prefix",
                                             vars={"base": prefix, "platbase": prefix}))
assert d in ours or (not ours and d == scheme), (d, ours, scheme)
PY
check "$prefix/$site is the interpreter's site directory under the prefix" $?
PYTHONPATH="$tmp$prefix/$site" PYTHONDONTWRITEBYTECODE=1 "$py" - "$tmp" "$prefix" "$pkg" <<'PY' 2>"$tmp/err"
import os, sys
stage, prefix, pkg = sys.argv[1:]
import ttmem
from ttmem import _paths
assert os.path.dirname(ttmem.__file__) == pkg, ttmem.__file__
assert _paths.LIBTTMEM.startswith(prefix + os.sep) and _paths.BINDIR.startswith(prefix + os.sep)
os.environ["TTMEM_LIBRARY"] = stage + _paths.LIBTTMEM
os.environ["TTMEM_CLI"] = os.path.join(stage + _paths.BINDIR, "ttmem")
with ttmem.record() as r:
    assert ttmem.alloc(0, "DRAM", 0x4000, 8192, obj=1)
assert r.report["classes"]["alloc_ok"]["count"] == 1, r.report["classes"]["alloc_ok"]
assert r.report["totals"]["live_records"] == 1
PY
check "the staged package records a block through the staged libttmem and ttmemd ($(head -c 300 "$tmp/err"))" $?
echo "install.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
