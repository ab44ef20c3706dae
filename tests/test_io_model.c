/* The model file: round trip bit for bit, safetensors layout, and every kind of damage
 * refused with a clear status while the previous file survives. */
#define _GNU_SOURCE /* memmem */
#include "test_util.h"

#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    const char *names[] = {"encoder.0.weight", "encoder.0.bias", "encoder.mu.weight", "encoder.mu.bias",
                           "encoder.logvar.weight", "encoder.logvar.bias", "decoder.0.weight",
                           "decoder.0.bias", "decoder.1.weight", "decoder.1.bias"};
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
        const size_t shapes[][2] = {{7, 10}, {7, 0}, {5, 7}, {5, 0}, {3, 5}, {3, 0},
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
                memcpy(&w0, b + 8 + n + json_integer_value(json_array_get(off, 0)), 4);
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
    o.checkpoint_every = 1; /* a checkpoint that cannot be written stops training */
    o.checkpoint_path = "/nonexistent-dir/c.safetensors";
    o.resume = 0;
    o.optimizer = AE_OPT_ADAM;
    assert_int_equal(ae_train(m, x, 8, &o), AE_EIO);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_bitwise),
        cmocka_unit_test(test_file_is_safetensors_with_contract_names),
        cmocka_unit_test(test_vae_round_trip_and_head_names),
        cmocka_unit_test(test_resume_from_checkpoint_is_bitwise),
        cmocka_unit_test(test_checkpoint_misuse_refused),
        cmocka_unit_test(test_damaged_files_refused),
        cmocka_unit_test(test_failed_save_keeps_previous_file),
        cmocka_unit_test(test_huge_config_in_small_file_allocates_nothing_big),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
