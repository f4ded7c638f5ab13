# stacks.sh — sourced by the call-site tests tests/cli/stacks*.sh (with the build directory as
# $1 and the source tree as $2): check.sh, the paths they share, the module sites.py for their
# JSON checks, a temporary directory ($tmp, removed at exit after the test's own `on_exit`, if
# it defines one) with a TMPDIR for the private daemons of `ttmem record` ($priv), and `rec`.
build=$1
src=$2
ttmem="$build/ttmem"
progs="$build/tests/stacks"      # the test programs (tests/stacks/CMakeLists.txt)
sources="$src/tests/stacks"      # their sources, where the SITE markers are
. "$(dirname "${BASH_SOURCE[0]}")/check.sh"
export PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")"
tmp=$(mktemp -d /tmp/ttmem-stacks.XXXXXX)
priv="$tmp/priv"
mkdir "$priv"
stacks_exit() {
    declare -F on_exit >/dev/null && on_exit
    rm -rf "$tmp"
}
trap stacks_exit EXIT

# rec ARGS...: `ttmem record ARGS...` with its private directory under $priv
rec() { TMPDIR="$priv" "$ttmem" record "$@"; }
