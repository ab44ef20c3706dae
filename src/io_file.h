/* io_file: the atomic file write shared by the model file and the .npy writer:
 * a temporary file beside the target, flushed and fsync'ed, then renamed over it, so that a
 * failed write never harms the file already there. */
#ifndef AE_IO_FILE_H
#define AE_IO_FILE_H

#include <stdio.h>

#include "tensor.h"

typedef struct ae_atomic_file {
    FILE *f;
    char *tmp;        /* the temporary's name */
    const char *path; /* the target */
    int ok;           /* every write so far succeeded */
    size_t written;   /* bytes written so far */
} ae_atomic_file;

/* Test hook: given the bytes already written to the file and the size of the next write,
 * returns how many of them may succeed (fewer simulates a full disk). NULL: none. */
typedef size_t (*ae_write_hook_fn)(size_t written, size_t n, void *user);
AE_HIDDEN void ae_set_write_hook(ae_write_hook_fn hook, void *user);

/* Creates the temporary; AE_OK, AE_ENOMEM or AE_EIO. */
AE_HIDDEN int ae_atomic_open(ae_atomic_file *a, const char *path);
/* Appends n bytes; failures are remembered for ae_atomic_close. */
AE_HIDDEN void ae_atomic_write(ae_atomic_file *a, const void *p, size_t n);
/* Flushes, fsyncs, closes and renames over the target when everything succeeded;
 * otherwise removes the temporary. AE_OK or AE_EIO. */
AE_HIDDEN int ae_atomic_close(ae_atomic_file *a);

#endif
