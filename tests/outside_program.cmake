# Builds examples/minimal.c as an outside program would: only ae.h on the include path and
# libae.a plus its dependencies on the command line; then runs it. A cross build passes its
# linker flags (LDFLAGS: where a sysroot's libraries are) and its emulator (EMU).
set(flags -std=c11 -I${INC})
if(SANITIZE)
  list(APPEND flags -fsanitize=address,undefined)
endif()
separate_arguments(ldflags UNIX_COMMAND "${LDFLAGS}")
separate_arguments(emu UNIX_COMMAND "${EMU}")
execute_process(COMMAND ${CC} ${flags} ${SRC} ${LIB} ${BLAS} ${ldflags} -ljansson -lz -lm -o ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling the outside program failed")
endif()
execute_process(COMMAND ${emu} ${OUT} ${OUT}.safetensors RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the outside program failed")
endif()
