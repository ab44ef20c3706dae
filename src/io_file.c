#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include "io_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "error.h"

static ae_write_hook_fn g_write_hook;
static void *g_write_user;

void ae_set_write_hook(ae_write_hook_fn hook, void *user) {
    g_write_hook = hook;
    g_write_user = user;
}

const char *ae_sys_reason(int err, char *buf, size_t size) {
    if (strerror_r(err, buf, size) != 0) snprintf(buf, size, "error %d", err);
    return buf;
}

/* The length of path's directory part: up to its last '/', 0 for none ("." then). */
static size_t dir_len(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) + 1 : 0;
}

/* Records "<what> <path>: <the system's reason>" and returns AE_EIO. */
static int io_fail(int err, const char *what, const char *path) {
    char why[128];
    return ae_fail(AE_EIO, "%s%s%s: %s", what, *what ? " " : "", path, ae_sys_reason(err, why, sizeof why));
}

/* Records "<path>: cannot create a file beside it: <reason>" and returns AE_EIO. */
static int create_fail(int err, const char *path) {
    char why[128];
    return ae_fail(AE_EIO, "%s: cannot create a file beside it: %s", path, ae_sys_reason(err, why, sizeof why));
}

/* The folder of target into dir ("." for none); 0 when it does not fit. */
static int folder_of(const char *target, char *dir, size_t size) {
    size_t dl = dir_len(target);
    if (dl > 1) dl--; /* "a/b/" -> "a/b"; "/" stays */
    if ((dl ? dl : 1) >= size) return 0;
    memcpy(dir, dl ? target : ".", dl ? dl : 1);
    dir[dl ? dl : 1] = '\0';
    return 1;
}

static char *copy_of(const char *s, size_t n) {
    char *p = ae_malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* The file that writing to path writes: path itself, or where its symbolic links lead (as
 * most tools write through a link rather than replace it). A new file (or a dangling link's
 * target) need not exist. NULL with the reason recorded (AE_ENOMEM or AE_EIO in *rc). */
static char *resolve_target(const char *path, int *rc) {
    char *cur = copy_of(path, strlen(path));
    for (int hops = 0; cur && hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char link[4096];
        ssize_t n = readlink(cur, link, sizeof link);
        if (n <= 0 || (size_t)n >= sizeof link) {
            *rc = io_fail(n < 0 ? errno : ENAMETOOLONG, "cannot read the link", cur);
            ae_dealloc(cur);
            return NULL;
        }
        /* a relative link is relative to the link's own folder */
        size_t keep = link[0] == '/' ? 0 : dir_len(cur);
        char *next = ae_malloc(keep + (size_t)n + 1);
        if (next) {
            memcpy(next, cur, keep);
            memcpy(next + keep, link, (size_t)n);
            next[keep + (size_t)n] = '\0';
        }
        ae_dealloc(cur);
        cur = next;
    }
    if (!cur) {
        *rc = AE_ENOMEM;
        return NULL;
    }
    *rc = io_fail(ELOOP, "", path);
    ae_dealloc(cur);
    return NULL;
}

/* Six characters for a temporary's name, different on every call of every process. */
static void unique_suffix(char out[7]) {
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t z = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL; /* splitmix64's finaliser */
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (int i = 0; i < 6; i++, z /= 62) out[i] = digits[z % 62];
    out[6] = '\0';
}

/* Creates a new temporary beside target, name into tmp (target + ".tmp." + 6 + NUL bytes).
 * Mode 0666 less the umask (open applies it). The fd, or -1 with errno set. */
static int create_temporary(const char *target, char *tmp) {
    size_t len = strlen(target);
    memcpy(tmp, target, len);
    memcpy(tmp + len, ".tmp.", 5);
    for (int tries = 0; tries < 100; tries++) {
        unique_suffix(tmp + len + 5);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

/* Is name "<base>.tmp.XXXXXX" (six letters or digits)? */
static int is_temporary_of(const char *name, const char *base, size_t blen) {
    if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0) return 0;
    const char *s = name + blen + 5;
    for (int i = 0; i < 6; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) return 0;
    return s[6] == '\0';
}

/* Removes temporaries of target left by saves that died (kill -9, power loss): a live save
 * holds a lock on its temporary, so one that can be locked is stale. Best effort: a
 * temporary that cannot be removed is left alone. */
static void remove_stale_temporaries(const char *target) {
    /* no allocation of libae's here: a clean-up must not fail a save */
    const size_t dl = dir_len(target), blen = strlen(target + dl);
    char dir[4096], path[4096];
    DIR *d = folder_of(target, dir, sizeof dir) && dl + blen + 12 <= sizeof path ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (!is_temporary_of(e->d_name, target + dl, blen)) continue;
        memcpy(path, target, dl);
        memcpy(path + dl, e->d_name, blen + 12);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0)
            (void)unlink(path);
        if (fd >= 0) close(fd);
    }
    if (d) closedir(d);
}

/* The checks every writer makes on its resolved target: its folder exists and is a folder,
 * and the target, when it exists, is a regular file. *mode gets the target's permission bits
 * (-1 when it does not exist). AE_OK or AE_EIO with the reason. */
static int check_target(const char *target, const char *path, int *mode) {
    struct stat st;
    *mode = -1;
    if (stat(target, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return io_fail(EISDIR, "", path);
        if (!S_ISREG(st.st_mode))
            return ae_fail(AE_EIO, "%s: not a regular file (files are written through a temporary and a rename)", path);
        *mode = (int)(st.st_mode & 07777);
        return AE_OK;
    }
    if (errno != ENOENT) return io_fail(errno, "", path);
    char dir[4096], why[128];
    if (!folder_of(target, dir, sizeof dir)) return io_fail(ENAMETOOLONG, "", path);
    if (stat(dir, &st) != 0)
        return ae_fail(AE_EIO, "%s: folder %s: %s", path, dir, ae_sys_reason(errno, why, sizeof why));
    if (!S_ISDIR(st.st_mode)) return ae_fail(AE_EIO, "%s: %s is not a folder", path, dir);
    return AE_OK;
}

int ae_path_writable(const char *path) {
    if (!path || !*path) return ae_fail(AE_EINVAL, "no path given");
    int rc = AE_OK, mode;
    char *target = resolve_target(path, &rc);
    if (!target) return rc;
    rc = check_target(target, path, &mode);
    char *tmp = rc == AE_OK ? ae_malloc(strlen(target) + 12) : NULL;
    if (rc == AE_OK && !tmp) rc = AE_ENOMEM;
    if (rc == AE_OK) { /* the proof: a temporary can be made beside it (what a save does first) */
        int fd = create_temporary(target, tmp);
        if (fd < 0) {
            rc = create_fail(errno, path);
        } else {
            close(fd);
            unlink(tmp);
        }
    }
    ae_dealloc(tmp);
    ae_dealloc(target);
    return rc;
}

int ae_output_check(const char *path) {
    ae_error_clear();
    return ae_path_writable(path);
}

int ae_atomic_open(ae_atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    int rc = AE_OK, mode;
    if (!(a->target = resolve_target(path, &rc))) return rc;
    if ((rc = check_target(a->target, path, &mode)) != AE_OK) goto fail;
    remove_stale_temporaries(a->target);
    if (!(a->tmp = ae_malloc(strlen(a->target) + 12))) {
        rc = AE_ENOMEM;
        goto fail;
    }
    for (int tries = 0;; tries++) {
        int fd = create_temporary(a->target, a->tmp);
        if (fd < 0) {
            rc = create_fail(errno, path);
            goto fail;
        }
        /* The lock tells other saves this temporary is live. Between open and flock another
         * save's clean-up may have removed it: then the name is no longer this file's. */
        struct stat mine, named;
        int held = flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &mine) == 0 && stat(a->tmp, &named) == 0 &&
                   mine.st_dev == named.st_dev && mine.st_ino == named.st_ino;
        /* an existing file keeps its mode; a new one has 0666 less the umask from open */
        if (held && mode >= 0 && fchmod(fd, (mode_t)mode) != 0) {
            rc = io_fail(errno, "cannot set the mode of", a->tmp);
            close(fd);
            unlink(a->tmp);
            goto fail;
        }
        if (held && (a->f = fdopen(fd, "wb"))) break;
        int err = errno;
        close(fd);
        if (held) { /* fdopen failed */
            unlink(a->tmp);
            rc = err == ENOMEM ? AE_ENOMEM : io_fail(err, "", a->tmp);
            goto fail;
        }
        if (tries == 10) {
            rc = ae_fail(AE_EIO, "%s: its temporary files keep disappearing", path);
            goto fail;
        }
    }
    a->ok = 1;
    return AE_OK;
fail:
    ae_dealloc(a->tmp);
    ae_dealloc(a->target);
    memset(a, 0, sizeof *a);
    return rc;
}

void ae_atomic_write(ae_atomic_file *a, const void *p, size_t n) {
    if (!a->ok || n == 0) return;
    size_t allowed = g_write_hook ? g_write_hook(a->written, n, g_write_user) : n;
    if (allowed > n) allowed = n;
    errno = 0;
    size_t done = fwrite(p, 1, allowed, a->f);
    a->written += done;
    if (done != n) {
        a->ok = 0;
        a->err = done < allowed && errno ? errno : ENOSPC; /* the hook's short write: a full disk */
    }
}

static void atomic_sink(void *a, const void *p, size_t n) { ae_atomic_write(a, p, n); }

void ae_atomic_write_f32(ae_atomic_file *a, const float *x, size_t n) { ae_f32_le_chunks(x, n, atomic_sink, a); }

/* After a rename, the folder's entry is made durable too (not every file system can). */
static void sync_folder(const char *target) {
    char dir[4096];
    int fd = folder_of(target, dir, sizeof dir) ? open(dir, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int ae_atomic_close(ae_atomic_file *a) {
    int err = a->ok ? 0 : a->err;
    const char *what = "cannot write";
    if (!err && fflush(a->f) != 0) err = errno;
    if (!err && fsync(fileno(a->f)) != 0) err = errno;
    if (fclose(a->f) != 0 && !err) err = errno; /* also drops the lock */
    if (!err && rename(a->tmp, a->target) != 0) {
        err = errno;
        what = "cannot rename the temporary over";
    }
    int rc = AE_OK;
    if (err) {
        unlink(a->tmp);
        rc = io_fail(err, what, a->target);
    } else {
        sync_folder(a->target);
    }
    ae_dealloc(a->tmp);
    ae_dealloc(a->target);
    memset(a, 0, sizeof *a);
    return rc;
}

/* ---------------------------------------------------------------- reading data files */

#define MAX_BYTES ((uint64_t)8 << 30)

size_t ae_read_limit(void) { return MAX_BYTES < (uint64_t)SIZE_MAX ? (size_t)MAX_BYTES : SIZE_MAX - 1; }

int ae_grow(unsigned char **buf, size_t *cap, size_t max) {
    if (*cap >= max) return AE_EFORMAT;
    size_t ncap = *cap <= max / 2 ? *cap * 2 : max;
    unsigned char *nb = ae_realloc(*buf, ncap);
    if (!nb) return AE_ENOMEM;
    *buf = nb;
    *cap = ncap;
    return AE_OK;
}

int ae_io_error(void) { return ae_fail(AE_EIO, "%s", strerror(errno)); }

int ae_read_too_large(void) {
    return ae_fail(AE_EFORMAT, "larger than %zu bytes, the most a data file may be", ae_read_limit());
}

int ae_read_open(const char *path, FILE **f, int *regular, uint64_t *size) {
    *regular = 0;
    *size = 0;
    *f = fopen(path, "rb");
    if (!*f) return ae_io_error();
    struct stat st;
    if (fstat(fileno(*f), &st) != 0) return ae_io_error();
    if (S_ISDIR(st.st_mode)) return ae_fail(AE_EIO, "%s", strerror(EISDIR));
    if (S_ISREG(st.st_mode)) {
        if (st.st_size < 0 || (uint64_t)st.st_size > ae_read_limit()) return ae_read_too_large();
        *regular = 1;
        *size = (uint64_t)st.st_size;
    }
    return AE_OK;
}

int ae_read_file(const char *path, unsigned char **out, size_t *out_len) {
    FILE *f;
    int regular;
    uint64_t size;
    int rc = ae_read_open(path, &f, &regular, &size);
    if (!f) return rc;
    size_t limit = ae_read_limit(), len = 0;
    size_t cap = regular ? (size_t)size + 1 : 65536; /* +1: EOF shows up without growing the buffer */
    unsigned char *buf = rc == AE_OK ? ae_malloc(cap) : NULL;
    if (rc == AE_OK && !buf) rc = AE_ENOMEM;
    while (rc == AE_OK) { /* grows only when the file is not regular or changed meanwhile */
        if (len == cap && (rc = ae_grow(&buf, &cap, limit + 1)) != AE_OK) break;
        size_t want = cap - len, got = fread(buf + len, 1, want, f);
        len += got;
        if (got < want) {
            if (ferror(f)) rc = ae_io_error(); /* a directory lands here too (EISDIR) */
            break;
        }
    }
    if (rc == AE_EFORMAT && ae_last_error()[0] == '\0') rc = ae_read_too_large();
    if (rc == AE_OK && len > limit) rc = ae_read_too_large();
    if (fclose(f) != 0 && rc == AE_OK) rc = ae_io_error();
    if (rc != AE_OK) {
        ae_dealloc(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return AE_OK;
}

int ae_data_alloc(ae_data *d, size_t rows, size_t cols) {
    size_t n, bytes;
    if (!ae_mul_ok(rows, cols, &n) || !ae_mul_ok(n, sizeof(float), &bytes))
        return ae_fail(AE_EFORMAT, "%zu rows of %zu values overflow the address space", rows, cols);
    d->x = ae_alloc(bytes); /* 64-byte aligned, and seen by the allocation hook */
    if (!d->x) return AE_ENOMEM;
    d->rows = rows;
    d->cols = cols;
    return AE_OK;
}

int ae_with_path(int rc, const char *path) {
    if (rc == AE_OK || ae_last_error()[0] == '\0') return rc;
    char detail[512];
    snprintf(detail, sizeof detail, "%s", ae_last_error());
    return ae_fail(rc, "%s: %s", path, detail);
}
