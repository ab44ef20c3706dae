# ae train --mpi under mpirun -np 2: both ranks train on their halves of a CSV file (loaded, then
# streamed), rank 0 writes the model, ae info reads it, for a dense and a conv model (rows as 1x2x3
# images); a missing data file fails on every rank with exit 1.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(rows "")
foreach(i RANGE 0 99)
  math(EXPR a "${i} % 7")
  math(EXPR b "${i} % 5")
  string(APPEND rows "0.${a},0.${b},0.${a}${b},0.5,0.${b}${a},0.1\n")
endforeach()
file(WRITE ${WORK}/data.csv "${rows}")
set(MPIRUN ${MPIEXEC} -np 2 --oversubscribe --allow-run-as-root)
execute_process(COMMAND ${MPIRUN} ${AE} train ${WORK}/data.csv -o ${WORK}/m.safetensors --mpi
                  --hidden 4 --code 2 --epochs 3 --batch 16
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "ae train --mpi:\n${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ae train --mpi failed (${rc})")
endif()
if(NOT err MATCHES "over 2 MPI ranks" OR NOT err MATCHES "MPI_Allreduce")
  message(FATAL_ERROR "ae train --mpi did not report its ranks and reductions")
endif()
execute_process(COMMAND ${AE} info ${WORK}/m.safetensors RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "6")
  message(FATAL_ERROR "ae info cannot read the model ae train --mpi wrote:\n${out}")
endif()
execute_process(COMMAND ${MPIRUN} ${AE} train ${WORK}/data.csv -o ${WORK}/c.safetensors --mpi
                  --input-shape 1x2x3 --conv 2:3:1,3:1:2 --code 2 --epochs 3 --batch 16
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "over 2 MPI ranks")
  message(FATAL_ERROR "ae train --mpi of a conv model failed (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${AE} info ${WORK}/c.safetensors RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "input 1x2x3, layers 2:3:1 3:1:2")
  message(FATAL_ERROR "ae info of the conv model ae train --mpi wrote:\n${out}")
endif()
# --stream --mpi: each rank streams its half of the file in blocks
execute_process(COMMAND ${MPIRUN} ${AE} train ${WORK}/data.csv -o ${WORK}/s.safetensors --mpi --stream
                  --buffer-rows 16 --hidden 4 --code 2 --epochs 3 --batch 16
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "ae train --mpi --stream:\n${out}${err}")
if(NOT rc EQUAL 0 OR NOT err MATCHES "each rank streaming its share" OR NOT EXISTS ${WORK}/s.safetensors)
  message(FATAL_ERROR "ae train --mpi --stream failed (${rc})")
endif()
execute_process(COMMAND ${MPIRUN} ${AE} train ${WORK}/missing.csv -o ${WORK}/n.safetensors --mpi
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "cannot read")
  message(FATAL_ERROR "a missing file under --mpi: rc ${rc}\n${err}")
endif()
if(EXISTS ${WORK}/n.safetensors)
  message(FATAL_ERROR "a failed run wrote a model")
endif()
