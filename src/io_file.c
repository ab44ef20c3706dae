#define _POSIX_C_SOURCE 200809L
#include "io_file.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ae_write_hook_fn g_write_hook;
static void *g_write_user;

void ae_set_write_hook(ae_write_hook_fn hook, void *user) {
    g_write_hook = hook;
    g_write_user = user;
}

int ae_atomic_open(ae_atomic_file *a, const char *path) {
    memset(a, 0, sizeof *a);
    size_t len = strlen(path);
    if (!(a->tmp = ae_malloc(len + 12))) return AE_ENOMEM;
    memcpy(a->tmp, path, len);
    /* path + ".tmp." + six X's, which mkstemp replaces with a unique name */
    memcpy(a->tmp + len, ".tmp.", 5);
    memset(a->tmp + len + 5, 'X', 6);
    a->tmp[len + 11] = '\0';
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        ae_dealloc(a->tmp);
        a->tmp = NULL;
        return AE_EIO;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; these files are for sharing */
    if (!(a->f = fdopen(fd, "wb"))) {
        close(fd);
        unlink(a->tmp);
        ae_dealloc(a->tmp);
        a->tmp = NULL;
        return AE_EIO;
    }
    a->path = path;
    a->ok = 1;
    return AE_OK;
}

void ae_atomic_write(ae_atomic_file *a, const void *p, size_t n) {
    if (!a->ok || n == 0) return;
    size_t allowed = g_write_hook ? g_write_hook(a->written, n, g_write_user) : n;
    if (allowed > n) allowed = n;
    size_t done = fwrite(p, 1, allowed, a->f);
    a->written += done;
    if (done != n) a->ok = 0;
}

int ae_atomic_close(ae_atomic_file *a) {
    int ok = a->ok && fflush(a->f) == 0 && fsync(fileno(a->f)) == 0;
    if (fclose(a->f) != 0) ok = 0;
    ok = ok && rename(a->tmp, a->path) == 0;
    if (!ok) unlink(a->tmp);
    ae_dealloc(a->tmp);
    memset(a, 0, sizeof *a);
    return ok ? AE_OK : AE_EIO;
}
