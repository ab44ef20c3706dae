#!/bin/bash
# docs/ae.1 renders, and names every command of `ae --help` and every flag of every
# `ae COMMAND --help`, so the manual cannot fall behind the command.
# usage: tool_manpage.sh AE MANPAGE
set -u
ae=$1 page=$2
text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b) || { echo "man -l $page failed"; exit 1; }
[ -n "$text" ] || { echo "man -l $page printed nothing"; exit 1; }
fail=0
cmds=$("$ae" --help | awk '/^  [a-z]+ / {print $1}')
for c in $cmds; do
    grep -qw -- "$c" <<<"$text" || { echo "command $c is not in the manual"; fail=1; }
    for f in $("$ae" "$c" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u) \
             $("$ae" --help | grep -o -- "--[a-z][a-z0-9-]*" | sort -u); do
        grep -q -- "$f\b" <<<"$text" || { echo "ae $c's flag $f is not in the manual"; fail=1; }
    done
done
exit $fail
