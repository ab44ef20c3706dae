# The ae command on a raw table, as a new user runs it: no options. Widths, schedule and
# scaling come from the data and are printed; scaling off refuses rows outside the output's
# range; --contamination keeps a threshold; rows come back in the table's own units.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
# 60 rows of 6 columns in very different units (a constant one among them), with a header.
set(rows "area,ratio,count,temp,const,code\n")
foreach(i RANGE 1 60)
  math(EXPR a "1000 + (${i} * 37) % 500")
  math(EXPR b "(${i} * 13) % 10")
  math(EXPR c "(${i} * 7) % 50 + 20 * (${i} % 3)")
  math(EXPR t "-40 + (${i} * 11) % 80")
  math(EXPR k "(${i} * 5) % 9")
  string(APPEND rows "${a},0.${b},${c},${t},7,${k}\n")
endforeach()
file(WRITE ${WORK}/raw.csv "${rows}")

function(run_ae out_var err_var rc_var)
  execute_process(COMMAND ${AE} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
  set(${rc_var} "${rc}" PARENT_SCOPE)
endfunction()

function(must_match text pattern what)
  if(NOT text MATCHES "${pattern}")
    message(FATAL_ERROR "${what}: expected '${pattern}' in: ${text}")
  endif()
endfunction()

run_ae(out err rc train raw.csv -o m.safetensors)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ae train raw.csv failed: ${err}")
endif()
must_match("${err}" "model 6-3-1-3-6 \\(widths from the data\\), scaling auto; 125 epochs of batch 16 \\(4 steps each\\) on 60 rows" "the defaults")
must_match("${err}" "input scaling: minmax" "the scaling chosen")
run_ae(out err rc info m.safetensors)
must_match("${out}" "scaling +minmax \\(statistics of the training rows\\)" "ae info")

# Reconstructions in the table's units: the first column lies near 1000-1500, not in [0, 1].
run_ae(out err rc reconstruct m.safetensors raw.csv -o rec.csv)
file(STRINGS ${WORK}/rec.csv first LIMIT_COUNT 1)
must_match("${first}" "^1[0-9][0-9][0-9]\\." "a reconstruction in user units")

# Scaling off: a clear refusal naming the row, the column and the remedy; no model written.
run_ae(out err rc train raw.csv --scale none -o none.safetensors)
if(rc EQUAL 0 OR EXISTS ${WORK}/none.safetensors)
  message(FATAL_ERROR "ae train --scale none on raw rows did not fail: ${err}")
endif()
must_match("${err}" "row 1 column 1 is 1037, outside the sigmoid output's range \\[0, 1\\]" "the range refusal")
run_ae(out err rc train raw.csv --scale sometimes -o x.safetensors)
must_match("${err}" "--scale: unknown value 'sometimes'" "an unknown scaling mode")

# A contamination rate keeps a threshold, calibrated out of fold.
run_ae(out err rc train raw.csv --contamination 0.1 -o c.safetensors)
must_match("${err}" "flags 0.1 of the 60 out-of-fold rows" "--contamination")
run_ae(out err rc info c.safetensors)
must_match("${out}" "contamination 0.1" "ae info shows the contamination threshold")
run_ae(out err rc train raw.csv --contamination 0.7 -o x.safetensors)
must_match("${err}" "--contamination wants a share in \\(0, 0.5\\]" "a bad contamination")
run_ae(out err rc train raw.csv --contamination 0.1 --val-split 0.25 -o h.safetensors)
must_match("${err}" "flags 0.1 of the 15 held-out rows" "--contamination with --val-split")
run_ae(out err rc threshold m.safetensors raw.csv --contamination 0.2 -o t.safetensors)
must_match("${out}" "threshold [0-9.e-]+ \\(from the errors of 60 rows" "ae threshold --contamination")
run_ae(out err rc flag t.safetensors raw.csv -o f.csv)
must_match("${out}" "flagged 12 of 60 rows" "ae flag at contamination 0.2")
if(EXISTS ${WORK}/x.safetensors)
  message(FATAL_ERROR "a refused ae train wrote x.safetensors")
endif()
