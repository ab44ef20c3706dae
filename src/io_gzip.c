/* io_gzip: see io_gzip.h. gz_inflate is the one inflate loop: ae_stream_read runs it over a
 * gzip file, AE_CHUNK compressed bytes fed at a time, and ae_gunzip over a buffer in memory,
 * growing its output between calls. It stops at the end of each member so that ae_gunzip can
 * size its cap from the bytes inflated so far, as it could after every inflate call before
 * the two paths were one. A buffer's messages carry counts a file's cannot know (the junk's
 * size, the bytes inflated): each keeps the message it always had. */
#define _POSIX_C_SOURCE 200809L
#include "io_gzip.h"

#include <limits.h>
#include <string.h>
#include <sys/types.h>

#include "error.h"
#include "io_binary.h"
#include "io_file.h"

/* What an inflate() status other than Z_STREAM_END means: AE_OK to go on (Z_OK, or Z_BUF_ERROR:
 * no progress possible this call), AE_ENOMEM, or AE_EFORMAT (Z_DATA_ERROR, Z_NEED_DICT, ...). */
static int inflate_status(int z, const z_stream *zs) {
    if (z == Z_OK || z == Z_BUF_ERROR) return AE_OK;
    if (z == Z_MEM_ERROR) return AE_ENOMEM;
    return ae_fail(AE_EFORMAT, "gzip data damaged (zlib: %s)", zs->msg ? zs->msg : "error");
}

/* zlib's allocations go through the library's allocator too (and so through the test hook). */
static voidpf zalloc_hook(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    size_t bytes;
    return ae_mul_ok(items, size, &bytes) ? ae_malloc(bytes) : Z_NULL;
}

static void zfree_hook(voidpf opaque, voidpf p) {
    (void)opaque;
    ae_dealloc(p);
}

static int gz_start(ae_stream *s) {
    s->gz = 1;
    s->zs.zalloc = zalloc_hook;
    s->zs.zfree = zfree_hook;
    int z = inflateInit2(&s->zs, 16 + MAX_WBITS); /* 16: gzip wrapper only */
    if (z != Z_OK) return z == Z_MEM_ERROR ? AE_ENOMEM : ae_fail(AE_EFORMAT, "zlib cannot start inflating");
    s->z_ready = 1;
    return AE_OK;
}

/* More compressed input behind what inflate has not taken yet (at the end: none). A buffer
 * is handed over in place, at most UINT_MAX bytes at a time (avail_in is 32-bit). */
static int feed(ae_stream *s) {
    if (s->in_eof) return AE_OK;
    if (!s->f) {
        size_t left = s->mem_len - (size_t)(s->zs.next_in - s->mem);
        s->zs.avail_in = (uInt)(left < UINT_MAX ? left : UINT_MAX);
        s->in_eof = left <= UINT_MAX;
        return AE_OK;
    }
    size_t left = s->zs.avail_in;
    if (left > 0 && s->zs.next_in != s->in) memmove(s->in, s->zs.next_in, left);
    size_t want = AE_CHUNK - left, got = fread(s->in + left, 1, want, s->f);
    if (got < want) {
        if (ferror(s->f)) return ae_io_error();
        s->in_eof = 1;
    }
    s->in_total += got;
    if (s->in_total > ae_read_limit()) return ae_read_too_large(); /* a file not regular */
    s->zs.next_in = s->in;
    s->zs.avail_in = (uInt)(left + got);
    return AE_OK;
}

/* A gzip member ended: the input ends here, another member follows (as `cat a.gz b.gz`
 * makes), or anything else does (AE_EFORMAT). */
static int member_end(ae_stream *s) {
    if (s->zs.avail_in < 2) {
        int rc = feed(s);
        if (rc != AE_OK) return rc;
    }
    if (s->zs.avail_in == 0) {
        s->ended = 1;
        return AE_OK;
    }
    if (s->zs.avail_in >= 2 && s->zs.next_in[0] == 0x1f && s->zs.next_in[1] == 0x8b && inflateReset(&s->zs) == Z_OK)
        return AE_OK;
    if (!s->f)
        return ae_fail(AE_EFORMAT, "%zu bytes of junk after the gzip stream",
                       s->mem_len - (size_t)(s->zs.next_in - s->mem));
    return ae_fail(AE_EFORMAT, "junk after the gzip stream");
}

/* Inflates up to n bytes into dst: stops when they are there, when the input ends, or when a
 * member ends (*got may then be less than n without s->ended). */
static int gz_inflate(ae_stream *s, unsigned char *dst, size_t n, size_t *got) {
    size_t done = 0;
    int rc = AE_OK;
    while (done < n && !s->ended) {
        if (s->zs.avail_in == 0 && (rc = feed(s)) != AE_OK) break;
        /* avail_in and avail_out are 32-bit: ask for at most UINT_MAX at a time. */
        uInt ain = s->zs.avail_in, aout = (uInt)(n - done < UINT_MAX ? n - done : UINT_MAX);
        s->zs.next_out = dst + done;
        s->zs.avail_out = aout;
        int z = inflate(&s->zs, Z_NO_FLUSH);
        int progress = s->zs.avail_in != ain || s->zs.avail_out != aout;
        done += aout - s->zs.avail_out;
        s->out_total += aout - s->zs.avail_out;
        if (z == Z_STREAM_END) {
            rc = member_end(s);
            break;
        }
        if ((rc = inflate_status(z, &s->zs)) != AE_OK) break;
        /* No progress with input left, or none left at all: the stream was cut short. */
        if (!progress && (s->zs.avail_in > 0 || s->in_eof)) {
            rc = s->f ? ae_fail(AE_EFORMAT, "gzip stream cut short")
                      : ae_fail(AE_EFORMAT, "gzip stream cut short after %zu inflated bytes", (size_t)s->out_total);
            break;
        }
    }
    *got = done;
    return rc;
}

/* ---------------------------------------------------------------- a file */

int ae_stream_open(ae_stream *s, const char *path, unsigned char peek[2], size_t *npeek) {
    memset(s, 0, sizeof *s);
    *npeek = 0;
    int rc = ae_read_open(path, &s->f, &s->regular, &s->size);
    if (rc != AE_OK) return rc;
    size_t got = fread(peek, 1, 2, s->f);
    if (got < 2 && ferror(s->f)) return ae_io_error(); /* a directory lands here too (EISDIR) */
    s->in_total = got;
    if (got < 2 || peek[0] != 0x1f || peek[1] != 0x8b) {
        *npeek = got;
        return AE_OK;
    }
    s->gz = 1;
    s->in = ae_malloc(AE_CHUNK);
    if (!s->in) return AE_ENOMEM;
    if ((rc = gz_start(s)) != AE_OK) return rc;
    memcpy(s->in, peek, 2);
    s->zs.next_in = s->in;
    s->zs.avail_in = 2;
    return AE_OK;
}

int ae_stream_close(ae_stream *s) {
    int rc = AE_OK;
    if (s->z_ready) inflateEnd(&s->zs);
    ae_dealloc(s->in);
    if (s->f && fclose(s->f) != 0) rc = ae_io_error();
    memset(s, 0, sizeof *s);
    return rc;
}

int ae_stream_read(ae_stream *s, unsigned char *dst, size_t n, size_t *got) {
    *got = 0;
    if (!s->gz) {
        *got = fread(dst, 1, n, s->f);
        return *got < n && ferror(s->f) ? ae_io_error() : AE_OK;
    }
    int rc = AE_OK;
    while (rc == AE_OK && *got < n && !s->ended) { /* a member at a time */
        size_t k;
        rc = gz_inflate(s, dst + *got, n - *got, &k);
        *got += k;
    }
    return rc;
}

int ae_stream_need(ae_stream *s, unsigned char *dst, size_t n) {
    size_t got;
    int rc = ae_stream_read(s, dst, n, &got);
    return rc == AE_OK && got < n ? ae_fail(AE_EFORMAT, "the file ends before the data its header declares") : rc;
}

int ae_stream_skip(ae_stream *s, size_t n, unsigned char *buf) {
    if (!s->gz && s->regular) {
        off_t o = (off_t)n;
        if (o >= 0 && (uint64_t)o == (uint64_t)n) return fseeko(s->f, o, SEEK_CUR) == 0 ? AE_OK : ae_io_error();
    }
    while (n > 0) {
        size_t k = n < AE_CHUNK ? n : AE_CHUNK;
        int rc = ae_stream_need(s, buf, k);
        if (rc != AE_OK) return rc;
        n -= k;
    }
    return AE_OK;
}

/* ---------------------------------------------------------------- a buffer */

int ae_gunzip(const unsigned char *in, size_t len, size_t text_limit, unsigned char **out, size_t *out_len) {
    size_t cap_max = ae_read_limit(), allow = cap_max, used = 0;
    int decided = 0, by_header = 0;
    size_t cap = len <= cap_max / 4 ? len * 4 : cap_max;
    if (cap < 4096) cap = 4096;
    unsigned char *buf = ae_malloc(cap);
    if (!buf) return AE_ENOMEM;
    ae_stream s;
    memset(&s, 0, sizeof s);
    s.mem = in;
    s.mem_len = len;
    s.zs.next_in = in;
    int rc = gz_start(&s);
    while (rc == AE_OK && !s.ended) {
        if (!decided) decided = ae_layout_inflate_cap(buf, used, text_limit, &allow, &by_header);
        if (used >= allow) {
            if (!by_header)
                rc = ae_fail(AE_EFORMAT,
                             "inflates past %zu bytes, the limit for gzip'd text (raise it with "
                             "ae_data_set_max_inflate or ae's --max-inflate)",
                             allow);
            break;
        }
        if (used == cap && (rc = ae_grow(&buf, &cap, allow)) != AE_OK) break;
        size_t got;
        rc = gz_inflate(&s, buf + used, (cap < allow ? cap : allow) - used, &got);
        used += got;
    }
    ae_stream_close(&s); /* no file: nothing to fail */
    if (rc != AE_OK) {
        ae_dealloc(buf);
        return rc;
    }
    *out = buf;
    *out_len = used;
    return AE_OK;
}
