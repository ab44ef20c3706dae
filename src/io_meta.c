/* io_meta: the __metadata__ of the model file's header (see io_model.c for the container).
 * It holds format=libae, format_version, the config as a JSON string, the CRC-32 of the data
 * section, and metadata_crc32: the CRC-32 of every other metadata key and value (threshold,
 * head, scaling, training state, config, and any key added later), so that no byte which
 * changes a result goes unchecked. Values are strings (safetensors metadata), most of them
 * compact JSON text. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "io_conv.h"
#include "io_meta.h"
#include "io_meta_pos.h"

#define AE_FORMAT_VERSION "1"
#define META_CRC_KEY "metadata_crc32"
#define AE_MAX_META_KEYS 256 /* far above the eight keys written today */

/* jansson allocates through the library's allocator, and a failure is remembered: jansson 2.14
 * reports some failed allocations as syntax errors, or with no error code, so its error cannot
 * tell "out of memory" from "malformed". A failure the test hook injects is remembered but the
 * memory is still given: jansson 2.14's lexer drops a character it cannot store and then
 * asserts on the escape sequence it broke (load.c, lex_scan_string), which the fault walk
 * reached with a conv model's header. So the walk checks that every failure comes back as
 * AE_ENOMEM with nothing leaked, and a real malloc failure inside jansson stays jansson's to
 * handle. The functions are plain malloc/free underneath, so a program that uses jansson
 * itself sees no difference. */
static _Thread_local int json_alloc_failed;

static void *json_alloc(size_t n) {
    if (ae_alloc_injected(n ? n : 1)) json_alloc_failed = 1;
    void *p = malloc(n ? n : 1);
    if (!p) json_alloc_failed = 1;
    return p;
}

static pthread_once_t json_once = PTHREAD_ONCE_INIT;
static void json_install(void) { json_set_alloc_funcs(json_alloc, ae_dealloc); }

void ae_json_begin(void) {
    pthread_once(&json_once, json_install);
    json_alloc_failed = 0;
}

int ae_json_alloc_failed(void) { return json_alloc_failed; }

/* json_dumps, checked: jansson 2.14 ignores a failed allocation while dumping an object key and
 * returns a header with the key missing, and its lexer drops characters it could not store
 * (both found by the fault walk in tests/test_faults.c). So any failed allocation fails the
 * dump, and the text must parse back to the same value. NULL when either check fails. */
char *ae_json_dump(const json_t *j, size_t flags) {
    char *text = json_dumps(j, flags);
    json_t *back = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (text && (json_alloc_failed || !(back && json_equal(back, j)))) {
        free(text);
        text = NULL;
    }
    json_decref(back);
    return text;
}

int ae_json_size(json_t *v, uint64_t max, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return *out <= max;
}

/* AE_ENOMEM when jansson ran out of memory during the parse, else AE_EFORMAT. */
static int parse_failure(void) { return json_alloc_failed ? AE_ENOMEM : AE_EFORMAT; }

/* ---------------------------------------------------------------- save */

/* The names in the file, indexed by the enums (ae_optimizer, ae_head_kind, ...). */
static const char *opt_names[] = {"sgd", "adam", "adamw"};
static const char *head_names[] = {"softmax", "linear"};
static const char *threshold_names[] = {"none", "quantile", "mean_std", "manual", "contamination"};
static const char *scaling_names[] = {"auto", "none", "minmax", "zscore"};

/* Metadata "config": the architecture and seed (not the scaling: metadata "scaling" has it). */
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
    json_t *j = json_pack("{s:I, s:I, s:o, s:I, s:s, s:s, s:s, s:i, s:i, s:s}", "input_dim", (json_int_t)c->input_dim,
                          "n_hidden", (json_int_t)c->n_hidden, "hidden", hidden, "code_dim", (json_int_t)c->code_dim,
                          "hidden_act", ae_activation_name(c->hidden_act), "code_act", ae_activation_name(c->code_act),
                          "output_act", ae_activation_name(c->output_act), "tied_weights", c->tied_weights,
                          "variational", c->variational, "seed", seed);
    /* Written only when set, so that a model without it is the file it always was. */
    if (j && ((c->batch_norm && json_object_set_new(j, "batch_norm", json_integer(c->batch_norm)) != 0) ||
              ae_conv_config_to_json(c, j) != 0 || ae_rnn_config_to_json(c, j) != 0)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The training state's metadata: the optimizer, its step, epochs done and the RNG. */
static json_t *state_json(const ae_model *m) {
    char step[24], rs[24], ri[24];
    snprintf(step, sizeof step, "%ld", m->opt.step);
    snprintf(rs, sizeof rs, "%llu", (unsigned long long)m->rng.state);
    snprintf(ri, sizeof ri, "%llu", (unsigned long long)m->rng.inc);
    json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:s}", "optimizer", opt_names[m->opt.kind], "step", step, "epochs_done",
                          m->epochs_done, "rng_state", rs, "rng_inc", ri);
    if (j && m->pos.blocks_done > 0 && json_object_set_new(j, "stream_position", ae_pos_json(&m->pos)) != 0) {
        json_decref(j); /* a mid-epoch checkpoint of a stream: its place */
        return NULL;
    }
    return j;
}

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
    return json_pack("{s:s, s:f, s:f}", "method", threshold_names[m->threshold.method], "param", m->threshold.param,
                     "threshold", (double)m->threshold.value);
}

/* Adds metadata key -> the compact text of j (safetensors metadata values are strings);
 * consumes j. 0 on failure. */
static int set_json_string(json_t *meta, const char *key, json_t *j) {
    char *text = j ? ae_json_dump(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
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

json_t *ae_meta_json(const ae_model *m, int state, unsigned long data_crc) {
    json_t *meta = json_object();
    char crc_text[16];
    snprintf(crc_text, sizeof crc_text, "%08lx", data_crc);
    int ok = meta && json_object_set_new(meta, "format", json_string("libae")) == 0 &&
             json_object_set_new(meta, "format_version", json_string(AE_FORMAT_VERSION)) == 0 &&
             set_json_string(meta, "config", config_json(&m->cfg)) &&
             json_object_set_new(meta, "crc32", json_string(crc_text)) == 0;
    if (ok && state) ok = set_json_string(meta, "checkpoint", state_json(m));
    if (ok && m->head.outputs) ok = set_json_string(meta, "head", head_json(m));
    if (ok && m->threshold.method != AE_THRESHOLD_NONE) ok = set_json_string(meta, "anomaly", threshold_json(m));
    if (ok) ok = set_json_string(meta, "scaling", scaling_json(m));
    if (ok) ok = seal_metadata(meta); /* last: it covers every key above */
    if (!ok) {
        json_decref(meta);
        meta = NULL;
    }
    return meta;
}

/* ---------------------------------------------------------------- load */

/* Eight lowercase or uppercase hex digits. */
static int parse_crc(const char *text, unsigned long *out) {
    char *end = NULL;
    if (!text || strlen(text) != 8 || text[0] == '-' || text[0] == '+' || text[0] == ' ') return 0;
    *out = strtoul(text, &end, 16);
    return *end == '\0';
}

/* The metadata keys of files written before META_CRC_KEY existed. */
static int known_before_crc(const char *key) {
    static const char *const known[] = {"format",     "format_version", "config",  "crc32",
                                        "checkpoint", "head",           "anomaly", "scaling"};
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
    if (!parse_crc(json_string_value(sealed), &want))
        return ae_fail(AE_EFORMAT, "%s is not 8 hex digits", META_CRC_KEY);
    if (!metadata_crc(meta, &got))
        return ae_fail(AE_EFORMAT, "metadata: a value that is not a string, or over %d keys", AE_MAX_META_KEYS);
    if (got != want)
        return ae_fail(AE_EFORMAT,
                       "metadata checksum mismatch (%s %08lx, computed %08lx): the header was changed or damaged",
                       META_CRC_KEY, want, (unsigned long)got);
    return AE_OK;
}

static int act_from_name(const char *s, ae_activation *out) { return ae_activation_parse(s, out) == AE_OK; }

/* The config from its JSON text: AE_OK, AE_EFORMAT (malformed or out of range) or AE_ENOMEM. */
static int config_from_json(const char *text, ae_config *c) {
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!j || json_alloc_failed) {
        json_decref(j);
        return parse_failure();
    }
    json_t *hidden = NULL, *shape = NULL, *conv = NULL, *rnn = NULL, *seq = NULL;
    const char *ha, *ca, *oa, *seed;
    json_int_t din, nh, k;
    int tied, vae, bn = 0;
    int ok =
        j && json_unpack(j, "{s:I, s:I, s:o, s:I, s:s, s:s, s:s, s:i, s:i, s:s, s?i, s?o, s?o, s?o, s?o !}",
                         "input_dim", &din, "n_hidden", &nh, "hidden", &hidden, "code_dim", &k, "hidden_act", &ha,
                         "code_act", &ca, "output_act", &oa, "tied_weights", &tied, "variational", &vae, "seed", &seed,
                         "batch_norm", &bn, "input_shape", &shape, "conv", &conv, "rnn", &rnn, "seq", &seq) == 0;
    *c = ae_config_default();
    ok = ok && ae_conv_config_from_json(shape, conv, c); /* conv layers, when the file has them */
    ok = ok && ae_rnn_config_from_json(rnn, seq, c); /* a recurrent cell, likewise */
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
    json_t *pos = NULL;
    int epochs;
    int ok = json_unpack(j, "{s:s, s:s, s:i, s:s, s:s, s?o !}", "optimizer", &opt, "step", &step, "epochs_done",
                         &epochs, "rng_state", &rs, "rng_inc", &ri, "stream_position", &pos) == 0 &&
             epochs >= 0;
    if (json_alloc_failed) { /* the strict check's key set can lose an allocation and not say */
        json_decref(j);
        return AE_ENOMEM;
    }
    memset(&m->pos, 0, sizeof m->pos);
    if (ok && pos) ok = ae_pos_from_json(pos, &m->pos) == AE_OK;
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

int ae_meta_scaler_ok(const ae_scaler *s) {
    for (size_t j = 0; s->offset && j < s->d; j++)
        if (!isfinite(s->offset[j]) || !isfinite(s->scale[j]) || !(s->scale[j] > 0.0f)) return 0;
    return 1;
}

/* A failed optional key's status, with its name in ae_last_error when it is malformed. */
static int malformed(int rc, const char *key) {
    if (rc == AE_EFORMAT) ae_fail(rc, "metadata key %s is malformed", key);
    return rc;
}

/* The keys every libae file holds: format, the metadata checksum, format_version, config and
 * the data's crc32, checked in this order (the fuzz corpora and tests depend on which error a
 * damaged file gets). */
static int read_required(json_t *meta, ae_meta *out) {
    const char *fmt = json_string_value(json_object_get(meta, "format"));
    const char *ver = json_string_value(json_object_get(meta, "format_version"));
    const char *cfg_text = json_string_value(json_object_get(meta, "config"));
    const char *crc_text = json_string_value(json_object_get(meta, "crc32"));
    if (!json_is_object(meta) || !fmt || !ver || !cfg_text || !crc_text || strcmp(fmt, "libae") != 0)
        return ae_fail(AE_EFORMAT, "no libae metadata (format, format_version, config, crc32)");
    int rc = check_metadata(meta);
    if (rc != AE_OK) return rc;
    if (strcmp(ver, AE_FORMAT_VERSION) != 0)
        return ae_fail(AE_EFORMAT, "format_version '%.32s': this libae reads version %s", ver, AE_FORMAT_VERSION);
    if ((rc = config_from_json(cfg_text, &out->cfg)) != AE_OK) {
        if (rc == AE_EFORMAT) ae_fail(rc, "config: a key missing, unknown or out of range");
        return rc;
    }
    if (!parse_crc(crc_text, &out->data_crc)) return ae_fail(AE_EFORMAT, "crc32 is not 8 hex digits");
    return AE_OK;
}

int ae_meta_read(json_t *root, ae_meta *out) {
    json_t *meta = json_object_get(root, "__metadata__");
    int rc = read_required(meta, out);
    if (rc != AE_OK) return rc;
    out->head_kind = AE_HEAD_SOFTMAX;
    if ((rc = head_from_json(json_object_get(meta, "head"), &out->head_kind, &out->head_outputs)) != AE_OK)
        return malformed(rc, "head");
    if ((rc = threshold_from_json(json_object_get(meta, "anomaly"), &out->threshold)) != AE_OK)
        return malformed(rc, "anomaly");
    ae_scaling requested;
    rc = scaling_from_json(json_object_get(meta, "scaling"), &requested, &out->scale_fitted, &out->scale_applied);
    if (rc != AE_OK) return malformed(rc, "scaling");
    out->cfg.scaling = requested;
    /* checked once the model is built: its optimizer state is sized from the model */
    out->checkpoint = json_object_get(meta, "checkpoint");
    return AE_OK;
}

int ae_meta_state_apply(const ae_meta *meta, json_t *root, ae_model *m) {
    if (!meta->checkpoint) return AE_OK;
    if (!json_is_string(meta->checkpoint)) return AE_EFORMAT; /* the caller's generic reason */
    return malformed(state_from_json(json_string_value(meta->checkpoint), root, m), "checkpoint");
}
