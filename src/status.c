#include <stdarg.h>
#include <stdio.h>

#include "error.h"
#include "tensor.h"

const char *ae_strerror(int status) {
    switch (status) {
    case AE_OK: return "success";
    case AE_EINVAL: return "invalid argument (NULL pointer, zero or absurd size, or option out of range)";
    case AE_ENOMEM: return "out of memory";
    case AE_EIO: return "input/output error (open, read, write, flush or rename failed)";
    case AE_EFORMAT: return "malformed file (bad header, truncated data or checksum mismatch)";
    case AE_ENONFINITE: return "input data contains NaN or infinity";
    case AE_EDIVERGED: return "training diverged (the loss became NaN or infinite)";
    case AE_ERANGE: return "training rows lie outside the output activation's range and input scaling is off";
    default: return "unknown status code";
    }
}

const char *ae_version(void) { return AE_VERSION_STRING; }

/* One detail per thread: ae_last_error is thread-safe without a lock. */
static _Thread_local char last_error[512];

int ae_fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void ae_error_clear(void) { last_error[0] = '\0'; }

const char *ae_last_error(void) { return last_error; }
