/* For programs that link libae: get OpenBLAS's real kernels on CPUs that OpenBLAS 0.3.21
 * misdetects (the "Prescott" fallback). Used by the examples and bench/ae_bench. */
#ifndef AE_EXAMPLES_FAST_BLAS_H
#define AE_EXAMPLES_FAST_BLAS_H

/* If OpenBLAS fell back to an old core on this CPU, re-executes the program with
 * OPENBLAS_CORETYPE set to the right one (OpenBLAS reads it only when it loads); returns when
 * nothing needs doing, or after a warning when the re-execution failed. Call first in main. */
void ensure_fast_blas(char **argv);

#endif
