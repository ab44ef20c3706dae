/* io_file: the atomic file write shared by the model file, the .npy and the CSV writers:
 * a temporary file beside the target, flushed and fsync'ed, then renamed over it, so that a
 * failed write never harms the file already there. Also: the up-front check that a path can
 * be written, the system's reason for an I/O failure in ae_last_error, and the data readers'
 * side: a whole file into memory, under the size limit every reader shares. */
#ifndef AE_IO_FILE_H
#define AE_IO_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "tensor.h"

typedef struct ae_atomic_file {
    FILE *f;
    char *tmp; /* the temporary's name */
    char *target; /* the file renamed over: the path, or the file a symbolic link points to */
    int ok; /* every write so far succeeded */
    int err; /* errno of the first failed write */
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
/* Appends n floats as little-endian bytes (the files' order on every host). */
AE_HIDDEN void ae_atomic_write_f32(ae_atomic_file *a, const float *x, size_t n);
/* Flushes, fsyncs, closes and renames over the target when everything succeeded;
 * otherwise removes the temporary. AE_OK or AE_EIO (the reason in ae_last_error). */
AE_HIDDEN int ae_atomic_close(ae_atomic_file *a);

/* What ae_output_check does, without clearing ae_last_error first. */
AE_HIDDEN int ae_path_writable(const char *path);

/* The system's reason for errno err ("No such file or directory"), thread-safe. */
AE_HIDDEN const char *ae_sys_reason(int err, char *buf, size_t size);

/* The most bytes read from disk, or inflated from a gzip stream: 8 GiB, or less where size_t
 * is narrower; one below SIZE_MAX so that limit + 1 fits. */
AE_HIDDEN size_t ae_read_limit(void);

/* Doubles a byte buffer, up to max bytes: AE_EFORMAT (no detail) once it holds max already
 * (the input is over the size limit), AE_ENOMEM when realloc fails (the buffer is then
 * unchanged). */
AE_HIDDEN int ae_grow(unsigned char **buf, size_t *cap, size_t max);

/* fopen/fread/fstat/fclose failed: AE_EIO with strerror(errno) as the detail. */
AE_HIDDEN int ae_io_error(void);

/* "larger than ae_read_limit() bytes, the most a data file may be": AE_EFORMAT. */
AE_HIDDEN int ae_read_too_large(void);

/* Opens path for reading a data file: a folder is AE_EIO, a regular file larger than
 * ae_read_limit() AE_EFORMAT. *regular and *size tell a regular file and its size. *f is
 * left open whatever this returns once fopen succeeded: the caller closes it. */
AE_HIDDEN int ae_read_open(const char *path, FILE **f, int *regular, uint64_t *size);

/* The whole file at path into a new buffer (ae_malloc'ed); a file over ae_read_limit() is
 * AE_EFORMAT, a folder AE_EIO. The detail does not name the file. */
AE_HIDDEN int ae_read_file(const char *path, unsigned char **out, size_t *out_len);

/* Allocates d->x for rows x cols floats (both > 0) and sets the shape; AE_EFORMAT when the
 * size overflows, AE_ENOMEM. */
AE_HIDDEN int ae_data_alloc(ae_data *d, size_t rows, size_t cols);

/* Puts "path: " in front of the detail a failure recorded (when it recorded one); rc back. */
AE_HIDDEN int ae_with_path(int rc, const char *path);

#endif
