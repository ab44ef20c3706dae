#!/bin/bash
# ae train's parallel plan on the command line: the plan line it prints, --threads 0, and a
# plan file given by --plan or AE_PLAN: saved by the first run, used by the next (the same
# model, byte for byte), refused with the reason when damaged or made for another model.
# usage: tool_plan.sh AE WORKDIR
set -u
ae=$1 work=$2
rm -rf "$work" && mkdir -p "$work" || exit 1
awk 'BEGIN { srand(5); for (i = 0; i < 200; i++) { for (j = 0; j < 12; j++) printf "%s%.4f", (j ? "," : ""), rand(); print "" } }' >"$work/d.csv"
fail=0
# expect NAME PATTERN: the last run's output must hold a line matching PATTERN
expect() {
    if ! grep -q -- "$2" "$work/out.txt"; then
        echo "$1: no line matching '$2' in:"; cat "$work/out.txt"; fail=1
    fi
}
train() { "$ae" train "$work/d.csv" --epochs 2 "$@" >"$work/out.txt" 2>&1 || { echo "ae train $* failed:"; cat "$work/out.txt"; fail=1; }; }

train --threads 0 -o "$work/m0.safetensors"
expect "threads 0" '^plan: one thread, chosen by the cost model; '
train --threads 1 -o "$work/m1.safetensors"
expect "threads 1" '^plan: one thread, chosen by the thread count; '
train --plan "$work/p.plan" -o "$work/a.safetensors"
expect "first --plan run" "no plan in $work/p.plan yet.*plan saved to $work/p.plan"
grep -q '^libae-plan 1$' "$work/p.plan" || { echo "no plan file written"; fail=1; }
train --plan "$work/p.plan" -o "$work/b.safetensors"
expect "second --plan run" '^plan: one thread, chosen by the plan file; '
cmp -s "$work/a.safetensors" "$work/b.safetensors" || { echo "a saved plan trained another model"; fail=1; }
printf 'x' | dd of="$work/p.plan" bs=1 seek=20 conv=notrunc 2>/dev/null
train --plan "$work/p.plan" -o "$work/c.safetensors"
expect "damaged plan" "plan file $work/p.plan refused: damaged plan file"
AE_PLAN="$work/p.plan" train --hidden 5 -o "$work/d.safetensors"
expect "another model's plan" "refused: plan made for model 12-6-3-6-12 .*, not 12-5-3-5-12"
AE_PLAN="$work/p.plan" train --hidden 5 -o "$work/e.safetensors"
expect "AE_PLAN" '^plan: one thread, chosen by the plan file; '
exit $fail
