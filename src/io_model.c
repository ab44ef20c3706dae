/* io_model: the model file, safetensors (github.com/huggingface/safetensors):
 *   8-byte little-endian header length N | N bytes of JSON (space-padded to 8) | raw F32 data,
 * little-endian on every host (byteorder.h): the CRC-32 is over those little-endian bytes.
 * The JSON names each tensor's dtype, shape and byte range; its __metadata__ (io_meta.c) holds
 * the config, the data section's CRC-32 and the rest, under a checksum of its own. Saving is
 * atomic: temporary file, fsync, rename. Loading checks everything before it trusts a byte. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "byteorder.h"
#include "error.h"
#include "io_file.h"
#include "io_meta.h"
#include "model.h"

#define AE_MAX_HEADER ((uint64_t)16 << 20) /* far above any real header (a few KiB) */

/* ---------------------------------------------------------------- save */

static void crc_sink(void *crc, const void *p, size_t n) { *(uLong *)crc = crc32_z(*(uLong *)crc, p, n); }

/* The JSON header (unpadded) for the model's tensors; NULL on allocation failure. */
static char *header_json(const ae_model *m, const ae_tensor_ref *t, size_t nt, int state) {
    uLong crc = crc32(0L, Z_NULL, 0);
    json_t *root = json_object();
    int ok = root != NULL;
    uint64_t off = 0;
    for (size_t i = 0; ok && i < nt; i++) {
        size_t count = t[i].rows * (t[i].cols ? t[i].cols : 1);
        uint64_t end = off + (uint64_t)count * sizeof(float);
        size_t dims[4], nd = ae_tensor_dims(&t[i], dims); /* 1-D, 2-D, or a conv weight's 4-D */
        json_t *shape = json_array();
        for (size_t d = 0; shape && d < nd; d++)
            if (json_array_append_new(shape, json_integer((json_int_t)dims[d])) != 0) {
                json_decref(shape);
                shape = NULL;
            }
        json_t *entry = shape ? json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets",
                                          (json_int_t)off, (json_int_t)end)
                              : NULL;
        ok = entry && json_object_set_new(root, t[i].name, entry) == 0;
        ae_f32_le_chunks(t[i].data, count, crc_sink, &crc); /* the file's bytes */
        off = end;
    }
    json_t *meta = ok ? ae_meta_json(m, state, (unsigned long)crc) : NULL;
    ok = meta && json_object_set_new(root, "__metadata__", meta) == 0; /* after the tensors */
    char *text = ok ? ae_json_dump(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}

/* The model file, with the training state when state is set. */
static int save_file(const ae_model *m, const char *path, int state) {
    ae_tensor_ref t[3 * AE_MAX_TENSORS];
    size_t nt = ae_model_tensors(m, t, state);
    ae_json_begin();
    char *json = header_json(m, t, nt, state);
    if (!json) return AE_ENOMEM;
    size_t len = strlen(json), padded = (len + 7) & ~(size_t)7;

    unsigned char n8[8];
    for (int i = 0; i < 8; i++) n8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    ae_atomic_file a;
    int rc = ae_atomic_open(&a, path);
    if (rc == AE_OK) {
        static const char spaces[8] = "        ";
        ae_atomic_write(&a, n8, 8);
        ae_atomic_write(&a, json, len);
        ae_atomic_write(&a, spaces, padded - len);
        for (size_t i = 0; i < nt; i++) ae_atomic_write_f32(&a, t[i].data, t[i].rows * (t[i].cols ? t[i].cols : 1));
        rc = ae_atomic_close(&a);
    }
    free(json);
    return rc;
}

int ae_save(const ae_model *m, const char *path) {
    ae_error_clear();
    if (!m || !path || !*path) return ae_fail(AE_EINVAL, "ae_save: needs a model and a path");
    return save_file(m, path, 0);
}

int ae_checkpoint_save(const ae_model *m, const char *path) {
    ae_error_clear();
    if (!m || !path || !*path) return ae_fail(AE_EINVAL, "ae_checkpoint_save: needs a model and a path");
    if (m->opt.n != m->n_params) return ae_fail(AE_EINVAL, "ae_checkpoint_save: the model has no training state");
    return save_file(m, path, 1);
}

/* ---------------------------------------------------------------- load */

typedef struct span {
    uint64_t begin, end;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Checks the header against the model built from its config and fills each tensor's span.
 * Spans must tile the data section exactly: no gap, no overlap, nothing out of range. */
static int check_tensors(json_t *root, const ae_tensor_ref *t, size_t nt, uint64_t data_len, span *spans) {
    if (json_object_size(root) != nt + 1) return 0; /* unknown or missing tensors */
    span sorted[3 * AE_MAX_TENSORS];
    for (size_t i = 0; i < nt; i++) {
        json_t *e = json_object_get(root, t[i].name);
        json_t *shape = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
        const char *dtype = json_string_value(json_object_get(e, "dtype"));
        size_t want[4], dims = ae_tensor_dims(&t[i], want);
        if (!json_is_object(e) || json_object_size(e) != 3 || !dtype || strcmp(dtype, "F32") != 0 ||
            !json_is_array(shape) || json_array_size(shape) != dims || !json_is_array(offs) ||
            json_array_size(offs) != 2)
            return 0;
        uint64_t r, b, en;
        for (size_t d = 0; d < dims; d++)
            if (!ae_json_size(json_array_get(shape, d), AE_MAX_WIDTH, &r) || r != want[d]) return 0;
        if (!ae_json_size(json_array_get(offs, 0), data_len, &b) ||
            !ae_json_size(json_array_get(offs, 1), data_len, &en))
            return 0;
        /* the shape is the model's own (each side <= 2^24, rows x cols <= 2^31 floats) */
        if (en < b || en - b != (uint64_t)t[i].rows * (t[i].cols ? t[i].cols : 1) * sizeof(float)) return 0;
        spans[i].begin = b;
        spans[i].end = en;
        sorted[i] = spans[i];
    }
    /* cppcheck-suppress uninitvar ; the loop above filled sorted[0 .. nt) */
    qsort(sorted, nt, sizeof *sorted, span_cmp);
    uint64_t pos = 0;
    for (size_t i = 0; i < nt; i++) {
        if (sorted[i].begin != pos) return 0;
        pos = sorted[i].end;
    }
    return pos == data_len;
}

/* Where a model file's bytes come from: an open file or a buffer in memory. */
typedef struct source {
    FILE *f;
    const unsigned char *buf;
    uint64_t size, pos;
} source;

/* Reads exactly n bytes. */
static int source_read(source *s, void *p, size_t n) {
    if (s->f) return fread(p, 1, n, s->f) == n;
    if (n > s->size - s->pos) return 0;
    memcpy(p, s->buf + s->pos, n);
    s->pos += n;
    return 1;
}

/* Why source_read failed: the system's reason for a file, a buffer shorter than it says. */
static int source_failure(const source *s) {
    char why[128];
    if (!s->f) return ae_fail(AE_EFORMAT, "the buffer ends before the header's data");
    if (ferror(s->f)) return ae_fail(AE_EIO, "read failed: %s", ae_sys_reason(errno, why, sizeof why));
    return ae_fail(AE_EIO, "the file ended early: it changed while it was read");
}

/* What a load holds, all freed on load_from's one cleanup path. */
typedef struct loading {
    char *header; /* the header's bytes */
    json_t *root; /* the header parsed */
    unsigned char *data; /* the data section */
    uint64_t data_len;
    ae_model *m; /* the model being filled */
} loading;

/* Reads the header length and the header, and parses it into a JSON object. */
static int read_header(source *src, loading *L) {
    unsigned char n8[8];
    const uint64_t file_size = src->size;
    uint64_t hlen = 0;
    if (file_size < 8 || !source_read(src, n8, 8))
        return ae_fail(AE_EFORMAT, "%llu bytes: too short for a model file", (unsigned long long)file_size);
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)n8[i] << (8 * i);
    if (hlen < 2 || hlen > AE_MAX_HEADER || hlen > file_size - 8)
        return ae_fail(AE_EFORMAT, "header length %llu does not fit the file's %llu bytes (or the 16 MiB cap)",
                       (unsigned long long)hlen, (unsigned long long)file_size);
    if (!(L->header = ae_malloc((size_t)hlen))) return AE_ENOMEM;
    if (!source_read(src, L->header, (size_t)hlen)) return source_failure(src);
    L->root = json_loadb(L->header, (size_t)hlen, JSON_REJECT_DUPLICATES, NULL);
    if (!L->root || ae_json_alloc_failed()) /* jansson may drop characters on a failed allocation */
        return ae_json_alloc_failed() ? AE_ENOMEM : ae_fail(AE_EFORMAT, "the header is not JSON (or repeats a key)");
    L->data_len = file_size - 8 - hlen;
    return json_is_object(L->root) ? AE_OK : AE_EFORMAT;
}

/* Builds the model the metadata describes (head, scaler, threshold, training state), once the
 * data section's size fits it. */
static int build_model(const ae_meta *meta, loading *L) {
    const ae_config *cfg = &meta->cfg;
    /* The config is valid. Before sizing the model, its weights (once, or with one or two
     * moments in a checkpoint) and its head's must be what the file holds: a small file cannot
     * make a huge model be allocated. check_tensors verifies every tensor exactly afterwards. */
    const uint64_t data_len = L->data_len, weights = (uint64_t)ae_config_param_count(cfg) * sizeof(float);
    const uint64_t head_bytes = (uint64_t)meta->head_outputs * (cfg->code_dim + 1) * sizeof(float); /* < 2^51 */
    const uint64_t scale_bytes =
        meta->scale_applied != AE_SCALE_NONE ? 2 * (uint64_t)cfg->input_dim * sizeof(float) : 0;
    const uint64_t other = head_bytes + scale_bytes + (uint64_t)ae_config_state_count(cfg) * sizeof(float);
    const uint64_t ae_len = data_len - other;
    if (weights == 0 || data_len < other || ae_len % weights != 0 || ae_len / weights < 1 || ae_len / weights > 3)
        return ae_fail(AE_EFORMAT, "%llu bytes of data do not fit the config's %llu bytes of weights",
                       (unsigned long long)data_len, (unsigned long long)weights);
    int rc = ae_model_new(&L->m, cfg, 0);
    if (rc == AE_OK && meta->head_outputs) rc = ae_head_alloc(L->m, meta->head_kind, meta->head_outputs);
    if (rc == AE_OK && meta->scale_applied != AE_SCALE_NONE)
        rc = ae_scaler_alloc(&L->m->scaler, meta->scale_applied, cfg->input_dim);
    if (rc == AE_OK && meta->scale_applied == AE_SCALE_NONE && meta->scale_fitted) ae_scaler_identity(&L->m->scaler);
    if (rc != AE_OK) return rc == AE_ENOMEM ? AE_ENOMEM : AE_EFORMAT;
    L->m->threshold = meta->threshold;
    /* a checkpoint: size the optimizer state its tensors will fill */
    return ae_meta_state_apply(meta, L->root, L->m);
}

/* Checks the tensors against the model, reads the data section, checks its CRC-32 and copies
 * it into the model, whose every value must then be finite (and in range). */
static int read_tensors(source *src, const ae_meta *meta, loading *L) {
    ae_model *m = L->m;
    ae_tensor_ref t[3 * AE_MAX_TENSORS];
    span spans[3 * AE_MAX_TENSORS];
    size_t nt = ae_model_tensors(m, t, meta->checkpoint != NULL);
    if (!check_tensors(L->root, t, nt, L->data_len, spans))
        return ae_fail(AE_EFORMAT, "the tensors (names, F32 dtype, shapes, offsets) are not the config's");
    if (!(L->data = ae_malloc((size_t)L->data_len))) return AE_ENOMEM;
    if (!source_read(src, L->data, (size_t)L->data_len)) return source_failure(src);
    if (crc32_z(crc32(0L, Z_NULL, 0), L->data, (size_t)L->data_len) != meta->data_crc)
        return ae_fail(AE_EFORMAT, "data checksum mismatch: the weights were changed or damaged");
    for (size_t i = 0; i < nt; i++) /* checked as stored, then into the host's order */
        ae_le_copy(t[i].data, L->data + spans[i].begin, (size_t)(spans[i].end - spans[i].begin) / sizeof(float),
                   sizeof(float));
    if (!ae_all_finite(m->params, m->n_params) || !ae_all_finite(m->head.params, m->head.n) || !ae_model_state_ok(m) ||
        !ae_meta_scaler_ok(&m->scaler) || (m->opt.m && !ae_all_finite(m->opt.m, m->n_params)) ||
        (m->opt.v && !ae_all_finite(m->opt.v, m->n_params)))
        return ae_fail(AE_EFORMAT, "a weight, statistic or optimizer moment is NaN or infinite");
    return AE_OK;
}

/* A model from src: header, metadata, model, tensors, each checked before the next is read. */
static int load_from(source *src, ae_model **out) {
    ae_json_begin(); /* clears the failure flag a previous call may have left */
    loading L = {0};
    ae_meta meta;
    int rc = read_header(src, &L);
    if (rc == AE_OK) rc = ae_meta_read(L.root, &meta);
    if (rc == AE_OK) rc = build_model(&meta, &L);
    if (rc == AE_OK) rc = read_tensors(src, &meta, &L);
    /* Any verdict reached after an allocation of jansson's failed (json_unpack's strict mode
     * allocates too) is not to be trusted: report the allocation. */
    if ((rc == AE_OK || rc == AE_EFORMAT) && ae_json_alloc_failed()) rc = ae_fail(AE_ENOMEM, "out of memory");
    if (rc == AE_OK) {
        *out = L.m;
        L.m = NULL;
    }
    if (rc == AE_EFORMAT && !*ae_last_error()) ae_fail(rc, "the header is not a libae model's");
    ae_free(L.m);
    ae_dealloc(L.data);
    json_decref(L.root);
    ae_dealloc(L.header);
    return rc;
}

int ae_load(ae_model **out, const char *path) {
    ae_error_clear();
    if (!out) return AE_EINVAL;
    *out = NULL;
    if (!path || !*path) return ae_fail(AE_EINVAL, "ae_load: no path given");
    char why[128];
    FILE *f = fopen(path, "rb");
    if (!f) return ae_fail(AE_EIO, "%s: %s", path, ae_sys_reason(errno, why, sizeof why));
    struct stat st;
    int rc;
    if (fstat(fileno(f), &st) != 0) {
        rc = ae_fail(AE_EIO, "%s: %s", path, ae_sys_reason(errno, why, sizeof why));
    } else if (!S_ISREG(st.st_mode)) {
        rc = ae_fail(AE_EIO, "%s: %s", path,
                     S_ISDIR(st.st_mode) ? ae_sys_reason(EISDIR, why, sizeof why) : "not a regular file");
    } else {
        source src = {f, NULL, (uint64_t)st.st_size, 0};
        rc = load_from(&src, out);
    }
    fclose(f);
    return rc;
}

int ae_checkpoint_load(ae_model **out, const char *path) {
    int rc = ae_load(out, path);
    if (rc == AE_OK && (*out)->opt.n == 0) { /* a plain model file: no state to resume */
        ae_free(*out);
        *out = NULL;
        rc = ae_fail(AE_EFORMAT, "%s is a model file without training state, not a checkpoint", path);
    }
    return rc;
}

int ae_load_buffer(ae_model **out, const void *buf, size_t len) {
    ae_error_clear();
    if (!out) return AE_EINVAL;
    *out = NULL;
    if (!buf) return AE_EINVAL;
    source src = {NULL, buf, len, 0};
    return load_from(&src, out);
}
