#!/usr/bin/env bash
# The repository stands alone: no tracked file (source, comment, doc, test, script) points to a
# document outside it (the design notes or the device and protocol fact sheets the project was
# written from). Their facts live in docs/ (ARCHITECTURE.md, COMPAT.md, ...) and in the code's
# own header comments. Every offending file:line is listed.
set -u
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The pointers, written so that this file does not match them itself: a path up out of the
# tree into the shared notes, the fact sheets by name, the design notes by name or section.
patterns=(
    '\.\./shar[e]d'
    'shared/spe[c]'
    '(^|[^[:alnum:]_])spe[c]/(devices|poc-protocol|ttmetal-shm)\.md'
    'DESIGN[[:space:]]*§'
    'DESIGN\.m[d]'
)
regex=$(IFS='|'; echo "${patterns[*]}")

# pointers_in DIR: prints every file:line under DIR that holds a pointer; the files are git's
# tracked files when DIR is a checkout, otherwise every file outside .git and build trees.
pointers_in() {
    local dir=$1
    if git -C "$dir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$dir" && git ls-files -z | xargs -0 -r grep -nIE -- "$regex" 2>/dev/null)
    else
        (cd "$dir" && find . \( -name .git -o -exec test -e '{}/CMakeCache.txt' \; \) -prune \
            -o -type f -print0 | xargs -0 -r grep -nIE -- "$regex" 2>/dev/null)
    fi
    return 0
}

# The scan finds what it is meant to find: one planted pointer of each kind, none in clean text.
mkdir -p "$tmp/tree/src"
i=0
# (each planted string is split in two quoted halves, so that this file does not match)
for p in '../sha''red/x.md' 'shared/sp''ec' 'sp''ec/devices.md' 'DESIGN'' §6' 'DESIGN''.md'; do
    printf '/* a line\n * from %s */\n' "$p" >"$tmp/tree/src/f$i.c"
    i=$((i + 1))
done
printf 'docs/ARCHITECTURE.md, docs/COMPAT.md, respec/devices.mdx, DESIGNER\n' >"$tmp/tree/clean.md"
pointers_in "$tmp/tree" | sort >"$tmp/planted"
[ "$(wc -l <"$tmp/planted")" -eq 5 ] && ! grep -q clean.md "$tmp/planted"
check "the scan finds each planted pointer and nothing in clean text ($(tr '\n' ' ' <"$tmp/planted"))" $?

# The repository itself.
[ -d "$src" ]; check "the source tree $src exists" $?
pointers_in "$src" >"$tmp/found"
check_none "no tracked file points outside the repository" "$tmp/found" \
    "pointers outside the repository (write the fact, or point into docs/)"

echo "standalone: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
