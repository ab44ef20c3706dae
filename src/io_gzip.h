/* io_gzip: a data file read front to back as a stream of bytes (ae_stream), plain or gzip
 * (inflated as it is read, concatenated members allowed, as `cat a.gz b.gz` makes), and a
 * whole gzip buffer inflated into memory (ae_gunzip) by the same stream: one inflate loop
 * for both. zlib allocates through ae_malloc (and so through the test hook). */
#ifndef AE_IO_GZIP_H
#define AE_IO_GZIP_H

#ifndef ZLIB_CONST
#define ZLIB_CONST /* const next_in */
#endif
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

#include "tensor.h"

/* The stream's buffers are this big: a multiple of every value size. */
#define AE_CHUNK ((size_t)1 << 16)

typedef struct {
    FILE *f; /* NULL: a gzip buffer in memory (mem) */
    const unsigned char *mem; /* the buffer's bytes: mem_len of them */
    size_t mem_len;
    int gz; /* the bytes come from inflate */
    int z_ready; /* inflateInit2 succeeded: inflateEnd is owed */
    int in_eof; /* all the input has been handed to zlib's input */
    int ended; /* gzip: the last member ended at the end of the input */
    int regular; /* a regular file: size known, fseeko works */
    uint64_t size; /* the file's size, when regular */
    uint64_t in_total; /* compressed bytes read from the file so far */
    uint64_t out_total; /* bytes inflated so far */
    unsigned char *in; /* gzip file: AE_CHUNK bytes of compressed input */
    z_stream zs;
} ae_stream;

/* Opens path (a folder, or a regular file over ae_read_limit(), is refused). Up to two bytes
 * are read to tell gzip from the rest; for a plain file they are its first bytes
 * (peek[0..*npeek)), for a gzip file they went to inflate (*npeek = 0). ae_stream_close is
 * owed whatever this returns. */
AE_HIDDEN int ae_stream_open(ae_stream *s, const char *path, unsigned char peek[2], size_t *npeek);
/* Ends inflate, frees, closes the file (a failed fclose is AE_EIO) and zeroes s. */
AE_HIDDEN int ae_stream_close(ae_stream *s);
/* Up to n of the next bytes into dst; *got < n only at the end of the data. A gzip stream
 * that is cut short or damaged is AE_EFORMAT (what inflate has checked: the members passed). */
AE_HIDDEN int ae_stream_read(ae_stream *s, unsigned char *dst, size_t n, size_t *got);
/* Exactly n bytes: data that ends first is AE_EFORMAT. */
AE_HIDDEN int ae_stream_need(ae_stream *s, unsigned char *dst, size_t n);
/* Past the next n bytes: fseeko in a plain regular file (whose size was checked), otherwise
 * read into buf (AE_CHUNK bytes) and dropped. */
AE_HIDDEN int ae_stream_skip(ae_stream *s, size_t n, unsigned char *buf);

/* Inflates a whole gzip buffer (one or more members) into a new buffer. Truncated streams,
 * bad data and junk after a member are AE_EFORMAT, as is text beyond text_limit bytes. An IDX
 * or .npy stream stops one byte past what its header declares (the parser then refuses it):
 * ae_layout_inflate_cap. */
AE_HIDDEN int ae_gunzip(const unsigned char *in, size_t len, size_t text_limit, unsigned char **out, size_t *out_len);

#endif
