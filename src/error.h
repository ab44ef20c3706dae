/* error: the detail of a failure beside its status code (ae_last_error), one buffer per
 * thread, so that the library can say which file, line, option or row went wrong without
 * printing. */
#ifndef AE_ERROR_H
#define AE_ERROR_H

#include "tensor.h"

/* Records a detail (printf-style) for this thread and returns status, so that a failure
 * reads `return ae_fail(AE_EFORMAT, "%s line %zu: ...", path, line);`. */
AE_HIDDEN int ae_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forgets this thread's detail: public entry points call it first, so that the detail
 * always belongs to the latest call. */
AE_HIDDEN void ae_error_clear(void);

#endif
