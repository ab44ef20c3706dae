#!/bin/bash
# ae in pipes and scripts: "-" reads standard input, no -o (or -o -) writes CSV to standard
# output with nothing else in it, and the exit status says usage error (2) from failure (1).
# usage: tool_unix.sh AE WORKDIR
set -u
ae=$1 work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
awk 'BEGIN { srand(5); for (i = 0; i < 120; i++) { for (j = 0; j < 6; j++) printf "%s%.4f", (j ? "," : ""), rand() * (j + 1) * 10; print "" } }' >d.csv
fail=0
no() { echo "$*"; fail=1; }
"$ae" train d.csv --contamination 0.1 -o m.safetensors 2>/dev/null || no "train failed"
"$ae" score m.safetensors d.csv -o files.csv 2>/dev/null
"$ae" score m.safetensors - <d.csv >piped.csv 2>err.txt || no "score from stdin failed"
cmp -s files.csv piped.csv || no "scores through a pipe differ from scores through files"
[ -s err.txt ] && ! grep -q , err.txt || no "score's stderr is empty or holds data: $(cat err.txt)"
lines=$(cat d.csv | "$ae" encode m.safetensors - -o - 2>/dev/null | head -n 3 | wc -l)
[ "$lines" -eq 3 ] || no "cat | ae encode M - -o - | head gave $lines lines"
# flag: its report line goes to stderr when the flags go to stdout; only 0s and 1s on stdout
"$ae" flag m.safetensors - <d.csv >flags.txt 2>err.txt || no "flag from stdin failed"
grep -qv '^[01]$' flags.txt && no "flag's stdout holds more than flags: $(grep -v '^[01]$' flags.txt | head -n 2)"
grep -q "flagged" err.txt || no "flag's report is not on stderr"
[ "$(wc -l <flags.txt)" -eq 120 ] || no "flag wrote $(wc -l <flags.txt) lines for 120 rows"
# the score histogram: a PNG with gnuplot, one line saying why not without it
"$ae" flag m.safetensors d.csv -o f.csv --plot h.png >/dev/null 2>err.txt || no "flag --plot failed: $(cat err.txt)"
if command -v gnuplot >/dev/null 2>&1; then
    [ "$(head -c 4 h.png | tail -c 3)" = PNG ] || no "flag --plot wrote no PNG: $(cat err.txt)"
else
    grep -q "gnuplot is not installed" err.txt || no "flag --plot without gnuplot says nothing"
fi
"$ae" encode m.safetensors d.csv --plot e.png -o e.csv >/dev/null 2>&1; [ $? -eq 2 ] || no "encode --plot is not refused as a usage error"
# exit statuses
"$ae" >/dev/null 2>&1; [ $? -eq 2 ] || no "ae with no command does not exit 2"
"$ae" fly >/dev/null 2>&1; [ $? -eq 2 ] || no "an unknown command does not exit 2"
"$ae" train d.csv --frobnicate -o x.safetensors >/dev/null 2>&1; [ $? -eq 2 ] || no "a bad flag does not exit 2"
"$ae" train d.csv --epochs -3 -o x.safetensors >/dev/null 2>&1; [ $? -eq 2 ] || no "a bad value does not exit 2"
"$ae" score m.safetensors missing.csv >/dev/null 2>&1; [ $? -eq 1 ] || no "a missing file does not exit 1"
"$ae" --help >/dev/null 2>&1; [ $? -eq 0 ] || no "ae --help does not exit 0"
exit $fail
