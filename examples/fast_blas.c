#define _POSIX_C_SOURCE 200809L /* setenv */
#include "fast_blas.h"

#include <ae.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void ensure_fast_blas(char **argv) {
    ae_blas_info b = ae_blas_get_info();
    /* A core type the user chose is theirs to keep; AE_REEXEC guards against a loop. */
    if (!b.fallback || !b.suggested_core || getenv("OPENBLAS_CORETYPE") || getenv("AE_REEXEC")) return;
    fprintf(stderr, "OpenBLAS chose core %s on a CPU that runs %s kernels: restarting with OPENBLAS_CORETYPE=%s\n",
            b.core, b.suggested_core, b.suggested_core);
    fflush(NULL);
    if (setenv("OPENBLAS_CORETYPE", b.suggested_core, 1) == 0 && setenv("AE_REEXEC", "1", 1) == 0)
        execv("/proc/self/exe", argv);
    perror("re-executing with OPENBLAS_CORETYPE failed; going on with the slow kernels");
}
