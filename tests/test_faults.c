/* Fault injection: every allocation reached by create, train, inference, save, load and the
 * data readers is made to fail in turn (the k-th one, for k = 1, 2, ... until a call makes
 * fewer than k). Each failure must come back as AE_ENOMEM, leak nothing (the sanitizer build
 * runs this with LeakSanitizer) and leave the model usable and any saved file intact.
 * jansson's and zlib's allocations go through the library's allocator, so they are walked too. */
#define _GNU_SOURCE /* mkdtemp */
#include "test_util.h"

#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io_file.h"
#include "model.h"

static size_t fail_at, seen; /* fail the fail_at-th allocation; 0: none */

static int failing_hook(size_t bytes, void *user) {
    (void)bytes;
    (void)user;
    return ++seen == fail_at;
}

static void arm(size_t k) {
    fail_at = k;
    seen = 0;
    ae_set_alloc_hook(failing_hook, NULL);
}

static void disarm(void) { ae_set_alloc_hook(NULL, NULL); }

static char dir[64];
static const char *path_of(const char *name) {
    static char p[4][256];
    static int i;
    i = (i + 1) & 3;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ae_faults_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

enum { N = 40, D = 12 };
static float x[N * D];

static ae_config config(int vae) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.code_dim = 3;
    c.variational = vae;
    return c;
}

/* The fingerprint of a usable model: its reconstruction of x (which must succeed). */
static void fingerprint(const ae_model *m, float *out) {
    assert_int_equal(ae_reconstruct(m, x, N, out), AE_OK);
    for (int i = 0; i < N * D; i++) assert_true(isfinite(out[i]));
}

typedef int (*op_fn)(ae_model *m, void *ctx);

/* Walks op's allocations; returns how many there were. */
static size_t walk(const char *name, ae_model *m, op_fn op, void *ctx, int check_unchanged) {
    float before[N * D], after[N * D];
    if (m) fingerprint(m, before);
    size_t k;
    for (k = 1;; k++) {
        arm(k);
        int rc = op(m, ctx);
        size_t made = seen;
        disarm();
        if (made < k) { /* the call made fewer than k allocations: nothing failed */
            assert_int_equal(rc, AE_OK);
            break;
        }
        if (rc != AE_ENOMEM) print_error("%s: allocation %zu failed, status %d\n", name, k, rc);
        assert_int_equal(rc, AE_ENOMEM);
        if (m) { /* still usable, and untouched by a call that failed up front */
            fingerprint(m, after);
            if (check_unchanged) assert_memory_equal(before, after, sizeof before);
        }
    }
    printf("[ faults ] %-13s %4zu allocation sites walked\n", name, k - 1);
    return k - 1;
}

static int op_create(ae_model *m, void *ctx) {
    (void)m;
    ae_model *made = (ae_model *)0x1;
    int rc = ae_create(&made, (const ae_config *)ctx);
    if (rc != AE_OK) assert_null(made);
    ae_free(made);
    return rc;
}

static int op_train(ae_model *m, void *ctx) {
    (void)ctx;
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 16;
    o.dropout = m->cfg.variational ? 0.0f : 0.1f;
    o.noise = AE_NOISE_MASK;
    o.noise_level = 0.1f;
    o.val_x = x;
    o.val_n = 10;
    o.patience = 5;
    return ae_train(m, x, N, &o);
}

/* Streaming from a file in blocks of 32 rows (a reader thread allocates as it reads), and
 * incremental training with rows held between calls. */
static int op_stream(ae_model *m, void *ctx) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 16;
    return ae_train_stream(m, (const char *)ctx, &o, 32);
}

/* A stream with a checkpoint after every block: the place goes into the checkpoint's state. */
static char stream_ckpt[256];
static int op_stream_ckpt(ae_model *m, void *ctx) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 16;
    o.checkpoint_path = stream_ckpt;
    o.checkpoint_every_blocks = 1;
    return ae_train_stream(m, (const char *)ctx, &o, 16);
}

static int op_partial(ae_model *m, void *ctx) {
    (void)ctx;
    ae_train_opts o = ae_train_opts_default();
    o.batch_size = 16;
    int rc = ae_train_partial(m, x, 21, &o);
    if (rc == AE_OK) rc = ae_train_partial(m, x + 21 * D, N - 21, &o);
    if (rc == AE_OK) rc = ae_train_partial_flush(m, &o);
    return rc;
}

static int op_infer(ae_model *m, void *ctx) {
    (void)ctx;
    float code[N * 3], out[N * D], err[N];
    int rc = ae_encode(m, x, N, code);
    if (rc == AE_OK) rc = ae_decode(m, code, N, out);
    if (rc == AE_OK) rc = ae_score(m, x, N, err);
    if (rc == AE_OK) rc = ae_reconstruct(m, x, N, out);
    if (rc == AE_OK && m->cfg.variational) rc = ae_sample(m, 5, out);
    return rc;
}

static int op_anomaly(ae_model *m, void *ctx) {
    (void)ctx;
    float feat[N * D], scores[N];
    unsigned char flags[N];
    int rc = ae_score_features(m, x, N, feat);
    if (rc == AE_OK) rc = ae_threshold_calibrate(m, x, N, AE_THRESHOLD_QUANTILE, 0.9, NULL);
    if (rc == AE_OK) rc = ae_flag(m, x, N, flags, NULL);
    if (rc == AE_OK) rc = ae_flag(m, x, N, flags, scores);
    return rc;
}

static int head_train(ae_model *m, int freeze) {
    float y[N];
    for (int i = 0; i < N; i++) y[i] = (float)(i % 3);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 16;
    o.patience = 5;
    return ae_head_train(m, x, N, y, freeze, &o);
}

/* A head replaced (the old one stays when that fails), trained on the frozen encoder (which
 * leaves the reconstruction alone), used. */
static int op_head(ae_model *m, void *ctx) {
    (void)ctx;
    float y[N], p[N * 3];
    int32_t lab[N];
    for (int i = 0; i < N; i++) y[i] = (float)(i % 3);
    int rc = ae_head_create(m, AE_HEAD_SOFTMAX, 3);
    if (rc == AE_OK) rc = head_train(m, 1);
    if (rc == AE_OK) rc = ae_head_predict(m, x, N, p);
    if (rc == AE_OK) rc = ae_head_classify(m, x, N, lab);
    if (rc == AE_OK) rc = ae_head_evaluate(m, x, N, y, NULL, NULL);
    return rc;
}

/* Fine-tuning the encoder under the head: a failure leaves the model as it was. */
static int op_head_finetune(ae_model *m, void *ctx) {
    (void)ctx;
    return head_train(m, 0);
}

static int op_pretrain(ae_model *m, void *ctx) {
    (void)ctx;
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 16;
    return ae_pretrain_layerwise(m, x, N, &o, 1);
}

static int op_save(ae_model *m, void *ctx) { return ae_save(m, (const char *)ctx); }
static int op_csv_save(ae_model *m, void *ctx) {
    (void)m;
    return ae_csv_save((const char *)ctx, x, N, D);
}
static int op_output_check(ae_model *m, void *ctx) {
    (void)m;
    return ae_output_check((const char *)ctx);
}
static int op_checkpoint_save(ae_model *m, void *ctx) { return ae_checkpoint_save(m, (const char *)ctx); }

static int op_load(ae_model *m, void *ctx) {
    (void)m;
    ae_model *l = (ae_model *)0x1;
    int rc = ae_load(&l, (const char *)ctx);
    if (rc != AE_OK) assert_null(l);
    ae_free(l);
    return rc;
}

static int op_data(ae_model *m, void *ctx) {
    (void)m;
    ae_data d;
    int rc = ae_data_load((const char *)ctx, &d);
    if (rc != AE_OK) assert_null(d.x);
    ae_data_free(&d);
    return rc;
}

/* ae_data_info, then the last row with ae_data_load_range (which reads to the end). */
static int op_data_range(ae_model *m, void *ctx) {
    (void)m;
    size_t rows, cols;
    ae_data d = {NULL, 0, 0};
    int rc = ae_data_info((const char *)ctx, &rows, &cols);
    if (rc == AE_OK) rc = ae_data_load_range((const char *)ctx, rows - 1, 1, &d);
    if (rc != AE_OK) assert_null(d.x);
    ae_data_free(&d);
    return rc;
}

static void write_file(const char *path, const void *b, size_t n, int gz) {
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, b, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b, 1, n, f), n);
        fclose(f);
    }
}

static void test_every_allocation_fails_cleanly(void **state) {
    (void)state;
    test_fill(x, N * D, 9, 0, 1);
    size_t total = 0;
    for (int vae = 0; vae < 2; vae++) {
        ae_config c = config(vae);
        total += walk(vae ? "create vae" : "create", NULL, op_create, &c, 0);
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        total += walk(vae ? "train vae" : "train", m, op_train, NULL, 1);
        total += walk(vae ? "infer vae" : "infer", m, op_infer, NULL, !vae);
        const char *p = path_of("m.safetensors");
        assert_int_equal(ae_save(m, p), AE_OK);
        FILE *f = fopen(p, "rb");
        assert_non_null(f);
        unsigned char saved[16384];
        size_t len = fread(saved, 1, sizeof saved, f);
        fclose(f);
        total += walk(vae ? "save vae" : "save", m, op_save, (void *)p, 1);
        /* the file a failed save was to replace is the one saved before */
        unsigned char now[16384];
        f = fopen(p, "rb");
        assert_non_null(f);
        assert_int_equal(fread(now, 1, sizeof now, f), len);
        fclose(f);
        assert_memory_equal(saved, now, len);
        total += walk(vae ? "load vae" : "load", NULL, op_load, (void *)p, 0);
        const char *ck = path_of("c.safetensors"); /* the walk's last train succeeded: state exists */
        total += walk(vae ? "ckpt save vae" : "ckpt save", m, op_checkpoint_save, (void *)ck, 1);
        total += walk(vae ? "ckpt load vae" : "ckpt load", NULL, op_load, (void *)ck, 0);
        total += walk(vae ? "anomaly vae" : "anomaly", m, op_anomaly, NULL, !vae);
        total += walk(vae ? "head vae" : "head", m, op_head, NULL, !vae);
        total += walk(vae ? "fine-tune vae" : "fine-tune", m, op_head_finetune, NULL, !vae);
        if (!vae) total += walk("pretrain", m, op_pretrain, NULL, 1);
        if (!vae) {
            const char *sp = path_of("stream.npy");
            assert_int_equal(ae_npy_save(sp, x, N, D), AE_OK);
            total += walk("stream", m, op_stream, (void *)sp, 0);
            /* files read in order: a gzip copy (one inflate state) and a CSV (a line buffer) */
            FILE *sf = fopen(sp, "rb");
            assert_non_null(sf);
            unsigned char bytes[8192];
            const size_t nbytes = fread(bytes, 1, sizeof bytes, sf);
            fclose(sf);
            const char *sz = path_of("stream.npy.gz"), *sc = path_of("stream.csv");
            write_file(sz, bytes, nbytes, 1);
            assert_int_equal(ae_csv_save(sc, x, N, D), AE_OK);
            total += walk("stream gzip", m, op_stream, (void *)sz, 0);
            total += walk("stream csv", m, op_stream, (void *)sc, 0);
            snprintf(stream_ckpt, sizeof stream_ckpt, "%s", path_of("stream.ckpt"));
            sp = path_of("stream.npy"); /* path_of's buffers go round */
            total += walk("stream ckpt", m, op_stream_ckpt, (void *)sp, 0);
            remove(stream_ckpt);
            total += walk("partial", m, op_partial, NULL, 0);
            remove(sp);
            remove(sz);
            remove(sc);
        }
        /* the model file with a head and a threshold */
        total += walk(vae ? "save+head vae" : "save+head", m, op_save, (void *)p, 1);
        total += walk(vae ? "load+head vae" : "load+head", NULL, op_load, (void *)p, 0);
        ae_free(m);
    }
    /* the data readers: IDX (plain and gzip), .npy, CSV */
    unsigned char idx[16 + 2 * 6] = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
    write_file(path_of("a.idx"), idx, sizeof idx, 0);
    write_file(path_of("a.idx.gz"), idx, sizeof idx, 1);
    const char *csv = "a,b\n1,2\n3,4\n";
    write_file(path_of("a.csv"), csv, strlen(csv), 0);
    assert_int_equal(ae_npy_save(path_of("a.npy"), x, N, D), AE_OK);
    total += walk("idx", NULL, op_data, (void *)path_of("a.idx"), 0);
    total += walk("idx.gz", NULL, op_data, (void *)path_of("a.idx.gz"), 0);
    total += walk("csv", NULL, op_data, (void *)path_of("a.csv"), 0);
    total += walk("npy", NULL, op_data, (void *)path_of("a.npy"), 0);
    total += walk("idx range", NULL, op_data_range, (void *)path_of("a.idx"), 0);
    total += walk("idx.gz range", NULL, op_data_range, (void *)path_of("a.idx.gz"), 0);
    total += walk("npy range", NULL, op_data_range, (void *)path_of("a.npy"), 0);
    total += walk("csv range", NULL, op_data_range, (void *)path_of("a.csv"), 0);
    /* the CSV writer and the up-front check; a save through a symbolic link */
    total += walk("csv save", NULL, op_csv_save, (void *)path_of("w.csv"), 0);
    total += walk("output check", NULL, op_output_check, (void *)path_of("w.csv"), 0);
    assert_int_equal(symlink("w.csv", path_of("link.csv")), 0);
    total += walk("csv via link", NULL, op_csv_save, (void *)path_of("link.csv"), 0);
    printf("[ faults ] %zu allocation sites walked in all\n", total);
    assert_true(total > 40);
}

/* The layer kinds beyond dense: a conv model (1 x 3 x 4 images) and GRU and LSTM sequence
 * models (4 steps of 3 values) through create, train, inference, save, load and checkpoints. */
static void test_structured_models_fail_cleanly(void **state) {
    (void)state;
    test_fill(x, N * D, 9, 0, 1);
    size_t total = 0;
    for (int kind = 0; kind < 3; kind++) {
        static const char *const names[3] = {"conv", "gru", "lstm"};
        char what[48];
        ae_config c = config(0);
        if (kind == 0) {
            c.input_shape[0] = 1;
            c.input_shape[1] = 3;
            c.input_shape[2] = 4;
            c.n_conv = 1;
            c.conv[0] = (ae_conv_spec){2, 3, 2};
        } else {
            c.rnn = kind == 1 ? AE_RNN_GRU : AE_RNN_LSTM;
            c.seq_len = 4;
            c.seq_features = 3;
        }
        snprintf(what, sizeof what, "create %s", names[kind]);
        total += walk(what, NULL, op_create, &c, 0);
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        snprintf(what, sizeof what, "train %s", names[kind]);
        total += walk(what, m, op_train, NULL, 1);
        snprintf(what, sizeof what, "infer %s", names[kind]);
        total += walk(what, m, op_infer, NULL, 1);
        const char *p = path_of("s.safetensors"), *ck = path_of("sc.safetensors");
        assert_int_equal(ae_save(m, p), AE_OK);
        snprintf(what, sizeof what, "save %s", names[kind]);
        total += walk(what, m, op_save, (void *)p, 1);
        snprintf(what, sizeof what, "load %s", names[kind]);
        total += walk(what, NULL, op_load, (void *)p, 0);
        snprintf(what, sizeof what, "ckpt save %s", names[kind]);
        total += walk(what, m, op_checkpoint_save, (void *)ck, 1);
        snprintf(what, sizeof what, "ckpt load %s", names[kind]);
        total += walk(what, NULL, op_load, (void *)ck, 0);
        assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 3), AE_OK);
        snprintf(what, sizeof what, "fine-tune %s", names[kind]);
        total += walk(what, m, op_head_finetune, NULL, 1);
        ae_free(m);
    }
    printf("[ faults ] %zu allocation sites walked over conv and recurrent models\n", total);
    assert_true(total > 60);
}

/* A disk that fills up after `limit` bytes of the file. */
static size_t full_disk(size_t written, size_t n, void *user) {
    size_t limit = *(size_t *)user;
    return written >= limit ? 0 : limit - written < n ? limit - written : n;
}

static void test_interrupted_save_keeps_old_file(void **state) {
    (void)state;
    test_fill(x, N * D, 9, 0, 1);
    ae_config c = config(0);
    ae_model *old, *next;
    c.seed = 1;
    assert_int_equal(ae_create(&old, &c), AE_OK);
    c.seed = 2;
    assert_int_equal(ae_create(&next, &c), AE_OK);
    const char *p = path_of("keep.safetensors");
    assert_int_equal(ae_save(old, p), AE_OK);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    static unsigned char before[16384], after[16384];
    size_t len = fread(before, 1, sizeof before, f);
    fclose(f);
    float want[N * D], got[N * D];
    fingerprint(old, want);
    /* The new model's file is as long as the old one: stop the write at every byte of it. */
    size_t walked = 0;
    for (size_t limit = 0; limit < len; limit++) {
        ae_set_write_hook(full_disk, &limit);
        int rc = ae_save(next, p);
        ae_set_write_hook(NULL, NULL);
        assert_int_equal(rc, AE_EIO);
        f = fopen(p, "rb");
        assert_non_null(f);
        assert_int_equal(fread(after, 1, sizeof after, f), len);
        fclose(f);
        assert_memory_equal(before, after, len);
        walked++;
    }
    ae_model *l;
    assert_int_equal(ae_load(&l, p), AE_OK);
    fingerprint(l, got);
    assert_memory_equal(want, got, sizeof want);
    ae_free(l);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir); /* no temporary left behind */
    assert_int_not_equal(system(cmd), 0);
    printf("[ faults ] save interrupted at each of %zu bytes: old file intact\n", walked);
    ae_free(old);
    ae_free(next);
}

static size_t file_bytes(const char *p, unsigned char *buf, size_t cap) {
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    size_t len = fread(buf, 1, cap, f);
    fclose(f);
    return len;
}

static void no_temporary_left(void) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
    assert_int_not_equal(system(cmd), 0);
}

/* The CSV writer on a disk that fills at every byte of its output: the file that was there
 * stays whole, the failure says "No space left on device", no temporary stays. */
static void test_interrupted_csv_keeps_old_file(void **state) {
    (void)state;
    test_fill(x, N * D, 9, 0, 1);
    const char *p = path_of("keep.csv");
    assert_int_equal(ae_csv_save(p, x, 2, D), AE_OK); /* the old file: 2 rows */
    static unsigned char before[65536], after[65536];
    const size_t len = file_bytes(p, before, sizeof before);
    assert_int_equal(ae_csv_save(path_of("full.csv"), x, N, D), AE_OK);
    const size_t full = file_bytes(path_of("full.csv"), after, sizeof after);
    assert_true(full > len && full < sizeof after);
    size_t walked = 0;
    for (size_t limit = 0; limit < full; limit += 1 + limit / 64) {
        ae_set_write_hook(full_disk, &limit);
        int rc = ae_csv_save(p, x, N, D);
        ae_set_write_hook(NULL, NULL);
        assert_int_equal(rc, AE_EIO);
        assert_non_null(strstr(ae_last_error(), "No space left on device"));
        assert_int_equal(file_bytes(p, after, sizeof after), len);
        assert_memory_equal(before, after, len);
        walked++;
    }
    no_temporary_left();
    printf("[ faults ] CSV save interrupted at %zu places: old file intact\n", walked);
}

/* A checkpoint that hits a full disk mid-run: training stops with AE_EIO after that epoch,
 * says it was the checkpoint and why, and the model keeps the epochs done, usable; an older
 * checkpoint at the path survives. */
static void test_checkpoint_on_full_disk_keeps_the_run(void **state) {
    (void)state;
    test_fill(x, N * D, 9, 0, 1);
    ae_config c = config(0);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    const char *ck = path_of("run.ckpt");
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 16;
    assert_int_equal(ae_train(m, x, N, &o), AE_OK);
    assert_int_equal(ae_checkpoint_save(m, ck), AE_OK); /* an older checkpoint */
    static unsigned char before[65536], after[65536];
    const size_t len = file_bytes(ck, before, sizeof before);
    o.epochs = 4;
    o.checkpoint_path = ck;
    o.checkpoint_every = 2;
    size_t limit = 100;
    ae_set_write_hook(full_disk, &limit);
    int rc = ae_train(m, x, N, &o);
    ae_set_write_hook(NULL, NULL);
    assert_int_equal(rc, AE_EIO);
    if (!strstr(ae_last_error(), "checkpoint after epoch 2: cannot write")) print_error("%s\n", ae_last_error());
    assert_non_null(strstr(ae_last_error(), "checkpoint after epoch 2: cannot write"));
    assert_non_null(strstr(ae_last_error(), "run.ckpt: No space left on device"));
    assert_int_equal(ae_epochs_done(m), 2);
    float out[N * D];
    fingerprint(m, out);
    assert_int_equal(file_bytes(ck, after, sizeof after), len);
    assert_memory_equal(before, after, len);
    no_temporary_left();
    /* the model of those two epochs saves (the caller's rescue) */
    assert_int_equal(ae_save(m, path_of("rescued.safetensors")), AE_OK);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_cleanly),
        cmocka_unit_test(test_structured_models_fail_cleanly),
        cmocka_unit_test(test_interrupted_save_keeps_old_file),
        cmocka_unit_test(test_interrupted_csv_keeps_old_file),
        cmocka_unit_test(test_checkpoint_on_full_disk_keeps_the_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
