#define _POSIX_C_SOURCE 200809L /* truncate */
/* ae_train_stream: blocks of a file, read ahead on a thread. One block equals ae_train bit for
 * bit; every row is trained once an epoch for any buffer size; runs are deterministic per
 * seed; a gzip file gives the plain file's bits; a file cut short mid-run stops training with
 * the reason and leaves the last checkpoint. */
#include "test_util.h"

#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "model.h"
#include "train.h"

enum { N = 300, D = 12, B = 16 };

static float X[N * D];

static ae_config config(void) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.code_dim = 3;
    return c;
}

static ae_train_opts opts(void) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = B;
    return o;
}

static const char *npy = "test_stream.npy";

static int setup(void **state) {
    (void)state;
    test_fill(X, N * D, 3, 0.0f, 1.0f);
    return ae_npy_save(npy, X, N, D) == AE_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    remove(npy);
    return 0;
}

static ae_model *stream_model_shuffle(const char *path, size_t buffer_rows, int shuffle, int expect) {
    ae_config c = config();
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = opts();
    o.shuffle = shuffle;
    assert_int_equal(ae_train_stream(m, path, &o, buffer_rows), expect);
    return m;
}

static ae_model *stream_model(const char *path, size_t buffer_rows, int expect) {
    return stream_model_shuffle(path, buffer_rows, 1, expect);
}

static int same_params(const ae_model *a, const ae_model *b) {
    return memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0;
}

static void test_one_block_is_ae_train(void **state) {
    (void)state;
    ae_set_threads(1);
    ae_config c = config();
    ae_model *a;
    assert_int_equal(ae_create(&a, &c), AE_OK);
    ae_train_opts o = opts();
    assert_int_equal(ae_train(a, X, N, &o), AE_OK);
    ae_model *b = stream_model(npy, 0, AE_OK); /* the default buffer holds the whole file */
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    ae_free(a);
    ae_free(b);
}

/* Determinism per seed. A gzip copy of the file is read in order (its blocks in file order,
 * rows shuffled within each): without shuffling it gives the plain file's bits; with
 * shuffling its own, the same each run, and not the plain file's (whose block order is
 * shuffled too). */
static void write_gzip(const char *from, const char *gz) {
    FILE *f = fopen(from, "rb");
    gzFile g = gzopen(gz, "wb");
    assert_non_null(f);
    assert_non_null(g);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) assert_int_equal(gzwrite(g, buf, (unsigned)got), (int)got);
    fclose(f);
    assert_int_equal(gzclose(g), Z_OK);
}

static void test_blocks_deterministic_and_gzip(void **state) {
    (void)state;
    const char *gz = "test_stream.npy.gz";
    write_gzip(npy, gz);
    const size_t sizes[3] = {B, 56, 100}; /* a batch, 3.5 batches (rounded down), 6.25 */
    for (int i = 0; i < 3; i++) {
        ae_model *a = stream_model(npy, sizes[i], AE_OK), *b = stream_model(npy, sizes[i], AE_OK);
        ae_model *z = stream_model(gz, sizes[i], AE_OK), *z2 = stream_model(gz, sizes[i], AE_OK);
        ae_model *p0 = stream_model_shuffle(npy, sizes[i], 0, AE_OK),
                 *z0 = stream_model_shuffle(gz, sizes[i], 0, AE_OK);
        assert_true(same_params(a, b));
        assert_true(same_params(z, z2));
        assert_true(same_params(p0, z0));
        assert_false(same_params(a, z)); /* the plain file's block order is shuffled */
        ae_free(a);
        ae_free(b);
        ae_free(z);
        ae_free(z2);
        ae_free(p0);
        ae_free(z0);
    }
    remove(gz);
}

/* fit's block mode on its own: every row once an epoch, whatever the block size. */
typedef struct seen {
    size_t block_rows, total, current;
    int count[N];
    int in_order, out_of_order; /* in_order: a load of a block before the last one loaded */
    long last;
} seen;

static int seen_load(void *ctx, size_t block, size_t next, size_t *rows) {
    seen *s = ctx;
    (void)next;
    if (s->in_order && (long)block != s->last + 1 && block != 0) s->out_of_order = 1;
    s->last = (long)block;
    s->current = block;
    const size_t first = block * s->block_rows;
    *rows = first + s->block_rows <= s->total ? s->block_rows : s->total - first;
    return AE_OK;
}

static double seen_step(void *ctx, size_t lo, const uint32_t *idx, size_t rows, ae_pass_parts *parts) {
    seen *s = ctx;
    for (size_t i = 0; i < rows; i++) s->count[s->current * s->block_rows + (idx ? idx[i] : lo + i)]++;
    *parts = (ae_pass_parts){1.0, 0.0, 0.0};
    return 1.0;
}

static void test_every_row_once(void **state) {
    (void)state;
    float p[4] = {0}, g[4] = {0};
    const size_t blocks[4] = {16, 48, 64, 288};
    for (int shuffle = 0; shuffle < 4; shuffle++) /* 2, 3: in file order */
        for (int i = 0; i < 4; i++) {
            seen s;
            memset(&s, 0, sizeof s);
            s.in_order = shuffle >= 2;
            s.last = -1;
            s.block_rows = blocks[i];
            s.total = N;
            ae_train_opts o = opts();
            o.shuffle = shuffle & 1;
            ae_optim opt;
            assert_int_equal(ae_optim_init(&opt, &o, 4), AE_OK);
            ae_rng rng;
            ae_rng_seed(&rng, 9, 1);
            ae_fit_task t;
            memset(&t, 0, sizeof t);
            t.span[0] = (ae_span){p, g, 4};
            t.n_spans = 1;
            t.opt = &opt;
            t.rng = &rng;
            t.n = N;
            t.batch = B;
            t.first_epoch = 1;
            t.step = seen_step;
            t.n_blocks = (N + blocks[i] - 1) / blocks[i];
            t.block_rows = blocks[i];
            t.load = seen_load;
            t.in_order = s.in_order;
            t.ctx = &s;
            t.opts = &o;
            assert_int_equal(ae_fit(&t, NULL), AE_OK);
            for (size_t r = 0; r < N; r++) assert_int_equal(s.count[r], o.epochs);
            assert_false(s.out_of_order);
            ae_optim_free(&opt);
        }
}

/* The file is cut short after the first epoch: the second stops with the reason; the
 * checkpoint of epoch 1 is there and loads. */
static int cut_file(const ae_epoch_stats *s, void *user) {
    (void)s;
    return truncate((const char *)user, 128 + 100 * D * sizeof(float)) != 0;
}

static void test_cut_short(void **state) {
    (void)state;
    const char *ckpt = "test_stream.ckpt";
    ae_config c = config();
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = opts();
    o.on_epoch = cut_file;
    o.user = (void *)npy;
    o.checkpoint_path = ckpt;
    o.checkpoint_every = 1;
    const int rc = ae_train_stream(m, npy, &o, 64);
    assert_true(rc == AE_EIO || rc == AE_EFORMAT || rc == AE_EINVAL);
    assert_true(strlen(ae_last_error()) > 0);
    ae_model *k;
    assert_int_equal(ae_checkpoint_load(&k, ckpt), AE_OK);
    assert_int_equal(ae_epochs_done(k), 1);
    ae_free(k);
    ae_free(m);
    remove(ckpt);
    assert_int_equal(ae_npy_save(npy, X, N, D), AE_OK); /* whole again for the other tests */
}

/* Resume mid-file: a run with checkpoints every 2 blocks (of 5 an epoch) is stopped in its
 * second epoch, its next checkpoint (4 blocks in) failing; the checkpoint taken 2 blocks into
 * epoch 2, resumed, gives the uninterrupted run's weights bit for bit. For a plain file (block
 * order shuffled), a gzip one and a CSV (read in order: the resumed reader first reads past
 * the blocks done). */
typedef struct stopper {
    ae_train_opts *o;
    int steps, at; /* after `at` steps in all, checkpoints go where they cannot be written */
} stopper;

static void stop_at(int epoch, size_t step, size_t batches, double loss, void *user) {
    (void)epoch, (void)step, (void)batches, (void)loss;
    stopper *c = user;
    if (++c->steps == c->at) c->o->checkpoint_path = "no-such-folder/test_stream_resume.ckpt";
}

static void test_resume_mid_file(void **state) {
    (void)state;
    ae_set_threads(1);
    const char *gz = "test_stream_resume.npy.gz", *csv = "test_stream_resume.csv", *ckpt = "test_stream_resume.ckpt";
    const char *paths[3] = {npy, gz, csv};
    write_gzip(npy, gz);
    assert_int_equal(ae_csv_save(csv, X, N, D), AE_OK);
    for (int p = 0; p < 3; p++) {
        ae_train_opts o = opts();
        o.checkpoint_path = ckpt;
        o.checkpoint_every = 1;
        o.checkpoint_every_blocks = 2;
        ae_config c = config();
        ae_model *whole, *cut;
        assert_int_equal(ae_create(&whole, &c), AE_OK);
        assert_int_equal(ae_train_stream(whole, paths[p], &o, 64), AE_OK);
        assert_int_equal(ae_create(&cut, &c), AE_OK);
        /* 19 steps an epoch (4 blocks of 64 rows, 4 steps each, then 44 rows in 3): step 30 is
         * in epoch 2's third block, after its checkpoint 2 blocks in */
        ae_train_opts oc = o;
        stopper st = {&oc, 0, 30};
        oc.on_batch = stop_at;
        oc.user = &st;
        assert_int_equal(ae_train_stream(cut, paths[p], &oc, 64), AE_EIO);
        assert_non_null(strstr(ae_last_error(), "checkpoint 4 blocks into epoch 2"));
        ae_free(cut);
        ae_model *k;
        assert_int_equal(ae_checkpoint_load(&k, ckpt), AE_OK);
        assert_int_equal(ae_epochs_done(k), 1);
        assert_int_equal(k->pos.blocks_done, 2);
        assert_int_equal(k->pos.n_blocks, 5);
        ae_train_opts again = o;
        again.resume = 1;
        again.checkpoint_every = again.checkpoint_every_blocks = 0; /* the checkpoint stays as it is */
        /* ae_train cannot go on from a place in a stream, nor a stream in other blocks */
        assert_int_equal(ae_train(k, X, N, &again), AE_EINVAL);
        assert_non_null(strstr(ae_last_error(), "ae_train_stream"));
        assert_int_equal(ae_train_stream(k, paths[p], &again, 32), AE_EINVAL);
        assert_non_null(strstr(ae_last_error(), "buffer_rows"));
        assert_int_equal(ae_train_stream(k, paths[p], &again, 64), AE_OK);
        assert_int_equal(ae_epochs_done(k), o.epochs);
        assert_true(same_params(k, whole));
        /* and without the place (an epoch-end resume of the same checkpoint) it would differ */
        ae_free(k);
        assert_int_equal(ae_checkpoint_load(&k, ckpt), AE_OK);
        memset(&k->pos, 0, sizeof k->pos);
        assert_int_equal(ae_train_stream(k, paths[p], &again, 64), AE_OK);
        assert_false(same_params(k, whole));
        ae_free(k);
        ae_free(whole);
    }
    remove(ckpt);
    remove(gz);
    remove(csv);
}

static void test_refusals(void **state) {
    (void)state;
    ae_config c = config();
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = opts();
    o.val_split = 0.2f;
    assert_int_equal(ae_train_stream(m, npy, &o, 0), AE_EINVAL);
    o = opts();
    assert_int_equal(ae_train_stream(m, "no-such-file.npy", &o, 0), AE_EIO);
    assert_int_equal(ae_train_stream(m, NULL, &o, 0), AE_EINVAL);
    c.input_dim = D + 1;
    ae_model *w;
    assert_int_equal(ae_create(&w, &c), AE_OK);
    assert_int_equal(ae_train_stream(w, npy, &o, 0), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "columns"));
    ae_free(w);
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_block_is_ae_train), cmocka_unit_test(test_blocks_deterministic_and_gzip),
        cmocka_unit_test(test_every_row_once),        cmocka_unit_test(test_cut_short),
        cmocka_unit_test(test_resume_mid_file),       cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
