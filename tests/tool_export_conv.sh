#!/bin/bash
# ae export-c (float and int8 headers, and what it refuses) and ae train's conv flags.
# usage: tool_export_conv.sh AE CC WORKDIR
set -u
ae=$1 cc=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
awk 'BEGIN { srand(3); for (i = 0; i < 200; i++) { for (j = 0; j < 16; j++) printf "%s%.4f", (j ? "," : ""), rand(); print "" } }' >d.csv
fail=0
no() { echo "$*"; fail=1; }
"$ae" train d.csv --epochs 3 -o m.ae 2>/dev/null || no "train failed"
"$ae" export-c m.ae -o m.h --name sensor >out.txt 2>&1 || no "export-c failed: $(cat out.txt)"
grep -q "float, .* weight bytes" out.txt || no "export-c does not report its weight bytes: $(cat out.txt)"
printf '#include "m.h"\nint main(void) { float x[SENSOR_INPUT_DIM] = {0}; return SENSOR_CODE_DIM > 0 && sensor_score(x) >= 0.0f ? 0 : 1; }\n' >use.c
"$cc" -std=c99 -pedantic -Wall -Wextra -Werror use.c -o use -lm 2>err.txt || no "the header does not compile alone: $(cat err.txt)"
[ -x use ] && { ./use || no "the exported scorer failed"; }
"$ae" export-c m.ae -o m8.h --name sensor8 --int8 --calibrate d.csv >out.txt 2>&1 || no "export-c --int8 failed: $(cat out.txt)"
grep -q "int8, .* score error" out.txt || no "export-c --int8 does not report its score error: $(cat out.txt)"
"$ae" export-c m.ae -o x.h --int8 2>/dev/null; [ $? -eq 2 ] || no "--int8 without --calibrate is not a usage error"
"$ae" export-c m.ae -o bad.h --name 9lives 2>/dev/null; [ $? -ne 0 ] || no "a name that is no C identifier was taken"
[ -e bad.h ] && no "a refused export left bad.h"
# conv: 16 columns as a 1x4x4 image
"$ae" train d.csv --input-shape 1x4x4 --conv 4:3:2 --code 3 --epochs 2 -o c.ae 2>err.txt || no "conv train failed: $(cat err.txt)"
"$ae" info c.ae 2>/dev/null | grep -q "conv .*1x4x4.*4:3:2" || no "ae info does not show the conv layers"
"$ae" train d.csv --input-shape 1x4x5 --conv 4:3:2 -o c2.ae 2>/dev/null; [ $? -ne 0 ] || no "a shape of 20 values for 16 columns was taken"
"$ae" train d.csv --conv 4:2:2 --input-shape 1x4x4 -o c2.ae 2>/dev/null; [ $? -ne 0 ] || no "an even kernel was taken"
"$ae" train d.csv --conv 4:3 -o c2.ae 2>/dev/null; [ $? -eq 2 ] || no "--conv 4:3 is not a usage error"
"$ae" export-c c.ae -o c.h 2>err.txt; [ $? -eq 1 ] && grep -q "not exported" err.txt || no "export-c of a conv model is not refused with the reason"
exit $fail
