/* io_csv_save: rows of floats as CSV, written atomically (io_file) like the .npy and model
 * files, so that a full disk or a kill leaves the previous file whole. */
#include <stdio.h>

#include "error.h"
#include "io_file.h"

AE_API int ae_csv_save(const char *path, const float *x, size_t rows, size_t cols) {
    ae_error_clear();
    size_t n;
    if (!path || !*path || !x || rows == 0 || cols == 0 || !ae_mul_ok(rows, cols, &n))
        return ae_fail(AE_EINVAL, "ae_csv_save: needs a path and rows x cols > 0 floats");
    ae_atomic_file f;
    int rc = ae_atomic_open(&f, path);
    if (rc != AE_OK) return rc;
    /* %.9g: nine significant digits give every float back exactly */
    char line[1 << 14];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(line + used, sizeof line - used, "%.9g%c", (double)x[i], (i + 1) % cols ? ',' : '\n');
        used += (size_t)len; /* at most 17 characters: "-1.23456789e-38," */
        if (sizeof line - used < 32 || i + 1 == n) {
            ae_atomic_write(&f, line, used);
            used = 0;
        }
    }
    return ae_atomic_close(&f);
}
