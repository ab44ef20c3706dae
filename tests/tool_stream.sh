#!/bin/bash
# ae train --stream (a .npy, a CSV and a gzip'd CSV read in blocks) and --batch-norm, and what
# --stream refuses.
# usage: tool_stream.sh AE WORKDIR
set -u
ae=$1 work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
awk 'BEGIN { srand(7); for (i = 0; i < 300; i++) { for (j = 0; j < 8; j++) printf "%s%.4f", (j ? "," : ""), rand(); print "" } }' >d.csv
fail=0
no() { echo "$*"; fail=1; }
# a .npy of 300 rows: the rows through a trained model (ae writes .npy by the -o extension)
"$ae" train d.csv --epochs 2 -o m0.ae 2>/dev/null || no "train on CSV failed"
"$ae" reconstruct m0.ae d.csv -o x.npy 2>/dev/null || no "reconstruct to .npy failed"
"$ae" train x.npy --stream --buffer-rows 64 --epochs 3 --batch 16 --batch-norm -o s.ae 2>err.txt || no "train --stream failed: $(cat err.txt)"
grep -q "streamed from the file" err.txt || no "train --stream does not say it streams: $(cat err.txt)"
"$ae" info s.ae 2>/dev/null | grep -q "batch norm" || no "ae info does not show batch norm"
"$ae" score s.ae x.npy -o s.csv 2>/dev/null || no "score of the streamed model failed"
[ "$(wc -l <s.csv)" -eq 300 ] || no "score gave $(wc -l <s.csv) lines for 300 rows"
# the same seed and blocks: the same model, byte for byte
"$ae" train x.npy --stream --buffer-rows 64 --epochs 3 --batch 16 --batch-norm -o s2.ae 2>/dev/null
cmp -s s.ae s2.ae || no "two --stream runs of one seed differ"
# a CSV streams too (read in file order), plain and gzip alike: the same model
"$ae" train d.csv --stream --buffer-rows 64 --epochs 2 --batch 16 -o c1.ae 2>err.txt || no "train d.csv --stream failed: $(cat err.txt)"
gzip -c d.csv >d.csv.gz
"$ae" train d.csv.gz --stream --buffer-rows 64 --epochs 2 --batch 16 -o c2.ae 2>/dev/null || no "train d.csv.gz --stream failed"
cmp -s c1.ae c2.ae || no "a CSV and its gzip copy streamed to different models"
# --checkpoint-blocks: a checkpoint taken mid-epoch, resumed, gives the uninterrupted model
"$ae" train x.npy --stream --buffer-rows 64 --epochs 2 --batch 16 --checkpoint-blocks 2 --checkpoint k.ae -o w.ae 2>/dev/null \
    || no "train --checkpoint-blocks failed"
"$ae" train x.npy --stream --buffer-rows 64 --epochs 2 --batch 16 -o w0.ae 2>/dev/null
cmp -s w.ae w0.ae || no "--checkpoint-blocks changed the model"
"$ae" train x.npy --stream --buffer-rows 64 --epochs 1 --batch 16 --checkpoint-blocks 4 --checkpoint k.ae -o k1.ae 2>/dev/null
"$ae" train x.npy --stream --buffer-rows 64 --epochs 2 --batch 16 --resume k.ae -o r.ae 2>err.txt || no "--resume from a mid-epoch checkpoint failed: $(cat err.txt)"
cmp -s r.ae w0.ae || no "resumed 4 blocks into epoch 1, the model differs from the uninterrupted one"
"$ae" train x.npy --stream --buffer-rows 32 --epochs 2 --batch 16 --resume k.ae -o r2.ae 2>err.txt; [ $? -eq 1 ] || no "--resume with other blocks did not fail"
grep -q "buffer_rows" err.txt || no "--resume with other blocks does not say why: $(cat err.txt)"
"$ae" train x.npy --checkpoint-blocks 2 -o n.ae 2>/dev/null; [ $? -eq 2 ] || no "--checkpoint-blocks without --stream is not a usage error"
"$ae" train x.npy --stream --val-split 0.2 -o v.ae 2>/dev/null; [ $? -eq 2 ] || no "--stream --val-split is not a usage error"
"$ae" train d.csv --stream --columns 1-4 -o c.ae 2>/dev/null; [ $? -eq 2 ] || no "--stream with CSV column flags is not a usage error"
"$ae" train missing.npy --stream -o c.ae 2>/dev/null; [ $? -eq 1 ] || no "--stream on a missing file does not fail with 1"
[ -e c.ae ] && no "a failed --stream run left c.ae"
exit $fail
