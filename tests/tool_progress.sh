#!/bin/bash
# ae train's progress on a terminal: run in a pseudo-terminal (script(1)) of 120 and of 40
# columns; what the terminal finally shows on each epoch's line (the text after the last
# "carriage return, clear line") must be that epoch's line alone, never wider than the screen.
# usage: tool_progress.sh AE WORKDIR
set -u
ae=$1 work=$2
rm -rf "$work" && mkdir -p "$work" || exit 1
awk 'BEGIN { srand(3); for (i = 0; i < 400; i++) { for (j = 0; j < 8; j++) printf "%s%.4f", (j ? "," : ""), rand(); print "" } }' >"$work/d.csv"
fail=0
for cols in 120 40; do
    script -qfc "stty cols $cols; $ae train $work/d.csv --epochs 3 --batch 8 -o $work/m.safetensors" "$work/pty.txt" >/dev/null 2>&1
    # Each terminal line: keep what follows the last clear-line sequence.
    shown=$(tr -d '\n' <"$work/pty.txt" | sed 's/\r\x1b\[K/\n@/g; s/\r/\n/g' | grep '^@' | sed 's/^@//')
    for e in 1 2 3; do
        line=$(printf '%s\n' "$shown" | grep "^epoch $e/3  loss" | tail -n 1)
        if [ -z "$line" ]; then echo "$cols columns: no clean line for epoch $e"; fail=1; fi
        if [ ${#line} -ge "$cols" ]; then echo "$cols columns: epoch $e's line is ${#line} wide"; fail=1; fi
        case "$line" in *left*left*) echo "$cols columns: residue in '$line'"; fail=1 ;; esac
    done
    wide=$(printf '%s\n' "$shown" | awk -v c="$cols" 'length($0) >= c' | head -n 1)
    if [ -n "$wide" ]; then echo "$cols columns: a line wider than the terminal: $wide"; fail=1; fi
done
exit $fail
