# The `ae` command on tabular DATA as people have it: a pandas file (index column, header
# names, a text label column), ';' with decimal commas, tab, bare CR; the data flags
# (--columns, --drop, --label, --delimiter, --header/--no-header, --max-inflate) on the commands
# that read rows; `ae head --label`; and each refusal: one line naming the thing, a non-zero
# exit, nothing written.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
# What pandas' df.to_csv("p.csv") writes: an unnamed index column 0..n-1, then the columns.
file(WRITE ${WORK}/p.csv ",a,b,diagnosis\n0,0.1,0.2,benign\n1,0.3,0.4,malignant\n2,0.5,0.6,benign\n3,0.7,0.1,malignant\n")
file(WRITE ${WORK}/semi.csv "a;b\n0,1;0,2\n0,3;0,4\n0,5;0,6\n0,7;0,1\n")
file(WRITE ${WORK}/tab.tsv "a\tb\n0.1\t0.2\n0.3\t0.4\n0.5\t0.6\n0.7\t0.1\n")
file(WRITE ${WORK}/cr.csv "0.1,0.2\r0.3,0.4\r0.5,0.6\r")
file(WRITE ${WORK}/named.csv "a,b\n0.1,0.2\n0.3,0.4\n")
file(WRITE ${WORK}/hex.csv "0.1,0.2\n0x10,0.4\n")
file(WRITE ${WORK}/huge.csv "0.1,0.2\n1e39,0.4\n")

function(expect_ok)
  execute_process(COMMAND ${AE} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ae ${ARGN} failed (${rc}): ${err}")
  endif()
endfunction()

# Fails with one line on stderr matching pattern, and leaves no file `unwritten` behind.
function(expect_fail pattern unwritten)
  execute_process(COMMAND ${AE} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
  string(STRIP "${err}" err)
  string(REGEX MATCHALL "\n" newlines "${err}")
  list(LENGTH newlines extra)
  if(rc EQUAL 0 OR NOT err MATCHES "${pattern}" OR NOT extra EQUAL 0)
    message(FATAL_ERROR "ae ${ARGN}: expected one line matching '${pattern}' and a failure, got ${rc}: '${err}'")
  endif()
  if(EXISTS ${WORK}/${unwritten})
    message(FATAL_ERROR "ae ${ARGN} failed but wrote ${unwritten}")
  endif()
  message(STATUS "ok: ae ${ARGN} -> ${err}")
endfunction()

# The lines of a written CSV file, and the fields of its first line.
function(expect_shape file rows cols)
  file(STRINGS ${WORK}/${file} lines)
  list(LENGTH lines n)
  list(GET lines 0 first)
  string(REPLACE "," ";" fields "${first}")
  list(LENGTH fields k)
  if(NOT n EQUAL ${rows} OR NOT k EQUAL ${cols})
    message(FATAL_ERROR "${file} has ${n} rows of ${k}, want ${rows} of ${cols}")
  endif()
endfunction()

function(expect_input_width model width)
  execute_process(COMMAND ${AE} info ${model} OUTPUT_VARIABLE out WORKING_DIRECTORY ${WORK})
  if(NOT out MATCHES "architecture ${width}-")
    message(FATAL_ERROR "${model} does not take ${width} inputs: ${out}")
  endif()
endfunction()

# pandas: the index column is dropped, the label column kept out of the inputs: 2 inputs.
expect_ok(train p.csv --label diagnosis --hidden 3 --code 2 --epochs 2 --batch 2 -o m.safetensors)
expect_input_width(m.safetensors 2)
expect_ok(encode m.safetensors p.csv --drop diagnosis -o codes.csv)
expect_shape(codes.csv 4 2)
expect_ok(score m.safetensors p.csv --label 4 -o scores.csv)
expect_shape(scores.csv 4 1)
# ae head takes the labels from the column (text classes: benign 0, malignant 1).
execute_process(COMMAND ${AE} head m.safetensors p.csv --label diagnosis --epochs 2 --batch 2 -o h.safetensors
                RESULT_VARIABLE rc ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
if(NOT rc EQUAL 0 OR NOT err MATCHES "classes of diagnosis: 0 benign, 1 malignant")
  message(FATAL_ERROR "ae head --label diagnosis (${rc}) did not name its classes: ${err}")
endif()
expect_ok(predict h.safetensors p.csv --label diagnosis -o classes.csv)
file(STRINGS ${WORK}/classes.csv classes)
if(NOT classes MATCHES "^[01];[01];[01];[01]$")
  message(FATAL_ERROR "ae predict wrote ${classes}, want 4 class indices 0 or 1")
endif()
# --columns by name and by number range, in the order given.
expect_ok(train p.csv --columns b,a --hidden 3 --code 1 --epochs 1 -o cols.safetensors)
expect_input_width(cols.safetensors 2)
expect_ok(train p.csv --columns 2-3 --hidden 3 --code 1 --epochs 1 -o range.safetensors)
expect_input_width(range.safetensors 2)

# ';' with decimal commas, tab, bare CR: each read as 2 columns (4, 4 and 3 rows).
expect_ok(encode m.safetensors semi.csv -o s.csv)
expect_shape(s.csv 4 2)
expect_ok(encode m.safetensors semi.csv --delimiter semicolon -o s2.csv)
expect_shape(s2.csv 4 2)
expect_ok(encode m.safetensors tab.tsv -o t.csv)
expect_shape(t.csv 4 2)
expect_ok(encode m.safetensors tab.tsv --delimiter tab --header -o t2.csv)
expect_shape(t2.csv 4 2)
expect_ok(encode m.safetensors cr.csv -o cr_out.csv)
expect_shape(cr_out.csv 3 2)

# Refusals: one line that names the thing, exit 1, no output.
expect_fail("label: no column named 'nope'" h2.safetensors head m.safetensors p.csv --label nope -o h2.safetensors)
expect_fail("label: no column named 'nope'" y.safetensors train p.csv --label nope -o y.safetensors)
expect_fail("columns: no column named 'c'" x.csv encode m.safetensors p.csv --columns a,c -o x.csv)
expect_fail("drop: column 9 does not exist: the file has 4" x.csv encode m.safetensors p.csv --drop 9 -o x.csv)
expect_fail("give LABELS or --label COL, not both" h3.safetensors head m.safetensors p.csv p.csv --label diagnosis -o h3.safetensors)
expect_fail("line 2 column 4 \\(diagnosis\\): 'benign' is not a number" x.csv encode m.safetensors p.csv -o x.csv)
expect_fail("line 1 column 1: 'a' is not a number" x.csv encode m.safetensors named.csv --no-header -o x.csv)
expect_fail("hex.csv: line 2 column 1: '0x10' is not a number" x.csv encode m.safetensors hex.csv -o x.csv)
expect_fail("huge.csv: line 2 column 1: 1e39 is out of float range" x.csv encode m.safetensors huge.csv -o x.csv)
expect_fail("cannot read missing.csv: .*No such file or directory" x.csv encode m.safetensors missing.csv -o x.csv)
expect_fail("--delimiter wants one of" x.csv encode m.safetensors p.csv --delimiter xy -o x.csv)
expect_fail("--label needs a value" x.csv encode m.safetensors p.csv -o x.csv --label)
expect_fail("unknown option --label" x info m.safetensors --label a)

# A .csv.gz inflates no further than --max-inflate (MB): 1.5 MB of rows refused at 1.
string(REPEAT "0.1,0.2\n" 200000 rows)
file(WRITE ${WORK}/big.csv "${rows}")
file(ARCHIVE_CREATE OUTPUT ${WORK}/big.csv.gz PATHS ${WORK}/big.csv FORMAT raw COMPRESSION GZip)
expect_ok(score m.safetensors big.csv.gz -o big_scores.npy)
expect_fail("big.csv.gz: inflates past 1048576 bytes" x.csv score m.safetensors big.csv.gz --max-inflate 1 -o x.csv)
