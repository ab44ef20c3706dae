#!/bin/bash
# The bash completion script against the built ae: subcommands, flags and a flag's choices.
# usage: tool_completion.sh AE_BINARY COMPLETION_SCRIPT
set -u
export PATH="$(dirname "$1"):$PATH"
source "$2"
fail=0
complete_words() { # words... : prints the completions of the last word
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _ae
    printf '%s\n' "${COMPREPLY[@]}"
}
expect() { # what want words...
    local what=$1 want=$2
    shift 2
    if ! complete_words "$@" | grep -qx -- "$want"; then
        echo "completion of '$*' lacks $want ($what): $(complete_words "$@" | tr '\n' ' ')"
        fail=1
    fi
}
expect "a subcommand" train ae tr
expect "a subcommand" threshold ae th
expect "a flag of train" --contamination ae train --cont
expect "a flag of score" -o ae score -
expect "a choice of --scale" minmax ae train --scale m
expect "a choice of --optimizer" adamw ae train --optimizer ada
expect "a subcommand" windows ae win
expect "a flag of windows" --stride ae windows --str
expect "a flag of score" --per-step ae score --per
expect "a choice of --tail" drop ae windows --tail d
[ "$(complete_words ae train --scale '' | wc -l)" -eq 4 ] || { echo "--scale has 4 choices"; fail=1; }
exit $fail
