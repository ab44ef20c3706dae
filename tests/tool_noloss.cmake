# Lose nothing, misread nothing, say exactly what went wrong (issue 20), through the `ae`
# command: a failed checkpoint keeps the run, outputs are checked before any work and never
# overwrite an input, CSV outputs are atomic, the threshold is under the metadata checksum,
# option values are refused with their range, the memory limit, file modes, symbolic links
# and stale temporaries. Needs bash (ulimit -f makes a write fail with "File too large").
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/small.csv "0.1,0.2,0.3,0.4\n0.5,0.6,0.7,0.8\n0.2,0.1,0.4,0.3\n0.9,0.8,0.7,0.6\n")
# 20 rows of 50 columns: with --hidden 200 --code 10 the model file is about 98 KB and a
# checkpoint (weights and Adam's two moments) about 295 KB.
set(rows "")
foreach(i RANGE 1 20)
  set(row "")
  foreach(j RANGE 1 50)
    math(EXPR v "(${i} * 37 + ${j} * 11) % 97 + 1")
    string(APPEND row "0.${v},")
  endforeach()
  string(REGEX REPLACE ",$" "\n" row "${row}")
  string(APPEND rows "${row}")
endforeach()
file(WRITE ${WORK}/wide.csv "${rows}")
find_program(BASH bash REQUIRED)

# (no semicolons in arguments: CMake would split them into list items)
function(run out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
  set(${out_var}_rc "${rc}" PARENT_SCOPE)
  string(STRIP "${err}" err)
  set(${out_var}_err "${err}" PARENT_SCOPE)
  set(${out_var}_out "${out}" PARENT_SCOPE)
endfunction()

function(expect_ok)
  run(r ${AE} ${ARGN})
  if(NOT r_rc EQUAL 0)
    message(FATAL_ERROR "ae ${ARGN} failed (${r_rc}): ${r_err}")
  endif()
endfunction()

# A refusal: one line on stderr (so no epoch ran) matching pattern, and a failure status.
function(expect_fail pattern)
  run(r ${AE} ${ARGN})
  string(REGEX MATCHALL "\n" newlines "${r_err}")
  list(LENGTH newlines extra)
  if(r_rc EQUAL 0 OR NOT r_err MATCHES "${pattern}" OR NOT extra EQUAL 0)
    message(FATAL_ERROR "ae ${ARGN}: expected one line matching '${pattern}' and a failure, got ${r_rc}: '${r_err}'")
  endif()
  message(STATUS "ok: ae ${ARGN} -> ${r_err}")
endfunction()

function(expect_missing)
  foreach(f IN LISTS ARGN)
    if(EXISTS ${WORK}/${f} OR IS_SYMLINK ${WORK}/${f})
      message(FATAL_ERROR "${f} exists, but the command that would write it was refused")
    endif()
  endforeach()
endfunction()

function(expect_no_temporaries)
  file(GLOB left ${WORK}/*.tmp.*)
  if(left)
    message(FATAL_ERROR "temporaries left behind: ${left}")
  endif()
endfunction()

set(TRAIN --hidden 3 --code 2 --epochs 2 --batch 2)
string(REPLACE ";" " " TRAIN_WORDS "${TRAIN}") # for bash -c
expect_ok(train small.csv ${TRAIN} -o m.safetensors)
expect_ok(train small.csv ${TRAIN} --variational -o vae.safetensors)

# 1. A checkpoint that cannot be written is refused before the data is read ...
expect_fail("^ae train: cannot write --checkpoint nodir/c.ckpt: .*\\(nodir/c.ckpt: folder nodir: No such file or directory\\)$"
  train small.csv --epochs 3 --checkpoint nodir/c.ckpt --checkpoint-every 2 -o ok.safetensors)
expect_missing(ok.safetensors)
# ... and one that fails mid-run (here: the checkpoint outgrows ulimit -f, which the model
# does not) stops training, but the epochs done are saved to -o, and the line names the
# checkpoint and the system's reason.
run(r ${BASH} -c "trap '' XFSZ && ulimit -f 150 && exec '${AE}' train wide.csv --hidden 200 --code 10 --epochs 3 --batch 10 --checkpoint c2.ckpt --checkpoint-every 2 -o ok.safetensors")
if(r_rc EQUAL 0 OR NOT r_err MATCHES "ae train: training stopped after epoch 2 of 3: .*\\(checkpoint after epoch 2: cannot write c2.ckpt: File too large\\); the model of the epochs done is saved in ok.safetensors")
  message(FATAL_ERROR "a checkpoint failing mid-run: ${r_rc} '${r_err}'")
endif()
run(r ${AE} info ok.safetensors)
if(NOT r_rc EQUAL 0 OR NOT r_out MATCHES "architecture 50-200-10-200-50")
  message(FATAL_ERROR "the model of a run whose checkpoint failed is not in -o: ${r_err}")
endif()
expect_missing(c2.ckpt)
expect_no_temporaries()

# A --history that fails (File too large) does not cost the model either.
run(r ${BASH} -c "trap '' XFSZ && ulimit -f 20 && exec '${AE}' train wide.csv --hidden 3 --code 2 --epochs 1000 --batch 20 --history big.csv -o hist.safetensors")
if(r_rc EQUAL 0 OR NOT r_err MATCHES "ae train: cannot write --history big.csv: File too large; the model is saved in hist.safetensors$")
  message(FATAL_ERROR "a failing --history: ${r_rc} '${r_err}'")
endif()
expect_ok(info hist.safetensors)

# 2. CSV outputs are atomic: a write that fails (File too large, as a full disk) leaves the
# file that was there whole, and no temporary.
file(WRITE ${WORK}/rec.csv "the previous output\n")
run(r ${BASH} -c "trap '' XFSZ && ulimit -f 4 && exec '${AE}' reconstruct ok.safetensors wide.csv -o rec.csv")
file(READ ${WORK}/rec.csv kept)
if(r_rc EQUAL 0 OR NOT r_err MATCHES "cannot write rec.csv: .*File too large" OR NOT kept STREQUAL "the previous output\n")
  message(FATAL_ERROR "a failed CSV write: ${r_rc} '${r_err}', file now '${kept}'")
endif()
expect_no_temporaries()
expect_ok(reconstruct ok.safetensors wide.csv -o rec.csv)
file(STRINGS ${WORK}/rec.csv lines)
list(LENGTH lines n)
if(NOT n EQUAL 20)
  message(FATAL_ERROR "reconstruct wrote ${n} lines, want 20")
endif()

# 3. An output that is an input is refused: the same path, another spelling, a symbolic link,
# a hard link; so are two outputs that are one file.
expect_fail("^ae encode: -o m.safetensors is the input MODEL m.safetensors: refused" encode m.safetensors small.csv -o m.safetensors)
expect_fail("^ae train: -o small.csv is the input DATA small.csv: refused" train small.csv -o small.csv)
expect_fail("^ae train: -o ./small.csv is the input DATA small.csv: refused" train small.csv -o ./small.csv)
file(CREATE_LINK m.safetensors ${WORK}/soft.safetensors SYMBOLIC)
file(CREATE_LINK ${WORK}/small.csv ${WORK}/hard.csv)
expect_fail("^ae score: -o soft.safetensors is the input MODEL m.safetensors: refused" score m.safetensors small.csv -o soft.safetensors)
expect_fail("^ae reconstruct: -o hard.csv is the input DATA small.csv: refused" reconstruct m.safetensors small.csv -o hard.csv)
expect_fail("^ae train: -o v.safetensors is the input --val v.safetensors" train small.csv --val v.safetensors -o v.safetensors)
expect_fail("^ae train: -o h.csv and --history h.csv are the same file" train small.csv --history h.csv -o h.csv)
expect_fail("^ae flag: -o f.csv and --scores f.csv are the same file" flag m.safetensors small.csv -o f.csv --scores f.csv)
expect_fail("^ae head: -o l.csv is the input LABELS l.csv" head m.safetensors small.csv l.csv -o l.csv)
expect_fail("^ae threshold: -o small.csv is the input NORMAL_DATA small.csv" threshold m.safetensors small.csv --quantile 0.5 -o small.csv)
expect_fail("^ae predict: -o m.safetensors is the input MODEL" predict m.safetensors small.csv -o m.safetensors)
expect_fail("^ae sample: -o vae.safetensors is the input MODEL" sample vae.safetensors -n 3 -o vae.safetensors)
expect_fail("^ae train: -o c3.ckpt is the input --resume c3.ckpt" train small.csv --resume c3.ckpt -o c3.ckpt)
run(r ${AE} encode m.safetensors small.csv -o codes.csv)
file(SHA256 ${WORK}/m.safetensors before)
expect_ok(info m.safetensors)
# ae threshold and ae head may update their MODEL in place (read whole, written atomically)
configure_file(${WORK}/m.safetensors ${WORK}/inplace.safetensors COPYONLY)
expect_ok(threshold inplace.safetensors small.csv --quantile 0.5 -o inplace.safetensors)
run(r ${AE} info inplace.safetensors)
if(NOT r_out MATCHES "anomaly +threshold")
  message(FATAL_ERROR "ae threshold -o MODEL did not update the model in place: ${r_out}")
endif()
file(WRITE ${WORK}/labels.csv "0\n1\n0\n1\n")
expect_ok(head inplace.safetensors small.csv labels.csv --epochs 1 --batch 2 -o inplace.safetensors)
# the checkpoint may be the --resume file (it is rewritten with the newer state) or -o
expect_ok(train small.csv ${TRAIN} --checkpoint c3.ckpt --checkpoint-every 1 -o m2.safetensors)
expect_ok(train small.csv --epochs 3 --resume c3.ckpt --checkpoint c3.ckpt --checkpoint-every 1 -o m3.safetensors)
expect_ok(train small.csv ${TRAIN} --checkpoint m4.safetensors --checkpoint-every 1 -o m4.safetensors)

# 4. Every output is checked before any work: a missing folder, a folder as the file, a file
# as the folder, for each output of train and of the other commands.
file(MAKE_DIRECTORY ${WORK}/adir)
file(WRITE ${WORK}/plain.txt "x\n")
expect_fail("^ae train: cannot write -o nodir/m.safetensors: .*folder nodir: No such file or directory" train small.csv -o nodir/m.safetensors)
expect_fail("^ae train: cannot write -o adir: .*\\(adir: Is a directory\\)" train small.csv -o adir)
expect_fail("^ae train: cannot write -o plain.txt/m.safetensors: .*\\(plain.txt/m.safetensors: Not a directory\\)" train small.csv -o plain.txt/m.safetensors)
expect_fail("^ae train: cannot write --history nodir/h.csv: .*No such file or directory" train small.csv --history nodir/h.csv -o x.safetensors)
expect_fail("^ae train: cannot write --plot adir: .*Is a directory" train small.csv --plot adir -o x.safetensors)
expect_fail("^ae encode: cannot write -o adir: .*Is a directory" encode m.safetensors small.csv -o adir)
expect_fail("^ae reconstruct: cannot write --png nodir/r.png: .*No such file or directory" reconstruct m.safetensors small.csv -o r.csv --png nodir/r.png)
expect_fail("^ae flag: cannot write --scores nodir/s.csv" flag m.safetensors small.csv -o f.csv --scores nodir/s.csv)
expect_fail("^ae threshold: cannot write -o nodir/t.safetensors" threshold m.safetensors small.csv --quantile 0.5 -o nodir/t.safetensors)
expect_missing(x.safetensors r.csv f.csv)
run(r id -u)
if(NOT r_out MATCHES "^0")
  file(MAKE_DIRECTORY ${WORK}/ro)
  file(CHMOD ${WORK}/ro DIRECTORY_PERMISSIONS OWNER_READ OWNER_EXECUTE)
  expect_fail("^ae train: cannot write -o ro/m.safetensors: .*Permission denied" train small.csv -o ro/m.safetensors)
  file(CHMOD ${WORK}/ro DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
else()
  message(STATUS "skipped: a read-only folder (root may write anywhere)")
endif()

# 5. The threshold is under the metadata checksum: one digit changed (0.1714 -> 0.5714), or
# the key's name damaged, and the file is refused, not read with another threshold or none.
expect_ok(threshold m.safetensors --value 0.1714 -o t.safetensors)
expect_ok(flag t.safetensors small.csv -o f.csv)
# damage(pattern, delta, char): bad.safetensors is t.safetensors with the byte delta bytes after
# the first match of pattern replaced by char.
function(damage pattern delta char)
  configure_file(${WORK}/t.safetensors ${WORK}/bad.safetensors COPYONLY)
  run(r ${BASH} -c "o=$(grep -obUa -- '${pattern}' bad.safetensors | head -1 | cut -d: -f1) && test -n \"$o\" && printf ${char} | dd of=bad.safetensors bs=1 seek=$((o + ${delta})) conv=notrunc status=none")
  if(NOT r_rc EQUAL 0)
    message(FATAL_ERROR "could not damage the model file at '${pattern}': ${r_err}")
  endif()
endfunction()
damage(":0.1713" 3 5) # the threshold 0.1714 becomes 0.5714
expect_fail("^ae flag: bad.safetensors is not a libae model file: .*metadata checksum mismatch" flag bad.safetensors small.csv -o f2.csv)
damage("anomaly" 6 x) # the key "anomaly" becomes "anomalx"
expect_fail("^ae flag: bad.safetensors is not a libae model file: .*metadata checksum mismatch" flag bad.safetensors small.csv -o f2.csv)

# 8. Option values out of range are refused by name, with the range, before any work.
expect_fail("^ae train: --lr wants a number > 0, not '-1'$" train small.csv --lr -1 -o x.safetensors)
expect_fail("^ae train: --dropout wants a number in \\[0, 1\\), not '1'$" train small.csv --dropout 1 -o x.safetensors)
expect_fail("^ae train: --beta1 wants a number in \\[0, 1\\), not '2'$" train small.csv --beta1 2 -o x.safetensors)
expect_fail("^ae train: --beta2 wants a number in \\[0, 1\\)" train small.csv --beta2 1 -o x.safetensors)
expect_fail("^ae train: --momentum wants a number in \\[0, 1\\)" train small.csv --momentum -0.5 -o x.safetensors)
expect_fail("^ae train: --eps wants a number > 0" train small.csv --eps 0 -o x.safetensors)
expect_fail("^ae train: --weight-decay wants a number in \\[0, 1e\\+06\\]" train small.csv --weight-decay -1 -o x.safetensors)
expect_fail("^ae train: --noise-level wants a share in \\[0, 1\\) with --noise mask" train small.csv --noise mask --noise-level 1 -o x.safetensors)
expect_fail("^ae train: --sparsity-target wants a number in \\(0, 1\\)" train small.csv --sparsity-target 0 -o x.safetensors)
expect_fail("^ae train: --kl-weight wants a number in \\[0, 1e\\+06\\]" train small.csv --kl-weight -2 -o x.safetensors)
expect_fail("^ae head: --lr wants a number > 0, not '0'" head m.safetensors small.csv l.csv --lr 0 -o x.safetensors)
expect_missing(x.safetensors)

# 9. A configuration too large to train is refused before anything is allocated, with the
# limit and the option that raises it; --memory-limit lowers or raises the limit.
expect_fail("^ae train: cannot build the model: out of memory \\(this model \\(201326624 parameters\\) needs about 36.50 GiB to train, above the memory limit of 4.00 GiB \\(raise it with ae_set_memory_limit, ae train --memory-limit\\)\\)$"
  train small.csv --hidden 16777216 -o x.safetensors)
expect_fail("above the memory limit of 0.00 GiB" train small.csv ${TRAIN} --memory-limit 0.000001 -o x.safetensors)
expect_ok(train small.csv ${TRAIN} --memory-limit 0.01 -o x.safetensors)
expect_fail("^ae train: --memory-limit wants a number in \\[0, 1e\\+09\\], not '-1'" train small.csv --memory-limit -1 -o y.safetensors)

# 10. Smaller ones.
# An existing file's mode is kept; a new file follows the umask.
run(r ${BASH} -c "chmod 600 x.safetensors && '${AE}' train small.csv ${TRAIN_WORDS} -o x.safetensors 2>/dev/null && stat -c %a x.safetensors")
if(NOT r_out MATCHES "^600")
  message(FATAL_ERROR "a 0600 model file became ${r_out} when saved again")
endif()
foreach(mask_mode "077:600" "022:644" "002:664")
  string(REPLACE ":" ";" mm "${mask_mode}")
  list(GET mm 0 mask)
  list(GET mm 1 want)
  file(REMOVE ${WORK}/u.safetensors ${WORK}/u.csv)
  run(r ${BASH} -c "umask ${mask} && '${AE}' train small.csv ${TRAIN_WORDS} -o u.safetensors 2>/dev/null && '${AE}' encode u.safetensors small.csv -o u.csv 2>/dev/null && stat -c %a u.safetensors u.csv")
  if(NOT r_out MATCHES "^${want}\n${want}")
    message(FATAL_ERROR "umask ${mask}: new files have modes ${r_out}, want ${want}")
  endif()
endforeach()
# -o through a symbolic link writes the file it points to; the link stays.
file(CREATE_LINK target.safetensors ${WORK}/link.safetensors SYMBOLIC)
expect_ok(train small.csv ${TRAIN} -o link.safetensors)
if(NOT IS_SYMLINK ${WORK}/link.safetensors OR NOT EXISTS ${WORK}/target.safetensors)
  message(FATAL_ERROR "-o on a symbolic link replaced the link instead of writing its target")
endif()
expect_ok(info link.safetensors)
# Stale temporaries of the file being saved (a save killed with -9) are removed; another
# file's are not.
file(WRITE ${WORK}/x.safetensors.tmp.AbC123 "left by a save that was killed")
file(WRITE ${WORK}/other.safetensors.tmp.AbC123 "another file's")
expect_ok(train small.csv ${TRAIN} -o x.safetensors)
if(EXISTS ${WORK}/x.safetensors.tmp.AbC123 OR NOT EXISTS ${WORK}/other.safetensors.tmp.AbC123)
  message(FATAL_ERROR "stale temporaries: the saved file's should be gone, another file's kept")
endif()
file(REMOVE ${WORK}/other.safetensors.tmp.AbC123)
# --hidden "" (or an empty width) is refused, not read as no hidden layer.
# (an empty argument cannot pass through a CMake list: bash gives it)
run(r ${BASH} -c "'${AE}' train small.csv --hidden '' -o x.safetensors")
if(r_rc EQUAL 0 OR NOT r_err MATCHES "^ae train: --hidden wants widths W\\[,W...\\], each an integer in \\[1, 16777216\\], not ''$")
  message(FATAL_ERROR "--hidden '': ${r_rc} '${r_err}'")
endif()
expect_fail("^ae train: --hidden wants widths .*not '3,'$" train small.csv --hidden 3, -o x.safetensors)
expect_fail("^ae train: --hidden wants widths .*not '3,,2'$" train small.csv --hidden 3,,2 -o x.safetensors)
# --resume with another --hidden or --code is refused with a clear line; the same is fine.
expect_fail("^ae train: --hidden 5 differs from the checkpoint c3.ckpt \\(hidden 3\\): a resumed run keeps its architecture"
  train small.csv --epochs 5 --resume c3.ckpt --hidden 5 -o r.safetensors)
expect_fail("^ae train: --code 3 differs from the checkpoint c3.ckpt \\(code 2\\)" train small.csv --epochs 5 --resume c3.ckpt --code 3 -o r.safetensors)
expect_ok(train small.csv --epochs 5 --resume c3.ckpt --hidden 3 --code 2 -o r.safetensors)
# No stray space before the colon of an unknown command.
expect_fail("^ae: unknown command 'fly'" fly)
# ae sample says what it wrote.
run(r ${AE} sample vae.safetensors -n 3 -o s.csv)
if(NOT r_rc EQUAL 0 OR NOT r_err MATCHES "^wrote s.csv: 3 rows of 4$")
  message(FATAL_ERROR "ae sample said '${r_err}' (${r_rc})")
endif()
expect_no_temporaries()
