/* io_model: the model file, safetensors (github.com/huggingface/safetensors):
 *   8-byte little-endian header length N | N bytes of JSON (space-padded to 8) | raw F32 data.
 * __metadata__ holds format=libae, format_version, the config as a JSON string, the CRC-32 of
 * the data section, and metadata_crc32: the CRC-32 of every other metadata key and value
 * (threshold, head, scaling, training state, config, and any key added later), so that no
 * byte which changes a result goes unchecked. Saving is atomic: temporary file, fsync, rename. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "error.h"
#include "io_conv.h"
#include "io_file.h"
#include "model.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the model file stores little-endian floats; this host is big-endian"
#endif

#define AE_FORMAT_VERSION "1"
#define AE_MAX_HEADER ((uint64_t)16 << 20) /* far above any real header (a few KiB) */
#define META_CRC_KEY "metadata_crc32"
#define AE_MAX_META_KEYS 256 /* far above the eight keys written today */

static int act_from_name(const char *s, ae_activation *out) { return ae_activation_parse(s, out) == AE_OK; }

/* ---------------------------------------------------------------- save */

static json_t *config_json(const ae_config *c) {
    json_t *hidden = json_array();
    for (size_t i = 0; hidden && i < c->n_hidden; i++)
        if (json_array_append_new(hidden, json_integer((json_int_t)c->hidden[i])) != 0) {
            json_decref(hidden);
            return NULL;
        }
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    /* "o" steals the array reference (and releases it if the pack fails). */
    json_t *j = json_pack("{s:I, s:I, s:o, s:I, s:s, s:s, s:s, s:i, s:i, s:s}", "input_dim",
                          (json_int_t)c->input_dim, "n_hidden", (json_int_t)c->n_hidden, "hidden", hidden,
                          "code_dim", (json_int_t)c->code_dim, "hidden_act", ae_activation_name(c->hidden_act),
                          "code_act", ae_activation_name(c->code_act), "output_act",
                          ae_activation_name(c->output_act), "tied_weights", c->tied_weights, "variational",
                          c->variational, "seed", seed);
    /* Written only when set, so that a model without it is the file it always was. */
    if (j && ((c->batch_norm && json_object_set_new(j, "batch_norm", json_integer(c->batch_norm)) != 0) ||
              ae_conv_config_to_json(c, j) != 0)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* jansson allocates through the library's allocator (and so the test hook), and a failure is
 * remembered: jansson 2.14 reports some failed allocations as syntax errors, or with no error
 * code, so its error cannot tell "out of memory" from "malformed". The functions are plain
 * malloc/free underneath, so a program that uses jansson itself sees no difference. */
static _Thread_local int json_alloc_failed;

static void *json_alloc(size_t n) {
    void *p = ae_malloc(n ? n : 1);
    if (!p) json_alloc_failed = 1;
    return p;
}

static pthread_once_t json_once = PTHREAD_ONCE_INIT;
static void json_install(void) { json_set_alloc_funcs(json_alloc, ae_dealloc); }

/* Call before any jansson work: installs the allocator once and clears the failure flag. */
static void json_begin(void) {
    pthread_once(&json_once, json_install);
    json_alloc_failed = 0;
}

/* json_dumps, checked: jansson 2.14 ignores a failed allocation while dumping an object key and
 * returns a header with the key missing, and its lexer drops characters it could not store
 * (both found by the fault walk in tests/test_faults.c). So any failed allocation fails the
 * dump, and the text must parse back to the same value. NULL when either check fails. */
static char *dump_checked(const json_t *j, size_t flags) {
    char *text = json_dumps(j, flags);
    json_t *back = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (text && (json_alloc_failed || !(back && json_equal(back, j)))) {
        free(text);
        text = NULL;
    }
    json_decref(back);
    return text;
}

/* The JSON header (unpadded) for the model's tensors; NULL on allocation failure. */
static const char *opt_names[] = {"sgd", "adam", "adamw"};

/* The training state's metadata: the optimizer, its step, epochs done and the RNG. */
static json_t *state_json(const ae_model *m) {
    char step[24], rs[24], ri[24];
    snprintf(step, sizeof step, "%ld", m->opt.step);
    snprintf(rs, sizeof rs, "%llu", (unsigned long long)m->rng.state);
    snprintf(ri, sizeof ri, "%llu", (unsigned long long)m->rng.inc);
    return json_pack("{s:s, s:s, s:i, s:s, s:s}", "optimizer", opt_names[m->opt.kind], "step", step,
                     "epochs_done", m->epochs_done, "rng_state", rs, "rng_inc", ri);
}

static const char *head_names[] = {"softmax", "linear"};
static const char *threshold_names[] = {"none", "quantile", "mean_std", "manual", "contamination"};
static const char *scaling_names[] = {"auto", "none", "minmax", "zscore"};

/* Metadata "scaling": the mode asked for (the config's), whether it was fitted, and the mode
 * it resolved to; the statistics are the tensors scaling.offset and scaling.scale. */
static json_t *scaling_json(const ae_model *m) {
    return json_pack("{s:s, s:i, s:s}", "requested", scaling_names[m->cfg.scaling], "fitted", m->scaler.fitted,
                     "applied", scaling_names[m->scaler.fitted ? m->scaler.applied : AE_SCALE_NONE]);
}

/* Metadata "head": the supervised head's kind and width. */
static json_t *head_json(const ae_model *m) {
    return json_pack("{s:s, s:I}", "kind", head_names[m->head.kind], "outputs", (json_int_t)m->head.outputs);
}

/* Metadata "anomaly": the threshold, its method and parameter (JSON reals: exact round trip). */
static json_t *threshold_json(const ae_model *m) {
    return json_pack("{s:s, s:f, s:f}", "method", threshold_names[m->threshold.method], "param",
                     m->threshold.param, "threshold", (double)m->threshold.value);
}

/* Adds metadata key -> the compact text of j (safetensors metadata values are strings);
 * consumes j. 0 on failure. */
static int set_json_string(json_t *meta, const char *key, json_t *j) {
    char *text = j ? dump_checked(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int ok = text && json_object_set_new(meta, key, json_string(text)) == 0;
    free(text);
    json_decref(j);
    return ok;
}

/* The CRC-32 of the metadata's canonical text: every key but META_CRC_KEY in byte order, each
 * as key NUL value NUL. Generic over the keys, so that a key added later is covered too.
 * 0 when a value is not a string (safetensors metadata is strings only) or there are too many
 * keys. Sorted by selection, without allocating: at most AE_MAX_META_KEYS keys. */
static int metadata_crc(json_t *meta, uLong *out) {
    if (json_object_size(meta) > AE_MAX_META_KEYS) return 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    const char *prev = NULL;
    for (;;) {
        const char *next = NULL, *key;
        json_t *v, *next_v = NULL;
        json_object_foreach(meta, key, v) {
            if (strcmp(key, META_CRC_KEY) == 0 || (prev && strcmp(key, prev) <= 0)) continue;
            if (!next || strcmp(key, next) < 0) {
                next = key;
                next_v = v;
            }
        }
        if (!next) break;
        if (!json_is_string(next_v)) return 0;
        const char *value = json_string_value(next_v);
        crc = crc32_z(crc, (const Bytef *)next, strlen(next) + 1);
        crc = crc32_z(crc, (const Bytef *)value, strlen(value) + 1);
        prev = next;
    }
    *out = crc;
    return 1;
}

/* Adds META_CRC_KEY to the finished metadata. 0 on failure. */
static int seal_metadata(json_t *meta) {
    uLong crc;
    char text[16];
    if (!metadata_crc(meta, &crc)) return 0;
    snprintf(text, sizeof text, "%08lx", (unsigned long)crc);
    return json_object_set_new(meta, META_CRC_KEY, json_string(text)) == 0;
}

/* Eight lowercase or uppercase hex digits. */
static int parse_crc(const char *text, unsigned long *out) {
    char *end = NULL;
    if (!text || strlen(text) != 8 || text[0] == '-' || text[0] == '+' || text[0] == ' ') return 0;
    *out = strtoul(text, &end, 16);
    return *end == '\0';
}

/* The metadata keys of files written before META_CRC_KEY existed. */
static int known_before_crc(const char *key) {
    static const char *const known[] = {"format", "format_version", "config", "crc32",
                                        "checkpoint", "head", "anomaly", "scaling"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(key, known[i]) == 0) return 1;
    return 0;
}

/* Checks META_CRC_KEY against the metadata; a file without it (from before) may hold only the
 * keys such files held, so that a damaged key name cannot pass for an old file's. */
static int check_metadata(json_t *meta) {
    json_t *sealed = json_object_get(meta, META_CRC_KEY);
    if (!sealed) {
        const char *key;
        json_t *v;
        json_object_foreach(meta, key, v) {
            if (!known_before_crc(key))
                return ae_fail(AE_EFORMAT, "metadata key '%s' is unknown and no %s covers it", key, META_CRC_KEY);
        }
        return AE_OK;
    }
    unsigned long want;
    uLong got;
    if (!parse_crc(json_string_value(sealed), &want)) return ae_fail(AE_EFORMAT, "%s is not 8 hex digits", META_CRC_KEY);
    if (!metadata_crc(meta, &got)) return ae_fail(AE_EFORMAT, "metadata: a value that is not a string, or over %d keys", AE_MAX_META_KEYS);
    if (got != want)
        return ae_fail(AE_EFORMAT, "metadata checksum mismatch (%s %08lx, computed %08lx): the header was changed or damaged",
                       META_CRC_KEY, want, (unsigned long)got);
    return AE_OK;
}

static char *header_json(const ae_model *m, const ae_tensor_ref *t, size_t nt, int state) {
    uLong crc = crc32(0L, Z_NULL, 0);
    json_t *root = json_object(), *meta = json_object();
    json_t *cfg = config_json(&m->cfg);
    char *cfg_text = cfg ? dump_checked(cfg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int ok = root && meta && cfg_text;
    uint64_t off = 0;
    for (size_t i = 0; ok && i < nt; i++) {
        size_t count = t[i].rows * (t[i].cols ? t[i].cols : 1);
        uint64_t end = off + (uint64_t)count * sizeof(float);
        size_t dims[4], nd = ae_tensor_dims(&t[i], dims);
        json_t *shape = json_array();
        for (size_t d = 0; shape && d < nd; d++)
            if (json_array_append_new(shape, json_integer((json_int_t)dims[d])) != 0) {
                json_decref(shape);
                shape = NULL;
            }
        json_t *entry = shape ? json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
                                          "data_offsets", (json_int_t)off, (json_int_t)end)
                              : NULL;
        ok = entry && json_object_set_new(root, t[i].name, entry) == 0;
        crc = crc32_z(crc, (const Bytef *)t[i].data, count * sizeof(float));
        off = end;
    }
    char crc_text[16];
    snprintf(crc_text, sizeof crc_text, "%08lx", (unsigned long)crc);
    ok = ok && json_object_set_new(meta, "format", json_string("libae")) == 0 &&
         json_object_set_new(meta, "format_version", json_string(AE_FORMAT_VERSION)) == 0 &&
         json_object_set_new(meta, "config", json_string(cfg_text)) == 0 &&
         json_object_set_new(meta, "crc32", json_string(crc_text)) == 0 &&
         json_object_set(root, "__metadata__", meta) == 0;
    if (ok && state) ok = set_json_string(meta, "checkpoint", state_json(m));
    if (ok && m->head.outputs) ok = set_json_string(meta, "head", head_json(m));
    if (ok && m->threshold.method != AE_THRESHOLD_NONE) ok = set_json_string(meta, "anomaly", threshold_json(m));
    if (ok) ok = set_json_string(meta, "scaling", scaling_json(m));
    if (ok) ok = seal_metadata(meta); /* last: it covers every key above */
    char *text = ok ? dump_checked(root, JSON_COMPACT) : NULL;
    free(cfg_text); /* jansson's strings go back to its own free */
    json_decref(cfg);
    json_decref(meta);
    json_decref(root);
    return text;
}


/* The model file, with the training state when state is set. */
static int save_file(const ae_model *m, const char *path, int state) {
    ae_tensor_ref t[3 * AE_MAX_TENSORS];
    size_t nt = ae_model_tensors(m, t, state);
    json_begin();
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
        for (size_t i = 0; i < nt; i++)
            ae_atomic_write(&a, t[i].data, t[i].rows * (t[i].cols ? t[i].cols : 1) * sizeof(float));
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


/* A non-negative JSON integer no larger than max. */
static int get_size(json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return *out <= max;
}

/* AE_ENOMEM when jansson ran out of memory during the parse, else AE_EFORMAT. */
static int parse_failure(void) { return json_alloc_failed ? AE_ENOMEM : AE_EFORMAT; }

/* The config from its JSON text: AE_OK, AE_EFORMAT (malformed or out of range) or AE_ENOMEM. */
static int config_from_json(const char *text, ae_config *c) {
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!j || json_alloc_failed) {
        json_decref(j);
        return parse_failure();
    }
    json_t *hidden = NULL, *shape = NULL, *conv = NULL;
    const char *ha, *ca, *oa, *seed;
    json_int_t din, nh, k;
    int tied, vae, bn = 0;
    int ok = j && json_unpack(j, "{s:I, s:I, s:o, s:I, s:s, s:s, s:s, s:i, s:i, s:s, s?i, s?o, s?o !}", "input_dim",
                              &din, "n_hidden", &nh, "hidden", &hidden, "code_dim", &k, "hidden_act", &ha,
                              "code_act", &ca, "output_act", &oa, "tied_weights", &tied, "variational",
                              &vae, "seed", &seed, "batch_norm", &bn, "input_shape", &shape, "conv", &conv) == 0;
    *c = ae_config_default();
    ok = ok && ae_conv_config_from_json(shape, conv, c);
    ok = ok && din > 0 && k > 0 && nh >= 0 && nh <= AE_MAX_HIDDEN && json_is_array(hidden) &&
         json_array_size(hidden) == (size_t)nh;
    if (ok) {
        c->input_dim = (size_t)din;
        c->code_dim = (size_t)k;
        c->n_hidden = (size_t)nh;
        c->tied_weights = tied;
        c->variational = vae;
        c->batch_norm = bn;
        for (size_t i = 0; ok && i < c->n_hidden; i++) {
            json_t *h = json_array_get(hidden, i);
            ok = json_is_integer(h) && json_integer_value(h) > 0;
            if (ok) c->hidden[i] = (size_t)json_integer_value(h);
        }
        ok = ok && act_from_name(ha, &c->hidden_act) && act_from_name(ca, &c->code_act) &&
             act_from_name(oa, &c->output_act);
        char *end = NULL;
        errno = 0;
        unsigned long long s = ok ? strtoull(seed, &end, 10) : 0;
        ok = ok && end && end != seed && *end == '\0' && errno == 0 && seed[0] != '-';
        c->seed = (uint64_t)s;
    }
    json_decref(j);
    return ok && ae_config_check(c) == AE_OK ? AE_OK : AE_EFORMAT;
}

/* Parses a checkpoint's state and allocates the optimizer state it describes (its moments are
 * present as tensors: momentum.* for SGD, adam.m.* and adam.v.* for Adam and AdamW). */
static int state_from_json(const char *text, json_t *root, ae_model *m) {
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!j || json_alloc_failed) {
        json_decref(j);
        return parse_failure();
    }
    const char *opt, *step, *rs, *ri;
    int epochs;
    int ok = json_unpack(j, "{s:s, s:s, s:i, s:s, s:s !}", "optimizer", &opt, "step", &step, "epochs_done",
                         &epochs, "rng_state", &rs, "rng_inc", &ri) == 0 && epochs >= 0;
    int kind = -1;
    for (int i = 0; ok && i < 3; i++)
        if (strcmp(opt, opt_names[i]) == 0) kind = i;
    char *end;
    unsigned long long st = 0, inc = 0;
    long long steps = 0;
    if (ok && kind >= 0) {
        errno = 0;
        steps = strtoll(step, &end, 10);
        ok = *step && !*end && steps >= 0 && errno == 0;
        st = strtoull(rs, &end, 10);
        ok = ok && *rs && !*end && rs[0] != '-' && errno == 0;
        inc = strtoull(ri, &end, 10);
        ok = ok && *ri && !*end && ri[0] != '-' && errno == 0 && (inc & 1); /* PCG streams are odd */
    }
    ok = ok && kind >= 0;
    json_decref(j);
    if (!ok) return AE_EFORMAT;
    int with_m = kind != AE_OPT_SGD || json_object_get(root, "momentum.encoder.0.bias") != NULL;
    int rc = ae_optim_alloc(&m->opt, (ae_optimizer)kind, with_m, m->n_params);
    if (rc != AE_OK) return rc;
    m->opt.step = (long)steps;
    m->epochs_done = epochs;
    m->rng.state = (uint64_t)st;
    m->rng.inc = (uint64_t)inc;
    return AE_OK;
}

/* A metadata value holding JSON text, parsed into *out (a new reference): AE_OK, AE_EFORMAT
 * (not a string, not JSON) or AE_ENOMEM. */
static int meta_json(json_t *v, json_t **out) {
    json_t *j = json_is_string(v) ? json_loads(json_string_value(v), JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!j || json_alloc_failed) {
        json_decref(j);
        return json_is_string(v) ? parse_failure() : AE_EFORMAT;
    }
    *out = j;
    return AE_OK;
}

/* Metadata "head" (NULL: none): kind and outputs, checked against the code width. */
static int head_from_json(json_t *v, ae_head_kind *kind, size_t *outputs) {
    *outputs = 0;
    json_t *j = NULL;
    int rc = v ? meta_json(v, &j) : AE_OK;
    if (!j) return rc;
    const char *k;
    json_int_t c;
    int ok = json_unpack(j, "{s:s, s:I !}", "kind", &k, "outputs", &c) == 0 && c >= 1 && c <= (json_int_t)AE_MAX_WIDTH;
    int found = 0;
    for (int i = 0; ok && i < 2; i++)
        if (strcmp(k, head_names[i]) == 0) {
            *kind = (ae_head_kind)i;
            found = 1;
        }
    ok = ok && found && !(*kind == AE_HEAD_SOFTMAX && c < 2);
    if (ok) *outputs = (size_t)c;
    json_decref(j);
    return ok ? AE_OK : AE_EFORMAT;
}

/* Metadata "anomaly" (NULL: none): the threshold state. */
static int threshold_from_json(json_t *v, ae_threshold_state *t) {
    memset(t, 0, sizeof *t);
    json_t *j = NULL;
    int rc = v ? meta_json(v, &j) : AE_OK;
    if (!j) return rc;
    const char *name;
    json_t *param, *value;
    int ok = json_unpack(j, "{s:s, s:o, s:o !}", "method", &name, "param", &param, "threshold", &value) == 0 &&
             json_is_number(param) && json_is_number(value);
    for (int i = 1; ok && i <= (int)AE_THRESHOLD_CONTAMINATION; i++)
        if (strcmp(name, threshold_names[i]) == 0) t->method = (ae_threshold_method)i;
    if (ok) {
        t->param = json_number_value(param);
        t->value = (float)json_number_value(value);
    }
    ok = ok && t->method != AE_THRESHOLD_NONE && isfinite(t->param) && isfinite(t->value) && t->param >= 0.0;
    json_decref(j);
    if (!ok) memset(t, 0, sizeof *t);
    return ok ? AE_OK : AE_EFORMAT;
}

static int scaling_from_name(const char *s, ae_scaling *out) {
    for (int i = 0; s && i <= (int)AE_SCALE_ZSCORE; i++)
        if (strcmp(s, scaling_names[i]) == 0) {
            *out = (ae_scaling)i;
            return 1;
        }
    return 0;
}

/* Metadata "scaling" (NULL: a file from before scaling existed, which never scales). */
static int scaling_from_json(json_t *v, ae_scaling *requested, int *fitted, ae_scaling *applied) {
    *requested = AE_SCALE_AUTO;
    *fitted = 1;
    *applied = AE_SCALE_NONE;
    json_t *j = NULL;
    int rc = v ? meta_json(v, &j) : AE_OK;
    if (!j) return rc;
    const char *req, *app;
    int ok = json_unpack(j, "{s:s, s:i, s:s !}", "requested", &req, "fitted", fitted, "applied", &app) == 0 &&
             scaling_from_name(req, requested) && scaling_from_name(app, applied) && *applied != AE_SCALE_AUTO &&
             (*fitted == 0 || *fitted == 1) && (*fitted || *applied == AE_SCALE_NONE);
    json_decref(j);
    return ok ? AE_OK : AE_EFORMAT;
}

/* Scaling statistics read from a file: finite offsets, finite positive scales. */
static int scaler_ok(const ae_scaler *s) {
    for (size_t j = 0; s->offset && j < s->d; j++)
        if (!isfinite(s->offset[j]) || !isfinite(s->scale[j]) || !(s->scale[j] > 0.0f)) return 0;
    return 1;
}

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
            if (!get_size(json_array_get(shape, d), AE_MAX_WIDTH, &r) || r != want[d]) return 0;
        if (!get_size(json_array_get(offs, 0), data_len, &b) || !get_size(json_array_get(offs, 1), data_len, &en))
            return 0;
        /* the shape is the model's own (each side <= 2^24, rows x cols <= 2^31 floats) */
        if (en < b || en - b != (uint64_t)t[i].rows * (t[i].cols ? t[i].cols : 1) * sizeof(float)) return 0;
        spans[i].begin = b;
        spans[i].end = en;
        sorted[i] = spans[i];
    }
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

static int load_from(source *src, ae_model **out) {
    json_begin(); /* clears the failure flag a previous call may have left */
    int rc = AE_EFORMAT;
    char *header = NULL;
    unsigned char *data = NULL;
    json_t *root = NULL;
    ae_model *m = NULL;
    unsigned char n8[8];
    const uint64_t file_size = src->size;
    uint64_t hlen = 0;
    if (file_size < 8 || !source_read(src, n8, 8)) {
        rc = ae_fail(AE_EFORMAT, "%llu bytes: too short for a model file", (unsigned long long)file_size);
        goto fail;
    }
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)n8[i] << (8 * i);
    if (hlen < 2 || hlen > AE_MAX_HEADER || hlen > file_size - 8) {
        rc = ae_fail(AE_EFORMAT, "header length %llu does not fit the file's %llu bytes (or the 16 MiB cap)",
                     (unsigned long long)hlen, (unsigned long long)file_size);
        goto fail;
    }
    if (!(header = ae_malloc((size_t)hlen))) { rc = AE_ENOMEM; goto fail; }
    if (!source_read(src, header, (size_t)hlen)) { rc = source_failure(src); goto fail; }
    root = json_loadb(header, (size_t)hlen, JSON_REJECT_DUPLICATES, NULL);
    if (!root || json_alloc_failed) { /* jansson may drop characters on a failed allocation */
        rc = json_alloc_failed ? AE_ENOMEM : ae_fail(AE_EFORMAT, "the header is not JSON (or repeats a key)");
        goto fail;
    }
    if (!json_is_object(root)) goto fail;

    json_t *meta = json_object_get(root, "__metadata__");
    const char *fmt = json_string_value(json_object_get(meta, "format"));
    const char *ver = json_string_value(json_object_get(meta, "format_version"));
    const char *cfg_text = json_string_value(json_object_get(meta, "config"));
    const char *crc_text = json_string_value(json_object_get(meta, "crc32"));
    ae_config cfg;
    if (!json_is_object(meta) || !fmt || !ver || !cfg_text || !crc_text || strcmp(fmt, "libae") != 0) {
        rc = ae_fail(AE_EFORMAT, "no libae metadata (format, format_version, config, crc32)");
        goto fail;
    }
    if ((rc = check_metadata(meta)) != AE_OK) goto fail;
    if (strcmp(ver, AE_FORMAT_VERSION) != 0) {
        rc = ae_fail(AE_EFORMAT, "format_version '%.32s': this libae reads version %s", ver, AE_FORMAT_VERSION);
        goto fail;
    }
    if ((rc = config_from_json(cfg_text, &cfg)) != AE_OK) {
        if (rc == AE_EFORMAT) ae_fail(rc, "config: a key missing, unknown or out of range");
        goto fail;
    }
    rc = AE_EFORMAT;
    unsigned long want_crc;
    if (!parse_crc(crc_text, &want_crc)) {
        rc = ae_fail(AE_EFORMAT, "crc32 is not 8 hex digits");
        goto fail;
    }

    ae_head_kind head_kind = AE_HEAD_SOFTMAX;
    size_t head_outputs;
    ae_threshold_state threshold;
    if ((rc = head_from_json(json_object_get(meta, "head"), &head_kind, &head_outputs)) != AE_OK) {
        if (rc == AE_EFORMAT) ae_fail(rc, "metadata key head is malformed");
        goto fail;
    }
    if ((rc = threshold_from_json(json_object_get(meta, "anomaly"), &threshold)) != AE_OK) {
        if (rc == AE_EFORMAT) ae_fail(rc, "metadata key anomaly is malformed");
        goto fail;
    }
    ae_scaling scale_req, scale_applied;
    int scale_fitted;
    if ((rc = scaling_from_json(json_object_get(meta, "scaling"), &scale_req, &scale_fitted, &scale_applied)) != AE_OK) {
        if (rc == AE_EFORMAT) ae_fail(rc, "metadata key scaling is malformed");
        goto fail;
    }
    cfg.scaling = scale_req;
    rc = AE_EFORMAT;

    /* The config is valid. Before sizing the model, its weights (once, or with one or two
     * moments in a checkpoint) and its head's must be what the file holds: a small file cannot
     * make a huge model be allocated. check_tensors verifies every tensor exactly afterwards. */
    const uint64_t data_len = file_size - 8 - hlen, weights = (uint64_t)ae_config_param_count(&cfg) * sizeof(float);
    const uint64_t head_bytes = (uint64_t)head_outputs * (cfg.code_dim + 1) * sizeof(float); /* < 2^51 */
    const uint64_t scale_bytes = scale_applied != AE_SCALE_NONE ? 2 * (uint64_t)cfg.input_dim * sizeof(float) : 0;
    const uint64_t other = head_bytes + scale_bytes + (uint64_t)ae_config_state_count(&cfg) * sizeof(float);
    const uint64_t ae_len = data_len - other;
    if (weights == 0 || data_len < other || ae_len % weights != 0 || ae_len / weights < 1 ||
        ae_len / weights > 3) {
        rc = ae_fail(AE_EFORMAT, "%llu bytes of data do not fit the config's %llu bytes of weights",
                     (unsigned long long)data_len, (unsigned long long)weights);
        goto fail;
    }
    rc = ae_model_new(&m, &cfg, 0);
    if (rc == AE_OK && head_outputs) rc = ae_head_alloc(m, head_kind, head_outputs);
    if (rc == AE_OK && scale_applied != AE_SCALE_NONE) rc = ae_scaler_alloc(&m->scaler, scale_applied, cfg.input_dim);
    if (rc == AE_OK && scale_applied == AE_SCALE_NONE && scale_fitted) ae_scaler_identity(&m->scaler);
    if (rc != AE_OK) { rc = rc == AE_ENOMEM ? AE_ENOMEM : AE_EFORMAT; goto fail; }
    m->threshold = threshold;
    rc = AE_EFORMAT;
    json_t *state = json_object_get(meta, "checkpoint");
    if (state) { /* a checkpoint: size the optimizer state its tensors will fill */
        if (!json_is_string(state)) goto fail;
        if ((rc = state_from_json(json_string_value(state), root, m)) != AE_OK) {
            if (rc == AE_EFORMAT) ae_fail(rc, "metadata key checkpoint is malformed");
            goto fail;
        }
        rc = AE_EFORMAT;
    }
    ae_tensor_ref t[3 * AE_MAX_TENSORS];
    span spans[3 * AE_MAX_TENSORS];
    size_t nt = ae_model_tensors(m, t, state != NULL);
    if (!check_tensors(root, t, nt, data_len, spans)) {
        rc = ae_fail(AE_EFORMAT, "the tensors (names, F32 dtype, shapes, offsets) are not the config's");
        goto fail;
    }
    if (!(data = ae_malloc((size_t)data_len))) { rc = AE_ENOMEM; goto fail; }
    if (!source_read(src, data, (size_t)data_len)) { rc = source_failure(src); goto fail; }
    if (crc32_z(crc32(0L, Z_NULL, 0), data, (size_t)data_len) != want_crc) {
        rc = ae_fail(AE_EFORMAT, "data checksum mismatch: the weights were changed or damaged");
        goto fail;
    }
    for (size_t i = 0; i < nt; i++) memcpy(t[i].data, data + spans[i].begin, (size_t)(spans[i].end - spans[i].begin));
    if (!ae_all_finite(m->params, m->n_params) || !ae_all_finite(m->head.params, m->head.n) || !ae_model_state_ok(m) ||
        !scaler_ok(&m->scaler) || (m->opt.m && !ae_all_finite(m->opt.m, m->n_params)) ||
        (m->opt.v && !ae_all_finite(m->opt.v, m->n_params))) {
        rc = ae_fail(AE_EFORMAT, "a weight, statistic or optimizer moment is NaN or infinite");
        goto fail;
    }
    rc = AE_OK;
    *out = m;
    m = NULL;
fail:
    /* A verdict of "malformed" reached after jansson lost an allocation (json_unpack's strict
     * mode allocates too) is not to be trusted: report the allocation. */
    if (rc == AE_EFORMAT && json_alloc_failed) rc = AE_ENOMEM;
    if (rc == AE_EFORMAT && !*ae_last_error()) ae_fail(rc, "the header is not a libae model's");
    ae_free(m);
    ae_dealloc(data);
    json_decref(root);
    ae_dealloc(header);
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
        rc = ae_fail(AE_EIO, "%s: %s", path, S_ISDIR(st.st_mode) ? ae_sys_reason(EISDIR, why, sizeof why)
                                                                  : "not a regular file");
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
