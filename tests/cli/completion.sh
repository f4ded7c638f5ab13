#!/usr/bin/env bash
# completion.sh BUILD SRC — the bash and zsh completion generated from the command table (ctest:
# cli.completion). The build's completion files must be what `ttmem gen-docs` prints now;
# sourced in bash, `complete -p ttmem` names the function, which completes every command and,
# after each, every option that `ttmem help` shows for it (read from the help text here, by a
# pattern of its own), and the values of an option that lists them; zsh parses the zsh file,
# compinit registers it for ttmem and it names every command and option.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib/check.sh"
tmp=$(mktemp -d /tmp/ttmem-completion.XXXXXX)
trap '[ -n "${TTM_KEEP:-}" ] || rm -rf "$tmp"' EXIT
ttmem="$build/ttmem"
bashf="$build/completion/ttmem"
zshf="$build/completion/_ttmem"

"$ttmem" gen-docs bash >"$tmp/bash" && cmp -s "$tmp/bash" "$bashf"
check "build/completion/ttmem is what 'ttmem gen-docs bash' prints" $?
"$ttmem" gen-docs zsh >"$tmp/zsh" && cmp -s "$tmp/zsh" "$zshf"
check "build/completion/_ttmem is what 'ttmem gen-docs zsh' prints" $?
"$ttmem" gen-docs nonsense >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && [ ! -s "$tmp/bad.out" ]
st=$?; check "gen-docs with an unknown kind: one line, exit 2 ($rc: $(cat "$tmp/bad.err"))" $st

# the table as `ttmem help` prints it: "  NAME  summary" then the usage indented by 13
"$ttmem" help >"$tmp/help"
sed -nE 's/^  ([a-z][a-z-]*) .*/\1/p' "$tmp/help" | grep -v '^ttmem$' >"$tmp/cmds"
sed -nE 's/^             ([a-z][a-z-]*)( .*)?$/\1\2/p' "$tmp/help" >"$tmp/usages"
[ "$(wc -l <"$tmp/cmds")" -ge 10 ] && [ "$(wc -l <"$tmp/cmds")" -eq "$(wc -l <"$tmp/usages")" ]
st=$?; check "ttmem help lists the commands with their usage ($(wc -l <"$tmp/cmds") commands)" $st

# comp WORDS...: what the bash completion offers for the last word
cat >"$tmp/drive.sh" <<'SH'
. "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMPREPLY=()
_ttmem
printf '%s\n' "${COMPREPLY[@]}" | sort
SH
comp() { bash "$tmp/drive.sh" "$bashf" "$@"; }

spec=$(bash -c ". '$bashf' && complete -p ttmem" 2>&1)
[ "$spec" = "complete -o default -F _ttmem ttmem" ]
check "complete -p ttmem works after sourcing ($spec)" $?
comp ttmem '' >"$tmp/all"
missing=$(comm -23 <(sort "$tmp/cmds") "$tmp/all" | tr '\n' ' ')
[ -z "$missing" ]; check "ttmem <TAB> offers every command (missing: $missing)" $?
[ "$(comp ttmem st)" = "status" ]; st=$?; check "ttmem st<TAB> is status ($(comp ttmem st | tr '\n' ' '))" $st

bad=""
while read -r usage; do
    cmd=${usage%% *}
    grep -oE '(^| |\[|\|)--?[a-zA-Z][a-zA-Z0-9-]*' <<<"$usage" | sed -E 's/^[ [|]//' | sort -u \
        >"$tmp/want"
    comp ttmem "$cmd" - >"$tmp/got"
    miss=$(comm -23 "$tmp/want" "$tmp/got" | tr '\n' ' ')
    [ -n "$miss" ] && bad="$bad $cmd: $miss;"
    grep -qx -- --help "$tmp/got" || bad="$bad $cmd: --help;"
done <"$tmp/usages"
[ -z "$bad" ]; check "ttmem CMD -<TAB> offers every option of CMD's usage ($bad)" $?

[ "$(comp ttmem simulate --client '' | tr '\n' ' ')" = "identity legacy " ]
check "simulate --client <TAB> offers its values" $?
[ "$(comp ttmem export run.ttmem --format '' | tr '\n' ' ')" = "csv perfetto sqlite " ]
check "export --format <TAB> offers its values" $?
[ -z "$(comp ttmem top -d '')" ]; check "an option's number is not completed as an option" $?
[ -z "$(comp ttmem record -- -)" ]; check "after record's -- nothing of ttmem is offered" $?
[ "$(comp ttmem status --js)" = "--json" ]; check "status --js<TAB> is --json" $?

if command -v zsh >/dev/null; then
    zsh -n "$zshf"; check "zsh parses _ttmem" $?
    mkdir -p "$tmp/fp" && cp "$zshf" "$tmp/fp/"
    reg=$(HOME="$tmp" zsh -f -c "fpath=('$tmp/fp' \$fpath); autoload -Uz compinit; compinit -u -d '$tmp/zcomp'; print -r -- \$_comps[ttmem]" 2>&1)
    [ "$reg" = "_ttmem" ]; check "compinit registers _ttmem for ttmem ($reg)" $?
    bad=""
    while read -r usage; do
        cmd=${usage%% *}
        grep -q "^    '$cmd:" "$zshf" || bad="$bad $cmd"
        for o in $(grep -oE '(^| |\[|\|)--?[a-zA-Z][a-zA-Z0-9-]*' <<<"$usage" | sed -E 's/^[ [|]//'); do
            sed -n "/^  $cmd)/,/;;/p" "$zshf" | grep -q -- "'$o[:']" || bad="$bad $cmd:$o"
        done
    done <"$tmp/usages"
    [ -z "$bad" ]; check "_ttmem names every command and its options ($bad)" $?
    # a real interactive zsh (zpty): each read waits for what the completion must print, so a
    # completion that does not work fails by the timeout, never by a race
    cat >"$tmp/drive.zsh" <<ZSH
zmodload zsh/zpty
zpty z 'HOME=$tmp zsh -f -i'
zpty -w z "fpath=($tmp/fp \\\$fpath); autoload -Uz compinit; compinit -u -d $tmp/zcomp; print READY"
zpty -r z out '*READY*'
zpty -w -n z \$'ttmem stat\t'
zpty -r z out '*status*' && print STATUS
zpty -w -n z \$' --js\t'
zpty -r z out '*--json*' && print JSON
zpty -w -n z \$'\x15ttmem simulate --cli\t'
zpty -r z out '*--client*' && print CLIENT
zpty -w -n z \$' \t'
zpty -r z out '*identity*legacy*' && print VALUES
zpty -d z
ZSH
    got=$(timeout 20 zsh -f "$tmp/drive.zsh" 2>&1 | tr -d '\r' | tr '\n' ' ')
    [ "$got" = "STATUS JSON CLIENT VALUES " ]
    st=$?; check "in an interactive zsh: stat<TAB> status, --js<TAB> --json, --client <TAB> its values ($got)" $st
else
    check "zsh is installed (scripts/deps.sh)" 1
fi

echo "completion.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
