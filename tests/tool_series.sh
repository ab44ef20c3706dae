#!/bin/bash
# Time series through the ae command: ae windows (the rows, the tail window, --starts, the
# refusals) and ae score's series mode (per-point worst and mean against the window scores,
# uncovered points, --per-step), with their exit statuses.
# usage: tool_series.sh AE WORKDIR
set -u
ae=$1 work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail=0
no() { echo "$*"; fail=1; }
# 11 points of 2 channels, value 10 t + j: every value says where it came from
awk 'BEGIN { for (t = 0; t < 11; t++) print 10 * t "," 10 * t + 1 }' >s.csv
# len 4, stride 3: windows at 0, 3, 6, and the tail window at 7 (ends at the last point)
"$ae" windows s.csv --len 4 --stride 3 -o w.csv --starts st.csv >out.txt 2>err.txt || no "windows failed: $(cat err.txt)"
[ "$(wc -l <w.csv)" -eq 4 ] || no "windows wrote $(wc -l <w.csv) rows, want 4"
[ "$(sed -n 4p w.csv)" = "70,71,80,81,90,91,100,101" ] || no "the tail window is $(sed -n 4p w.csv)"
[ "$(sed -n 2p w.csv)" = "30,31,40,41,50,51,60,61" ] || no "window 1 is $(sed -n 2p w.csv)"
[ "$(tr '\n' ' ' <st.csv)" = "0 3 6 7 " ] || no "the starts are $(tr '\n' ' ' <st.csv)"
grep -q "4 windows of 4 steps x 2 features" out.txt || no "windows' report: $(cat out.txt)"
"$ae" windows s.csv --len 4 --stride 3 --tail drop -o - 2>/dev/null >d.csv || no "windows --tail drop failed"
[ "$(wc -l <d.csv)" -eq 3 ] || no "--tail drop wrote $(wc -l <d.csv) rows, want 3"
"$ae" windows s.csv --len 4 --stride 3 -o w.npy >/dev/null 2>&1 || no "windows to .npy failed"
# refusals: a series shorter than a window (failure, 1), a missing --len or a bad tail (usage, 2)
"$ae" windows s.csv --len 12 -o x.csv 2>err.txt; [ $? -eq 1 ] || no "a too short series does not exit 1"
grep -q "a series of 11 points is shorter than one window of 12 steps" err.txt || no "too short: $(cat err.txt)"
"$ae" windows s.csv -o x.csv >/dev/null 2>&1; [ $? -eq 2 ] || no "windows without --len does not exit 2"
"$ae" windows s.csv --len 3 --tail middle -o x.csv >/dev/null 2>&1; [ $? -eq 2 ] || no "--tail middle does not exit 2"
"$ae" windows s.csv --len 3 --stride 0 -o x.csv >/dev/null 2>&1; [ $? -eq 2 ] || no "--stride 0 does not exit 2"
[ -e x.csv ] && no "a refused ae windows wrote x.csv"
# score by windows: a dense model on windows of 4 steps x 2 channels (input 8)
awk 'BEGIN { for (t = 0; t < 11; t++) printf "%.4f,%.4f\n", 0.5 + 0.4 * sin(t / 2), 0.5 + 0.3 * cos(t / 3) }' >z.csv
"$ae" windows z.csv --len 4 --stride 3 -o zw.csv >/dev/null 2>&1 || no "windows of z failed"
"$ae" train zw.csv --epochs 2 -o m.safetensors >/dev/null 2>&1 || no "train on windows failed"
"$ae" score m.safetensors z.csv --stride 3 --window-scores ws.csv -o p.csv 2>err.txt || no "score --stride: $(cat err.txt)"
"$ae" score m.safetensors zw.csv -o direct.csv 2>/dev/null || no "score of the windows failed"
cmp -s ws.csv direct.csv || no "--window-scores differ from ae score of ae windows' rows"
[ "$(wc -l <p.csv)" -eq 11 ] || no "score --stride wrote $(wc -l <p.csv) points, want 11"
# point 0 lies in window 0 alone; point 7 in windows 2 and 3 (worst: the larger score)
w0=$(sed -n 1p ws.csv) w2=$(sed -n 3p ws.csv) w3=$(sed -n 4p ws.csv)
[ "$(sed -n 1p p.csv)" = "$w0,$w0" ] || no "point 0: $(sed -n 1p p.csv), window 0 scored $w0"
want7=$(awk -v a="$w2" -v b="$w3" 'BEGIN { print (a + 0 > b + 0) ? a : b }')
[ "$(sed -n 8p p.csv | cut -d, -f1)" = "$want7" ] || no "point 7's worst $(sed -n 8p p.csv) is not max($w2, $w3)"
awk -F, -v a="$w2" -v b="$w3" 'NR == 8 { m = (a + b) / 2; d = $2 - m; exit !(d < 1e-6 * m && -d < 1e-6 * m) }' p.csv ||
    no "point 7's mean $(sed -n 8p p.csv) is not the mean of $w2 and $w3"
# --series with the default stride 1; --per-step; a gap (stride 5 > len 4, tail dropped) is NaN
"$ae" score m.safetensors z.csv --series -o p1.csv 2>/dev/null || no "score --series failed"
[ "$(wc -l <p1.csv)" -eq 11 ] || no "score --series wrote $(wc -l <p1.csv) points"
"$ae" score m.safetensors z.csv --per-step --stride 5 --tail drop -o g.csv 2>err.txt || no "--per-step: $(cat err.txt)"
[ "$(sed -n 5p g.csv)" = "nan,nan" ] || no "point 4, in no window, scored $(sed -n 5p g.csv)"
[ "$(sed -n 11p g.csv)" = "nan,nan" ] || no "point 10, in the dropped tail, scored $(sed -n 11p g.csv)"
grep -q "3 points lie in no window" err.txt || no "uncovered points not reported: $(cat err.txt)"
awk -F, 'NR == 1 { exit !($1 == $2 && $1 > 0) }' g.csv || no "point 0's per-step worst and mean differ: $(head -n 1 g.csv)"
# refusals: series options on other commands, columns that do not divide the model's width
"$ae" encode m.safetensors z.csv --stride 2 -o e.csv >/dev/null 2>&1; [ $? -eq 2 ] || no "encode --stride does not exit 2"
awk 'BEGIN { for (t = 0; t < 11; t++) print "0.1,0.2,0.3" }' >three.csv
"$ae" score m.safetensors three.csv --series -o x.csv 2>err.txt; [ $? -eq 1 ] || no "3 columns into 8 does not exit 1"
grep -q "do not divide" err.txt || no "3 columns into 8: $(cat err.txt)"
# a GRU sequence model on the same windows (4 steps x 2): the window length is its seq_len, and
# its window scores are ae score's of the same rows
"$ae" train zw.csv --seq 4x2 --rnn gru --hidden 5 --code 2 --epochs 2 -o g.safetensors >/dev/null 2>&1 ||
    no "train a GRU on windows failed"
"$ae" score g.safetensors z.csv --stride 3 --window-scores gws.csv -o gp.csv 2>err.txt || no "GRU score --stride: $(cat err.txt)"
"$ae" score g.safetensors zw.csv -o gdirect.csv 2>/dev/null || no "GRU score of the windows failed"
cmp -s gws.csv gdirect.csv || no "the GRU's --window-scores differ from ae score of ae windows' rows"
[ "$(wc -l <gp.csv)" -eq 11 ] || no "GRU score --stride wrote $(wc -l <gp.csv) points, want 11"
"$ae" score g.safetensors three.csv --series -o x.csv 2>err.txt; [ $? -eq 1 ] || no "3 columns into a 4x2 GRU does not exit 1"
exit $fail
