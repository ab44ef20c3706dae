# Builds examples/minimal.c as an outside program would: only ae.h on the include path and
# libae.a plus its dependencies on the command line; then runs it.
set(flags -std=c11 -I${INC})
if(SANITIZE)
  list(APPEND flags -fsanitize=address,undefined)
endif()
execute_process(COMMAND ${CC} ${flags} ${SRC} ${LIB} ${BLAS} -ljansson -lz -lm -o ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling the outside program failed")
endif()
execute_process(COMMAND ${OUT} ${OUT}.safetensors RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the outside program failed")
endif()
