/* io_file: the atomic file write shared by the model file, the .npy and the CSV writers:
 * a temporary file beside the target, flushed and fsync'ed, then renamed over it, so that a
 * failed write never harms the file already there. Also: the up-front check that a path can
 * be written, and the system's reason for an I/O failure in ae_last_error. */
#ifndef AE_IO_FILE_H
#define AE_IO_FILE_H

#include <stdio.h>

#include "tensor.h"

typedef struct ae_atomic_file {
    FILE *f;
    char *tmp;    /* the temporary's name */
    char *target; /* the file renamed over: the path, or the file a symbolic link points to */
    int ok;       /* every write so far succeeded */
    int err;      /* errno of the first failed write */
    size_t written; /* bytes written so far */
} ae_atomic_file;

/* Test hook: given the bytes already written to the file and the size of the next write,
 * returns how many of them may succeed (fewer simulates a full disk: ENOSPC). NULL: none. */
typedef size_t (*ae_write_hook_fn)(size_t written, size_t n, void *user);
AE_HIDDEN void ae_set_write_hook(ae_write_hook_fn hook, void *user);

/* Creates the temporary `<target>.tmp.XXXXXX` beside the target (a symbolic link is followed
 * to the file it names), with the existing target's mode or, for a new file, 0666 less the
 * umask; first removes stale temporaries of the same target that no live save holds (one
 * killed mid-save). AE_OK, AE_ENOMEM or AE_EIO (the reason in ae_last_error). */
AE_HIDDEN int ae_atomic_open(ae_atomic_file *a, const char *path);
/* Appends n bytes; failures are remembered for ae_atomic_close. */
AE_HIDDEN void ae_atomic_write(ae_atomic_file *a, const void *p, size_t n);
/* Flushes, fsyncs, closes and renames over the target when everything succeeded;
 * otherwise removes the temporary. AE_OK or AE_EIO (the reason in ae_last_error). */
AE_HIDDEN int ae_atomic_close(ae_atomic_file *a);

/* What ae_output_check does, without clearing ae_last_error first. */
AE_HIDDEN int ae_path_writable(const char *path);

/* The system's reason for errno err ("No such file or directory"), thread-safe. */
AE_HIDDEN const char *ae_sys_reason(int err, char *buf, size_t size);

#endif
