/* The model file: round trip bit for bit, safetensors layout, and every kind of damage
 * refused with a clear status while the previous file survives. */
#define _GNU_SOURCE /* memmem */
#include "test_util.h"

#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "byteorder.h"
#include "model.h"

static char dir[64];

static int make_dir(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ae_io_model_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, const char *name) { snprintf(out, 256, "%s/%s", dir, name); }

/* ae_last_error holds want after a failure. */
static void said(const char *want) {
    if (!strstr(ae_last_error(), want)) print_error("ae_last_error '%s' lacks '%s'\n", ae_last_error(), want);
    assert_non_null(strstr(ae_last_error(), want));
}

static ae_model *trained_model(int tied) {
    ae_config c = ae_config_default();
    c.input_dim = 10;
    c.n_hidden = 2;
    c.hidden[0] = 7;
    c.hidden[1] = 5;
    c.code_dim = 3;
    c.hidden_act = AE_ACT_TANH;
    c.tied_weights = tied;
    c.seed = 99;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[40 * 10];
    test_fill(x, 400, 3, 0, 1);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 16;
    assert_int_equal(ae_train(m, x, 40, &o), AE_OK);
    return m;
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* The files' byte order (byteorder.h): little-endian bytes from the host's floats on every
 * host, and the big-endian host's path, the swap, run here against known byte patterns. */
typedef struct sink {
    unsigned char *bytes;
    size_t len, calls;
} sink;

static void collect(void *ctx, const void *p, size_t n) {
    sink *k = ctx;
    memcpy(k->bytes + k->len, p, n);
    k->len += n;
    k->calls++;
}

static void test_byte_order_known_patterns(void **state) {
    (void)state;
    const float f[2] = {1.0f, -2.5f}; /* 0x3F800000, 0xC0200000 */
    const unsigned char le[8] = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0};
    const unsigned char be[8] = {0x3F, 0x80, 0x00, 0x00, 0xC0, 0x20, 0x00, 0x00};
    unsigned char out[8], native[8];
    memcpy(native, f, 8);
    assert_memory_equal(native, ae_host_big_endian() ? be : le, 8);
    ae_le_copy(out, f, 2, 4); /* host to file */
    assert_memory_equal(out, le, 8);
    float back[2];
    ae_le_copy(back, le, 2, 4); /* file to host */
    assert_memory_equal(back, f, 8);
    ae_order_copy(out, le, 2, 4, 1); /* what a big-endian host does */
    assert_memory_equal(out, be, 8);
    ae_order_copy(out, out, 2, 4, 1); /* in place */
    assert_memory_equal(out, le, 8);
    ae_order_copy(out, le, 2, 4, 0);
    assert_memory_equal(out, le, 8);
    const unsigned char d_le[8] = {0, 0, 0, 0, 0, 0, 0xF0, 0xBF}, d_be[8] = {0xBF, 0xF0, 0, 0, 0, 0, 0, 0};
    double d;
    ae_le_copy(&d, d_le, 1, 8);
    assert_true(d == -1.0);
    ae_order_copy(out, d_le, 1, 8, 1);
    assert_memory_equal(out, d_be, 8);
    ae_order_copy(out, le, 4, 2, 1); /* 16-bit values */
    const unsigned char h_be[8] = {0x00, 0x00, 0x3F, 0x80, 0x00, 0x00, 0xC0, 0x20};
    assert_memory_equal(out, h_be, 8);
    /* the writers' chunks: AE_LE_CHUNK + 3 floats in two, little-endian */
    const size_t n = AE_LE_CHUNK + 3;
    float *x = malloc(n * sizeof(float));
    unsigned char *want = malloc(n * 4), *got = malloc(n * 4);
    assert_true(x && want && got);
    test_fill(x, n, 5, -1, 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int b = 0; b < 4; b++) want[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    sink k = {got, 0, 0};
    ae_f32_le_chunks(x, n, collect, &k);
    assert_int_equal(k.calls, 2);
    assert_int_equal(k.len, n * 4);
    assert_memory_equal(got, want, n * 4);
    free(x);
    free(want);
    free(got);
}

static void test_round_trip_is_bitwise(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        ae_model *m = trained_model(tied), *l;
        char p[256];
        path_of(p, "m.safetensors");
        assert_int_equal(ae_save(m, p), AE_OK);
        assert_int_equal(ae_load(&l, p), AE_OK);
        ae_config a, b;
        ae_get_config(m, &a);
        ae_get_config(l, &b);
        assert_memory_equal(&a, &b, sizeof a);
        float x[20 * 10], c1[20 * 3], c2[20 * 3], r1[200], r2[200];
        test_fill(x, 200, 8, 0, 1);
        assert_int_equal(ae_encode(m, x, 20, c1), AE_OK);
        assert_int_equal(ae_encode(l, x, 20, c2), AE_OK);
        assert_memory_equal(c1, c2, sizeof c1);
        assert_int_equal(ae_reconstruct(m, x, 20, r1), AE_OK);
        assert_int_equal(ae_reconstruct(l, x, 20, r2), AE_OK);
        assert_memory_equal(r1, r2, sizeof r1);
        ae_free(m);
        ae_free(l);
    }
}

static void test_vae_round_trip_and_head_names(void **state) {
    (void)state;
    ae_config c = ae_config_default();
    c.input_dim = 10;
    c.n_hidden = 1;
    c.hidden[0] = 7;
    c.code_dim = 3;
    c.variational = 1;
    ae_model *m, *l;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[40 * 10];
    test_fill(x, 400, 5, 0, 1);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.loss = AE_LOSS_BCE;
    assert_int_equal(ae_train(m, x, 40, &o), AE_OK);
    char p[256];
    path_of(p, "vae.safetensors");
    assert_int_equal(ae_save(m, p), AE_OK);
    assert_int_equal(ae_load(&l, p), AE_OK);
    float c1[40 * 3], c2[40 * 3];
    assert_int_equal(ae_encode(m, x, 40, c1), AE_OK);
    assert_int_equal(ae_encode(l, x, 40, c2), AE_OK);
    assert_memory_equal(c1, c2, sizeof c1);
    size_t len;
    unsigned char *b = slurp(p, &len);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
    json_t *root = json_loadb((const char *)b + 8, n, 0, NULL);
    assert_non_null(root);
    const char *names[] = {"encoder.0.weight",      "encoder.0.bias",      "encoder.mu.weight", "encoder.mu.bias",
                           "encoder.logvar.weight", "encoder.logvar.bias", "decoder.0.weight",  "decoder.0.bias",
                           "decoder.1.weight",      "decoder.1.bias"};
    for (int i = 0; i < 10; i++) assert_non_null(json_object_get(root, names[i]));
    assert_int_equal(json_object_size(root), 11);
    json_t *shape = json_object_get(json_object_get(root, "encoder.logvar.weight"), "shape");
    assert_int_equal(json_integer_value(json_array_get(shape, 0)), 3);
    assert_int_equal(json_integer_value(json_array_get(shape, 1)), 7);
    json_decref(root);
    free(b);
    ae_free(m);
    ae_free(l);
}

static void test_file_is_safetensors_with_contract_names(void **state) {
    (void)state;
    for (int tied = 0; tied < 2; tied++) {
        ae_model *m = trained_model(tied);
        char p[256];
        path_of(p, "layout.safetensors");
        assert_int_equal(ae_save(m, p), AE_OK);
        size_t len;
        unsigned char *b = slurp(p, &len);
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
        assert_int_equal(n % 8, 0);
        assert_true(8 + n <= len);
        json_t *root = json_loadb((const char *)b + 8, n, 0, NULL);
        assert_non_null(root);
        const char *names[] = {"encoder.0.weight", "encoder.0.bias", "encoder.1.weight", "encoder.1.bias",
                               "encoder.2.weight", "encoder.2.bias", "decoder.0.weight", "decoder.0.bias",
                               "decoder.1.weight", "decoder.1.bias", "decoder.2.weight", "decoder.2.bias"};
        const size_t shapes[][2] = {{7, 10}, {7, 0}, {5, 7}, {5, 0}, {3, 5},  {3, 0},
                                    {5, 3},  {5, 0}, {7, 5}, {7, 0}, {10, 7}, {10, 0}};
        size_t total = 0, present = 0;
        for (int i = 0; i < 12; i++) {
            json_t *e = json_object_get(root, names[i]);
            int is_dec_weight = i >= 6 && i % 2 == 0;
            if (tied && is_dec_weight) { /* tied models store each weight once */
                assert_null(e);
                continue;
            }
            assert_non_null(e);
            present++;
            assert_string_equal(json_string_value(json_object_get(e, "dtype")), "F32");
            json_t *shape = json_object_get(e, "shape");
            assert_int_equal(json_array_size(shape), shapes[i][1] ? 2 : 1);
            assert_int_equal(json_integer_value(json_array_get(shape, 0)), shapes[i][0]);
            if (shapes[i][1]) assert_int_equal(json_integer_value(json_array_get(shape, 1)), shapes[i][1]);
            json_t *off = json_object_get(e, "data_offsets");
            total += (size_t)(json_integer_value(json_array_get(off, 1)) - json_integer_value(json_array_get(off, 0)));
            /* The stored bytes are the model's weights. */
            if (i == 0) {
                float w0;
                ae_le_copy(&w0, b + 8 + n + json_integer_value(json_array_get(off, 0)), 1, 4); /* little-endian */
                assert_memory_equal(&w0, &m->layer[0].w[0], 4);
            }
        }
        assert_int_equal(json_object_size(root), present + 1);
        assert_int_equal(total, len - 8 - n);
        json_t *meta = json_object_get(root, "__metadata__");
        assert_string_equal(json_string_value(json_object_get(meta, "format")), "libae");
        assert_non_null(json_string_value(json_object_get(meta, "config")));
        assert_int_equal(strlen(json_string_value(json_object_get(meta, "crc32"))), 8);
        json_decref(root);
        free(b);
        ae_free(m);
    }
}

/* Writes the saved file with one change and expects ae_load to refuse it. */
static void expect_refused(const unsigned char *orig, size_t len, size_t at, unsigned char value, size_t new_len,
                           int want) {
    unsigned char *b = malloc(len + 16);
    assert_non_null(b);
    memcpy(b, orig, len);
    if (at < len) b[at] = value;
    char p[256];
    path_of(p, "bad.safetensors");
    spit(p, b, new_len);
    ae_model *m = (ae_model *)0x1;
    assert_int_equal(ae_load(&m, p), want);
    assert_null(m);
    free(b);
}

static void test_damaged_files_refused(void **state) {
    (void)state;
    ae_model *m = trained_model(0);
    char p[256];
    path_of(p, "good.safetensors");
    assert_int_equal(ae_save(m, p), AE_OK);
    size_t len;
    unsigned char *b = slurp(p, &len);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
    /* a flipped data byte fails the CRC */
    expect_refused(b, len, len - 3, b[len - 3] ^ 0x40, len, AE_EFORMAT);
    /* truncated anywhere: in the length, the header, the data */
    const size_t cuts[] = {0, 4, 8, 8 + n / 2, 8 + n, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) expect_refused(b, len, len, 0, cuts[i], AE_EFORMAT);
    /* trailing bytes */
    expect_refused(b, len, len, 0, len + 4, AE_EFORMAT);
    /* a header length of 2^64 - 1 and one past the file */
    unsigned char *h = malloc(len);
    assert_non_null(h);
    memcpy(h, b, len);
    memset(h, 0xff, 8);
    char q[256];
    path_of(q, "huge.safetensors");
    spit(q, h, len);
    ae_model *l = NULL;
    assert_int_equal(ae_load(&l, q), AE_EFORMAT);
    /* a header that is not JSON */
    memcpy(h, b, len);
    h[8] = '[';
    spit(q, h, len);
    assert_int_equal(ae_load(&l, q), AE_EFORMAT);
    /* a different format name, keeping the length: "libae" -> "libaf" */
    memcpy(h, b, len);
    char *f = memmem(h + 8, n, "\"libae\"", 7);
    assert_non_null(f);
    f[5] = 'f';
    spit(q, h, len);
    assert_int_equal(ae_load(&l, q), AE_EFORMAT);
    /* an unknown dtype */
    memcpy(h, b, len);
    f = memmem(h + 8, n, "F32", 3);
    assert_non_null(f);
    f[0] = 'I';
    spit(q, h, len);
    assert_int_equal(ae_load(&l, q), AE_EFORMAT);
    /* a weight shape that disagrees with the config: [7,10] -> [7,11] */
    memcpy(h, b, len);
    f = memmem(h + 8, n, "[7,10]", 6);
    assert_non_null(f);
    f[4] = '1';
    f[5] = '1';
    spit(q, h, len);
    assert_int_equal(ae_load(&l, q), AE_EFORMAT);
    /* a missing file */
    path_of(q, "absent.safetensors");
    assert_int_equal(ae_load(&l, q), AE_EIO);
    assert_null(l);
    /* the undamaged file still loads */
    assert_int_equal(ae_load(&l, p), AE_OK);
    ae_free(l);
    free(h);
    free(b);
    ae_free(m);
}

/* The metadata checksum as the format defines it, computed here independently of the library:
 * CRC-32 over every key but metadata_crc32, in byte order, each as key NUL value NUL. */
static void reseal(json_t *meta) {
    const char *keys[64];
    size_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (strcmp(key, "metadata_crc32") != 0) keys[n++] = key;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort by strcmp */
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < n; i++) {
        const char *value = json_string_value(json_object_get(meta, keys[i]));
        assert_non_null(value);
        crc = crc32(crc, (const Bytef *)keys[i], (uInt)strlen(keys[i]) + 1);
        crc = crc32(crc, (const Bytef *)value, (uInt)strlen(value) + 1);
    }
    char text[16];
    snprintf(text, sizeof text, "%08lx", (unsigned long)crc);
    json_object_set_new(meta, "metadata_crc32", json_string(text));
}

/* A saved file's header, parsed; *n gets the header's length. */
static json_t *header_of(const unsigned char *b, uint64_t *n) {
    *n = 0;
    for (int i = 0; i < 8; i++) *n |= (uint64_t)b[i] << (8 * i);
    json_t *root = json_loadb((const char *)b + 8, (size_t)*n, 0, NULL);
    assert_non_null(root);
    return root;
}

/* Loads (from a file named name) the saved file b of len bytes, header n long, with root as its
 * header instead; the status, the model into *out when not NULL (else freed). */
static int load_with_header(const unsigned char *b, size_t len, uint64_t n, json_t *root, ae_model **out) {
    char *text = json_dumps(root, JSON_COMPACT);
    assert_non_null(text);
    size_t tl = strlen(text), data = len - 8 - (size_t)n;
    unsigned char *nb = malloc(8 + tl + data);
    assert_non_null(nb);
    for (int i = 0; i < 8; i++) nb[i] = (unsigned char)((uint64_t)tl >> (8 * i));
    memcpy(nb + 8, text, tl);
    memcpy(nb + 8 + tl, b + 8 + n, data);
    char p[256];
    path_of(p, "edited.safetensors");
    spit(p, nb, 8 + tl + data);
    ae_model *m = NULL;
    int rc = ae_load(&m, p);
    if (out)
        *out = m;
    else
        ae_free(m);
    free(nb);
    free(text);
    return rc;
}

/* Every metadata key is covered (threshold, head, scaling, config, training state, the data
 * CRC, format): a change of one character, even one that keeps the value's meaning, is
 * refused and said; so is a damaged key name. A file from before the checksum (no
 * metadata_crc32) still loads, unless it holds a key such files never had; a key added later
 * under a correct checksum loads. */
static void test_metadata_checksum_covers_every_key(void **state) {
    (void)state;
    ae_model *m = trained_model(0);
    assert_int_equal(ae_threshold_set(m, 0.1714f), AE_OK);
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
    char p[256];
    path_of(p, "sealed.safetensors");
    assert_int_equal(ae_checkpoint_save(m, p), AE_OK);
    size_t len;
    unsigned char *b = slurp(p, &len);
    uint64_t n;
    json_t *root = header_of(b, &n);
    json_t *meta = json_object_get(root, "__metadata__");
    const char *keys[] = {"format", "format_version", "config", "crc32", "checkpoint", "head", "anomaly", "scaling"};
    for (size_t i = 0; i < 8; i++) assert_non_null(json_object_get(meta, keys[i]));
    /* the library's checksum is the one defined above */
    json_t *copy = json_deep_copy(meta);
    reseal(copy);
    assert_string_equal(json_string_value(json_object_get(copy, "metadata_crc32")),
                        json_string_value(json_object_get(meta, "metadata_crc32")));
    json_decref(copy);
    ae_model *l;
    assert_int_equal(load_with_header(b, len, n, root, &l), AE_OK); /* rewritten unchanged: loads */
    float t;
    assert_int_equal(ae_threshold_get(l, &t, NULL, NULL), AE_OK);
    assert_true(t == (float)0.1714f); /* the cast: a float constant may carry double precision (s390x) */
    ae_free(l);
    /* each key: one trailing space (still valid JSON for the JSON-valued keys) */
    for (size_t i = 0; i < 8; i++) {
        json_t *r = json_deep_copy(root), *mt = json_object_get(r, "__metadata__");
        char v[4096];
        snprintf(v, sizeof v, "%s ", json_string_value(json_object_get(mt, keys[i])));
        json_object_set_new(mt, keys[i], json_string(v));
        assert_int_equal(load_with_header(b, len, n, r, NULL), AE_EFORMAT);
        if (i > 0) said("metadata checksum mismatch"); /* "libae " is not a libae file to begin with */
        json_decref(r);
    }
    /* the threshold's digit 0.1714 -> 0.5714 */
    json_t *r = json_deep_copy(root), *mt = json_object_get(r, "__metadata__");
    char v[512];
    snprintf(v, sizeof v, "%s", json_string_value(json_object_get(mt, "anomaly")));
    char *digit = strstr(v, "\"threshold\":0.1");
    assert_non_null(digit);
    digit[14] = '5';
    json_object_set_new(mt, "anomaly", json_string(v));
    assert_int_equal(load_with_header(b, len, n, r, NULL), AE_EFORMAT);
    /* the same edit under a resealed checksum is a different, valid file: so the refusal was the checksum's */
    reseal(mt);
    assert_int_equal(load_with_header(b, len, n, r, &l), AE_OK);
    assert_int_equal(ae_threshold_get(l, &t, NULL, NULL), AE_OK);
    assert_true(t > 0.57f && t < 0.58f);
    ae_free(l);
    json_decref(r);
    /* the key name damaged: "anomaly" -> "anomalx" */
    r = json_deep_copy(root);
    mt = json_object_get(r, "__metadata__");
    json_object_set(mt, "anomalx", json_object_get(mt, "anomaly"));
    json_object_del(mt, "anomaly");
    assert_int_equal(load_with_header(b, len, n, r, NULL), AE_EFORMAT);
    /* ... also in a file from before the checksum: an unknown key is refused */
    json_object_del(mt, "metadata_crc32");
    assert_int_equal(load_with_header(b, len, n, r, NULL), AE_EFORMAT);
    assert_non_null(strstr(ae_last_error(), "anomalx"));
    json_decref(r);
    /* a file from before the checksum: loads, threshold and all */
    r = json_deep_copy(root);
    mt = json_object_get(r, "__metadata__");
    json_object_del(mt, "metadata_crc32");
    assert_int_equal(load_with_header(b, len, n, r, &l), AE_OK);
    assert_int_equal(ae_threshold_get(l, &t, NULL, NULL), AE_OK);
    assert_true(t == (float)0.1714f); /* the cast: a float constant may carry double precision (s390x) */
    assert_int_equal(ae_epochs_done(l), 2);
    ae_free(l);
    json_decref(r);
    /* a key added by a later version, covered by the checksum: loads */
    r = json_deep_copy(root);
    mt = json_object_get(r, "__metadata__");
    json_object_set_new(mt, "later_key", json_string("{\"x\":1}"));
    assert_int_equal(load_with_header(b, len, n, r, NULL), AE_EFORMAT);
    reseal(mt);
    assert_int_equal(load_with_header(b, len, n, r, NULL), AE_OK);
    /* a checksum that is not 8 hex digits, and a value that is not a string */
    json_object_set_new(mt, "metadata_crc32", json_string("12345z78"));
    assert_int_equal(load_with_header(b, len, n, r, NULL), AE_EFORMAT);
    json_object_set_new(mt, "later_key", json_integer(1));
    json_object_set_new(mt, "metadata_crc32", json_string("00000000"));
    assert_int_equal(load_with_header(b, len, n, r, NULL), AE_EFORMAT);
    json_decref(r);
    json_decref(root);
    free(b);
    ae_free(m);
}

static size_t biggest;
static int track_biggest(size_t bytes, void *user) {
    (void)user;
    if (bytes > biggest) biggest = bytes;
    return 0;
}

static void test_huge_config_in_small_file_allocates_nothing_big(void **state) {
    (void)state;
    ae_model *m = trained_model(0);
    char p[256];
    path_of(p, "huge_cfg.safetensors");
    assert_int_equal(ae_save(m, p), AE_OK);
    size_t len;
    unsigned char *b = slurp(p, &len);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
    json_t *root = json_loadb((const char *)b + 8, n, 0, NULL);
    assert_non_null(root);
    json_t *meta = json_object_get(root, "__metadata__");
    json_t *cfg = json_loads(json_string_value(json_object_get(meta, "config")), 0, NULL);
    assert_non_null(cfg);
    /* valid widths, 2^24 x 2^6: a 1 GiB model claimed by a file of a few KiB */
    json_object_set_new(cfg, "input_dim", json_integer(1 << 24));
    char *cfg_text = json_dumps(cfg, JSON_COMPACT);
    json_object_set_new(meta, "config", json_string(cfg_text));
    reseal(meta); /* a file that passes the checksum: the sizes must refuse it */
    char *text = json_dumps(root, JSON_COMPACT);
    size_t tl = strlen(text);
    unsigned char *nb = malloc(8 + tl + (len - 8 - n));
    assert_non_null(nb);
    for (int i = 0; i < 8; i++) nb[i] = (unsigned char)((uint64_t)tl >> (8 * i));
    memcpy(nb + 8, text, tl);
    memcpy(nb + 8 + tl, b + 8 + n, len - 8 - n);
    biggest = 0;
    ae_set_alloc_hook(track_biggest, NULL);
    ae_model *l = NULL;
    int rc = ae_load_buffer(&l, nb, 8 + tl + (len - 8 - n));
    ae_set_alloc_hook(NULL, NULL);
    assert_int_equal(rc, AE_EFORMAT);
    assert_null(strstr(ae_last_error(), "checksum"));
    assert_null(l);
    assert_true(biggest < ((size_t)1 << 20));
    /* and the buffer loader takes the untouched file */
    assert_int_equal(ae_load_buffer(&l, b, len), AE_OK);
    ae_free(l);
    assert_int_equal(ae_load_buffer(&l, b, len - 1), AE_EFORMAT);
    assert_int_equal(ae_load_buffer(&l, NULL, len), AE_EINVAL);
    assert_int_equal(ae_load_buffer(NULL, b, len), AE_EINVAL);
    free(nb);
    free(text);
    free(cfg_text);
    json_decref(cfg);
    json_decref(root);
    free(b);
    ae_free(m);
}

static void test_failed_save_keeps_previous_file(void **state) {
    (void)state;
    ae_model *m = trained_model(0);
    char p[256], bad[256];
    path_of(p, "keep.safetensors");
    assert_int_equal(ae_save(m, p), AE_OK);
    size_t len0;
    unsigned char *before = slurp(p, &len0);
    /* The target is a directory: the rename fails after a complete temporary was written. */
    path_of(bad, "adir");
    assert_int_equal(mkdir(bad, 0700), 0);
    assert_int_equal(ae_save(m, bad), AE_EIO);
    /* A folder that does not exist. */
    path_of(bad, "no/such/dir/m.safetensors");
    assert_int_equal(ae_save(m, bad), AE_EIO);
    size_t len1;
    unsigned char *after = slurp(p, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    /* No temporary file is left behind. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
    assert_int_not_equal(system(cmd), 0);
    free(before);
    free(after);
    ae_free(m);
}

/* Failed writes and reads give the path and the system's reason. */
static void test_io_failures_say_why(void **state) {
    (void)state;
    ae_model *m = trained_model(0), *l = NULL;
    char p[256], q[256];
    path_of(p, "no/such/dir/m.safetensors");
    assert_int_equal(ae_save(m, p), AE_EIO);
    said("no/such/dir/m.safetensors");
    said("No such file or directory");
    path_of(q, "why_dir");
    assert_int_equal(mkdir(q, 0700), 0);
    assert_int_equal(ae_save(m, q), AE_EIO);
    said("Is a directory");
    assert_int_equal(ae_checkpoint_save(m, q), AE_EIO);
    said("Is a directory");
    assert_int_equal(ae_load(&l, q), AE_EIO);
    said("Is a directory");
    assert_int_equal(ae_load(&l, p), AE_EIO);
    said("No such file or directory");
    path_of(p, "plain_file");
    spit(p, "x", 1);
    path_of(q, "plain_file/m.safetensors");
    assert_int_equal(ae_save(m, q), AE_EIO);
    said("Not a directory");
    assert_int_equal(ae_load(&l, p), AE_EFORMAT); /* one byte: said too */
    said("too short");
    if (geteuid() != 0) { /* root writes anywhere */
        path_of(q, "readonly");
        assert_int_equal(mkdir(q, 0500), 0);
        path_of(p, "readonly/m.safetensors");
        assert_int_equal(ae_save(m, p), AE_EIO);
        said("Permission denied");
    }
    /* a success leaves no detail behind */
    path_of(p, "fine.safetensors");
    assert_int_equal(ae_save(m, p), AE_OK);
    assert_string_equal(ae_last_error(), "");
    assert_int_equal(ae_load(&l, p), AE_OK);
    assert_string_equal(ae_last_error(), "");
    ae_free(l);
    ae_free(m);
}

static int mode_of(const char *p) {
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return (int)(st.st_mode & 07777);
}

/* A new file gets 0666 less the umask; an existing one keeps its mode. */
static void test_file_modes_kept_or_from_umask(void **state) {
    (void)state;
    ae_model *m = trained_model(0);
    char p[256];
    float x[3] = {1, 2, 3};
    const mode_t masks[] = {022, 077, 027, 002};
    for (int i = 0; i < 4; i++) {
        mode_t old = umask(masks[i]);
        path_of(p, "umask.safetensors");
        unlink(p);
        assert_int_equal(ae_save(m, p), AE_OK);
        assert_int_equal(mode_of(p), 0666 & ~(int)masks[i]);
        path_of(p, "umask.csv");
        unlink(p);
        assert_int_equal(ae_csv_save(p, x, 1, 3), AE_OK);
        assert_int_equal(mode_of(p), 0666 & ~(int)masks[i]);
        umask(old);
    }
    path_of(p, "private.safetensors");
    assert_int_equal(ae_save(m, p), AE_OK);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(ae_save(m, p), AE_OK);
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(ae_checkpoint_save(m, p), AE_OK);
    assert_int_equal(mode_of(p), 0640);
    ae_free(m);
}

static int is_link(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

/* A save through a symbolic link writes the file it points to (relative links from the link's
 * folder, chains, a link to a file not there yet); the link stays a link. */
static void test_save_writes_through_symbolic_links(void **state) {
    (void)state;
    ae_model *m = trained_model(0), *l;
    char p[256], link[256], chain[256], target[256];
    path_of(p, "sub");
    assert_int_equal(mkdir(p, 0700), 0);
    path_of(target, "sub/real.safetensors");
    path_of(link, "sub/link.safetensors");
    assert_int_equal(symlink("real.safetensors", link), 0); /* relative to sub/ */
    path_of(chain, "chain.safetensors");
    assert_int_equal(symlink("sub/link.safetensors", chain), 0);
    assert_int_equal(ae_save(m, chain), AE_OK); /* the target does not exist yet */
    assert_true(is_link(chain));
    assert_true(is_link(link));
    assert_int_equal(ae_load(&l, target), AE_OK);
    ae_free(l);
    assert_int_equal(chmod(target, 0604), 0);
    assert_int_equal(ae_save(m, link), AE_OK); /* again, over the existing target */
    assert_true(is_link(link));
    assert_int_equal(mode_of(target), 0604);
    assert_int_equal(ae_load(&l, chain), AE_OK);
    ae_free(l);
    /* a loop is refused, with the reason */
    path_of(p, "loop_a");
    path_of(link, "loop_b");
    assert_int_equal(symlink("loop_b", p), 0);
    assert_int_equal(symlink("loop_a", link), 0);
    assert_int_equal(ae_save(m, p), AE_EIO);
    said("Too many levels of symbolic links");
    ae_free(m);
}

/* Stale temporaries of the file being saved (a save killed mid-way) are removed; a live save's
 * (it holds a lock), another file's and names that only look alike are left. */
static void test_stale_temporaries_removed(void **state) {
    (void)state;
    ae_model *m = trained_model(0);
    char p[256], stale[256], live[256], other[256], alike[256];
    path_of(p, "t.safetensors");
    path_of(stale, "t.safetensors.tmp.AbC123");
    path_of(live, "t.safetensors.tmp.Live99");
    path_of(other, "u.safetensors.tmp.AbC123");
    path_of(alike, "t.safetensors.tmp.AbC12");
    spit(stale, "left by kill -9", 15);
    spit(other, "another file's", 14);
    spit(alike, "not a temporary's name", 22);
    spit(live, "a save in progress", 18);
    int fd = open(live, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(ae_save(m, p), AE_OK);
    assert_int_not_equal(access(stale, F_OK), 0);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(access(alike, F_OK), 0);
    close(fd); /* the "save in progress" died: the next save removes it */
    assert_int_equal(ae_save(m, p), AE_OK);
    assert_int_not_equal(access(live, F_OK), 0);
    unlink(other);
    unlink(alike);
    ae_free(m);
}

/* Counts the entries of the test folder. */
static int entries(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "exit $(ls -A %s | wc -l)", dir);
    return WEXITSTATUS(system(cmd));
}

/* ae_output_check: what a save would meet, found up front, leaving nothing behind. */
static void test_output_check(void **state) {
    (void)state;
    char p[256];
    const int before = entries();
    path_of(p, "new.safetensors");
    assert_int_equal(ae_output_check(p), AE_OK);
    assert_int_equal(entries(), before); /* proved by a temporary, removed */
    assert_int_not_equal(access(p, F_OK), 0);
    path_of(p, "existing.csv");
    spit(p, "1,2\n", 4);
    assert_int_equal(ae_output_check(p), AE_OK);
    size_t len;
    unsigned char *b = slurp(p, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(b, "1,2\n", 4);
    free(b);
    path_of(p, "missing/x.npy");
    assert_int_equal(ae_output_check(p), AE_EIO);
    said("No such file or directory");
    path_of(p, "check_dir");
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(ae_output_check(p), AE_EIO);
    said("Is a directory");
    path_of(p, "existing.csv/x");
    assert_int_equal(ae_output_check(p), AE_EIO);
    said("Not a directory");
    assert_int_equal(ae_output_check("/dev/null"), AE_EIO); /* never renamed over */
    said("not a regular file");
    assert_int_equal(ae_output_check(NULL), AE_EINVAL);
    assert_int_equal(ae_output_check(""), AE_EINVAL);
    unlink(p);
}

/* ae_create refuses a config whose training would pass the memory limit, before allocating,
 * and says how much and which limit; ae_load is not held to it (the file holds the weights). */
static int count_allocs(size_t bytes, void *user) {
    (void)bytes;
    ++*(size_t *)user;
    return 0;
}

static void test_memory_limit_holds_create_not_load(void **state) {
    (void)state;
    assert_int_equal(ae_memory_limit(), AE_MEMORY_LIMIT_DEFAULT);
    ae_config c = ae_config_default();
    c.input_dim = 4;
    c.n_hidden = 1;
    c.hidden[0] = (size_t)1 << 24; /* what `ae train --hidden 16777216` asked for */
    c.code_dim = 1;
    ae_model *m = (ae_model *)0x1;
    size_t allocs = 0;
    ae_set_alloc_hook(count_allocs, &allocs);
    int rc = ae_create(&m, &c);
    ae_set_alloc_hook(NULL, NULL);
    assert_int_equal(rc, AE_ENOMEM);
    assert_null(m);
    assert_int_equal(allocs, 0);
    said("this model (201326624 parameters) needs about 36.50 GiB to train, above the memory limit of 4.00 GiB");
    /* a small model under a limit lowered below it, then the limit lifted */
    ae_model *small = trained_model(0), *l;
    char p[256];
    path_of(p, "limited.safetensors");
    assert_int_equal(ae_save(small, p), AE_OK);
    ae_config sc;
    ae_get_config(small, &sc);
    assert_int_equal(ae_set_memory_limit(1000), AE_OK);
    assert_int_equal(ae_memory_limit(), 1000);
    assert_int_equal(ae_create(&m, &sc), AE_ENOMEM);
    said("memory limit");
    assert_int_equal(ae_load(&l, p), AE_OK); /* loading is not limited */
    ae_free(l);
    assert_int_equal(ae_set_memory_limit(1 << 20), AE_OK);
    assert_int_equal(ae_create(&m, &sc), AE_OK);
    ae_free(m);
    assert_int_equal(ae_set_memory_limit(AE_MEMORY_LIMIT_DEFAULT), AE_OK);
    ae_free(small);
}

/* Trains for `epochs` in all, in one go or through a checkpoint after `stop` epochs. */
static ae_model *train_through(ae_optimizer kind, int epochs, int stop, const char *ckpt) {
    ae_config c = ae_config_default();
    c.input_dim = 10;
    c.n_hidden = 1;
    c.hidden[0] = 7;
    c.code_dim = 3;
    c.seed = 5;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    static float x[50 * 10];
    test_fill(x, 500, 21, 0, 1);
    ae_train_opts o = ae_train_opts_default();
    o.optimizer = kind;
    o.momentum = kind == AE_OPT_SGD ? 0.9f : 0.0f;
    o.learning_rate = kind == AE_OPT_SGD ? 0.05f : 1e-2f;
    o.batch_size = 16; /* 50 = 3 * 16 + 2 */
    o.dropout = 0.1f;
    o.noise = AE_NOISE_GAUSSIAN;
    o.noise_level = 0.1f;
    o.epochs = stop ? stop : epochs;
    o.checkpoint_path = ckpt;
    o.checkpoint_every = stop ? stop : 0;
    assert_int_equal(ae_train(m, x, 50, &o), AE_OK);
    if (!stop) return m;
    ae_free(m); /* "the process ends": all that is left is the checkpoint */
    assert_int_equal(ae_checkpoint_load(&m, ckpt), AE_OK);
    assert_int_equal(ae_epochs_done(m), stop);
    o.epochs = epochs;
    o.resume = 1;
    o.checkpoint_every = 0;
    assert_int_equal(ae_train(m, x, 50, &o), AE_OK);
    return m;
}

static void test_resume_from_checkpoint_is_bitwise(void **state) {
    (void)state;
    const ae_optimizer kinds[3] = {AE_OPT_ADAM, AE_OPT_ADAMW, AE_OPT_SGD};
    char p[256];
    path_of(p, "ckpt.safetensors");
    for (int k = 0; k < 3; k++) {
        ae_model *straight = train_through(kinds[k], 5, 0, NULL);
        ae_model *resumed = train_through(kinds[k], 5, 2, p);
        assert_int_equal(ae_epochs_done(straight), 5);
        assert_int_equal(ae_epochs_done(resumed), 5);
        assert_memory_equal(straight->params, resumed->params, straight->n_params * sizeof(float));
        assert_memory_equal(straight->opt.m, resumed->opt.m, straight->n_params * sizeof(float));
        ae_free(straight);
        ae_free(resumed);
    }
}

static int count_epoch(const ae_epoch_stats *s, void *user) {
    (void)s;
    ++*(int *)user;
    return 0;
}

static void test_checkpoint_misuse_refused(void **state) {
    (void)state;
    ae_config c = ae_config_default();
    c.input_dim = 6;
    c.code_dim = 2;
    ae_model *m, *l;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    char p[256], q[256];
    path_of(p, "never.safetensors");
    assert_int_equal(ae_checkpoint_save(m, p), AE_EINVAL); /* never trained */
    float x[8 * 6];
    test_fill(x, 48, 4, 0, 1);
    ae_train_opts o = ae_train_opts_default();
    o.resume = 1;
    assert_int_equal(ae_train(m, x, 8, &o), AE_EINVAL); /* nothing to resume */
    o.resume = 0;
    o.checkpoint_every = 1; /* no path */
    assert_int_equal(ae_train(m, x, 8, &o), AE_EINVAL);
    o.checkpoint_every = 0;
    o.epochs = 2;
    assert_int_equal(ae_train(m, x, 8, &o), AE_OK);
    o.resume = 1;
    o.optimizer = AE_OPT_SGD; /* a different optimizer's state */
    assert_int_equal(ae_train(m, x, 8, &o), AE_EINVAL);
    assert_int_equal(ae_checkpoint_save(m, p), AE_OK);
    assert_int_equal(ae_load(&l, p), AE_OK); /* a checkpoint is a model file too */
    assert_int_equal(ae_epochs_done(l), 2);
    ae_free(l);
    path_of(q, "plain.safetensors");
    assert_int_equal(ae_save(m, q), AE_OK);
    assert_int_equal(ae_checkpoint_load(&l, q), AE_EFORMAT); /* no state in a plain file */
    assert_null(l);
    o.checkpoint_every = 1; /* a checkpoint that cannot be written is refused before the first epoch */
    o.checkpoint_path = "/nonexistent-dir/c.safetensors";
    o.resume = 0;
    o.optimizer = AE_OPT_ADAM;
    int epochs_seen = 0;
    o.on_epoch = count_epoch;
    o.user = &epochs_seen;
    float before[8 * 6], after[8 * 6];
    assert_int_equal(ae_reconstruct(m, x, 8, before), AE_OK);
    assert_int_equal(ae_train(m, x, 8, &o), AE_EIO);
    said("checkpoint: /nonexistent-dir/c.safetensors: folder /nonexistent-dir: No such file or directory");
    assert_int_equal(epochs_seen, 0);
    assert_int_equal(ae_reconstruct(m, x, 8, after), AE_OK);
    assert_memory_equal(before, after, sizeof before); /* not one step taken */
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_order_known_patterns),
        cmocka_unit_test(test_round_trip_is_bitwise),
        cmocka_unit_test(test_file_is_safetensors_with_contract_names),
        cmocka_unit_test(test_vae_round_trip_and_head_names),
        cmocka_unit_test(test_resume_from_checkpoint_is_bitwise),
        cmocka_unit_test(test_checkpoint_misuse_refused),
        cmocka_unit_test(test_damaged_files_refused),
        cmocka_unit_test(test_failed_save_keeps_previous_file),
        cmocka_unit_test(test_huge_config_in_small_file_allocates_nothing_big),
        cmocka_unit_test(test_metadata_checksum_covers_every_key),
        cmocka_unit_test(test_io_failures_say_why),
        cmocka_unit_test(test_file_modes_kept_or_from_umask),
        cmocka_unit_test(test_save_writes_through_symbolic_links),
        cmocka_unit_test(test_stale_temporaries_removed),
        cmocka_unit_test(test_output_check),
        cmocka_unit_test(test_memory_limit_holds_create_not_load),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
