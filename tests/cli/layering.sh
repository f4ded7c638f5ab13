#!/usr/bin/env bash
# The layering of docs/ARCHITECTURE.md ("Layering"), checked on every #include in src/: which
# directory may include which (common <- core <- {daemon, cli}, common <- client, core <- sym
# <- cli: the symbolizer is the CLI's only; nothing includes daemon/ or cli/ from outside them),
# the core's purity (no file, socket, thread or clock header) and the event loop that includes
# nothing of the daemon. Every include that breaks a rule is listed with its file:line.
set -u
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# allowed DIR: the project directories (of include/ and src/) a file under src/DIR may include.
allowed() {
    case $1 in
    common) echo "common ttmem" ;;
    core) echo "common core ttmem" ;;
    client) echo "client common ttmem" ;;
    daemon) echo "common core daemon ttmem" ;;
    cli) echo "cli common core sim sym ttmem" ;;
    sim) echo "common core sim ttmem" ;;
    sym) echo "common core sym ttmem" ;;
    *) echo "" ;;
    esac
}
# What the core may not include: it does no I/O and reads no clock.
core_forbidden='^(unistd|fcntl|poll|pthread|time|signal|dirent|dlfcn|netdb|termios)\.h$|^(sys|netinet|arpa)/'

# violations ROOT: prints "file:line: why" for every include under ROOT/src that breaks a rule.
violations() {
    local root=$1 f rel layer line n inc top
    (cd "$root" && find src -name '*.[ch]' | sort) | while read -r rel; do
        layer=${rel#src/}
        layer=${layer%%/*}
        f="$root/$rel"
        grep -n '^[[:space:]]*#[[:space:]]*include' "$f" | while IFS= read -r line; do
            n=${line%%:*}
            inc=${line#*:}
            if [[ $inc =~ \"([^\"]+)\" ]]; then
                inc=${BASH_REMATCH[1]}
                top=${inc%%/*}
                if [ "$top" = "$inc" ]; then
                    echo "$rel:$n: \"$inc\" (a project include names its directory)"
                    continue
                fi
                case " $(allowed "$layer") " in
                *" $top "*) ;;
                *) echo "$rel:$n: src/$layer may not include \"$inc\"" ;;
                esac
                case $rel in
                src/daemon/loop.c | src/daemon/loop.h)
                    if [ "$top" = daemon ] && [ "$inc" != daemon/loop.h ]; then
                        echo "$rel:$n: the event loop includes nothing of the daemon (\"$inc\")"
                    fi
                    ;;
                esac
            elif [[ $inc =~ \<([^\>]+)\> ]]; then
                inc=${BASH_REMATCH[1]}
                if [ "$layer" = core ] && [[ $inc =~ $core_forbidden ]]; then
                    echo "$rel:$n: the core does no I/O and reads no clock (<$inc>)"
                fi
            fi
        done
    done
}

# The check finds what it is meant to find: a tree with one breach of each rule, and clean lines.
mkdir -p "$tmp/t/src/common" "$tmp/t/src/core" "$tmp/t/src/client" "$tmp/t/src/daemon" \
    "$tmp/t/src/cli"
printf '#include "core/registry.h"\n#include "common/event.h"\n' >"$tmp/t/src/common/a.c"
printf '#include <unistd.h>\n#include <sys/socket.h>\n#include <stdio.h>\n' >"$tmp/t/src/core/b.c"
printf '#include "core/report.h"\n#include "common/ring.h"\n' >"$tmp/t/src/client/c.c"
printf '#include "daemon/daemon.h"\n#include "common/alloc.h"\n' >"$tmp/t/src/daemon/loop.c"
printf '#include "daemon/daemon.h"\n#include "sim/sim.h"\n#include "harness.h"\n' \
    >"$tmp/t/src/cli/d.c"
violations "$tmp/t" >"$tmp/planted"
want="src/cli/d.c:1 src/cli/d.c:3 src/client/c.c:1 src/common/a.c:1 src/core/b.c:1 src/core/b.c:2 src/daemon/loop.c:1"
got=$(cut -d: -f1,2 "$tmp/planted" | sort | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ]
check "the check finds each planted breach and nothing else (got: $got)" $?

[ -d "$src/src" ]; check "the source tree $src/src exists" $?
violations "$src" >"$tmp/found"
check_none "every include in src/ keeps the layering" "$tmp/found" \
    "includes that break the layering of docs/ARCHITECTURE.md"

echo "layering: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
