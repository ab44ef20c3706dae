/* Data-parallel training under mpirun (-np 1, 2, 3): the same model as ae_train on all the
 * rows up to float rounding, identical weights on every rank, one status for all when any
 * rank fails, and sharded loading. Not cmocka: a failed assertion on one rank must not leave
 * the others waiting in a collective, so checks are counted and the verdict is reduced. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ae_mpi.h"
#include "model.h"

static int rank, size, failures;

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", rank, __FILE__, __LINE__, #cond); \
            failures++; \
        } \
    } while (0)

enum { N = 203, D = 10 }; /* 203 rows: uneven shards, a partial last batch */

/* The full data set, the same on every rank; each rank trains on its shard of it. */
static float data[N * D];

static void make_data(void) {
    uint32_t s = 12345;
    for (int i = 0; i < N * D; i++) {
        s = s * 1664525u + 1013904223u;
        data[i] = (float)(s >> 8) / 16777216.0f * (i % D < 4 ? 1.0f : 0.3f);
    }
}

/* Rows [first, first + count) of this rank: even shares in rank order (any split works). */
static void shard(size_t n, size_t *first, size_t *count) {
    size_t base = n / (size_t)size, extra = n % (size_t)size, r = (size_t)rank;
    *first = r * base + (r < extra ? r : extra);
    *count = base + (r < extra ? 1 : 0);
}

static ae_config config(void) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.code_dim = 3;
    c.seed = 7;
    return c;
}

static ae_train_opts opts(void) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 4;
    o.batch_size = 32;
    o.learning_rate = 3e-3f;
    return o;
}

/* 1 when every rank holds bit for bit the weights of rank 0. */
static int identical_everywhere(const ae_model *m) {
    float *mine = malloc(m->n_params * sizeof(float));
    memcpy(mine, m->params, m->n_params * sizeof(float));
    MPI_Bcast(mine, (int)m->n_params, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = memcmp(mine, m->params, m->n_params * sizeof(float)) == 0, all = 0;
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    free(mine);
    return all;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst)) worst = d; /* NaN wins */
    }
    return worst;
}

typedef struct seen {
    int calls;
    double loss[16];
} seen;

static int record(const ae_epoch_stats *s, void *user) {
    seen *v = user;
    if (v->calls < 16) v->loss[v->calls] = s->train_loss;
    v->calls++;
    return 0;
}

/* ae_train_mpi on the shards equals ae_train on all rows, up to rounding (bitwise on 1 rank);
 * only rank 0 hears the callbacks, with the single-process figures. With 2 threads and batch
 * 64, every rank's part of a batch (32 rows or more on 1 and 2 ranks) is split across
 * libae's own threads. */
static void check_matches_single_process(int threads, size_t batch) {
    size_t first, count;
    shard(N, &first, &count);
    ae_config c = config();
    CHECK(ae_set_threads(threads) == AE_OK);
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        ae_model *ref, *m;
        ae_train_opts o = opts();
        o.shuffle = shuffle;
        o.batch_size = batch;
        seen ref_seen = {0, {0}}, mpi_seen = {0, {0}};
        o.on_epoch = record;
        o.user = &ref_seen;
        CHECK(ae_create(&ref, &c) == AE_OK && ae_create(&m, &c) == AE_OK);
        CHECK(ae_train(ref, data, N, &o) == AE_OK);
        o.user = &mpi_seen;
        ae_mpi_stats st;
        CHECK(ae_train_mpi(m, data + first * D, count, &o, MPI_COMM_WORLD, &st) == AE_OK);
        const double diff = max_abs_diff(ref->params, m->params, m->n_params);
        /* Float sums in another order, compounded by 4 epochs of Adam (which divides by the
         * root of small second moments): 2e-5 is about 100 roundings of a unit weight. */
        if (size == 1)
            CHECK(diff == 0.0);
        else
            CHECK(diff <= 2e-5);
        if (rank == 0)
            printf("np %d threads %d shuffle %d: max |w_mpi - w_single| = %.3g\n", size, threads, shuffle, diff);
        CHECK(identical_everywhere(m));
        CHECK(st.allreduce_calls == 4 * ((N + batch - 1) / batch));
        CHECK(st.gradient_bytes == m->n_params * sizeof(float));
        CHECK(mpi_seen.calls == (rank == 0 ? 4 : 0));
        for (int e = 0; rank == 0 && e < 4; e++)
            CHECK(fabs(mpi_seen.loss[e] - ref_seen.loss[e]) <= 1e-6 * ref_seen.loss[e] + 1e-9);
        ae_free(ref);
        ae_free(m);
    }
    CHECK(ae_set_threads(1) == AE_OK);
}

static void test_matches_single_process(void) {
    check_matches_single_process(1, 32);
    check_matches_single_process(2, 64);
}

/* One step per epoch (the global batch is all rows): the weights are compared on every rank
 * after every step; then with 7 steps per epoch, after every epoch. Noise and dropout draw
 * from a stream per rank; the weights must still be identical everywhere. */
static void test_identical_after_every_step(void) {
    size_t first, count;
    shard(N, &first, &count);
    ae_config c = config();
    ae_model *m;
    CHECK(ae_create(&m, &c) == AE_OK);
    ae_train_opts o = opts();
    o.batch_size = N;
    o.dropout = 0.1f;
    o.noise = AE_NOISE_MASK;
    o.noise_level = 0.2f;
    for (int step = 1; step <= 6; step++) {
        o.epochs = step;
        o.resume = step > 1;
        CHECK(ae_train_mpi(m, data + first * D, count, &o, MPI_COMM_WORLD, NULL) == AE_OK);
        CHECK(identical_everywhere(m));
        CHECK(m->opt.step == step);
    }
    o.batch_size = 32;
    o.resume = 0;
    o.epochs = 1;
    for (int epoch = 1; epoch <= 3; epoch++) {
        o.epochs = epoch;
        o.resume = epoch > 1;
        CHECK(ae_train_mpi(m, data + first * D, count, &o, MPI_COMM_WORLD, NULL) == AE_OK);
        CHECK(identical_everywhere(m));
    }
    ae_free(m);
}

/* Ranks start from rank 0's weights even when their models were made with other seeds. */
static void test_start_is_shared(void) {
    size_t first, count;
    shard(N, &first, &count);
    ae_config c = config();
    c.seed = 100 + (uint64_t)rank;
    ae_model *m;
    CHECK(ae_create(&m, &c) == AE_OK);
    ae_train_opts o = opts();
    o.epochs = 1;
    CHECK(ae_train_mpi(m, data + first * D, count, &o, MPI_COMM_WORLD, NULL) == AE_OK);
    CHECK(identical_everywhere(m));
    ae_free(m);
}

/* A failure on one rank (the last) becomes every rank's status, and nobody hangs. */
static void test_one_rank_fails_all_return(void) {
    size_t first, count;
    shard(N, &first, &count);
    const int bad = size - 1;
    ae_config c = config();
    ae_model *m;
    CHECK(ae_create(&m, &c) == AE_OK);
    ae_train_opts o = opts();
    o.epochs = 1;
    float *x = malloc(count * D * sizeof(float));
    memcpy(x, data + first * D, count * D * sizeof(float));
    /* a non-finite value in one shard */
    if (rank == bad) x[3] = NAN;
    CHECK(ae_train_mpi(m, x, count, &o, MPI_COMM_WORLD, NULL) == AE_ENONFINITE);
    if (rank == bad) x[3] = 0.5f;
    /* an empty shard, a NULL shard */
    CHECK(ae_train_mpi(m, x, rank == bad ? 0 : count, &o, MPI_COMM_WORLD, NULL) == AE_EINVAL);
    CHECK(ae_train_mpi(m, rank == bad ? NULL : x, count, &o, MPI_COMM_WORLD, NULL) == AE_EINVAL);
    /* options that differ, a bad option on one rank */
    ae_train_opts b = o;
    if (rank == bad) b.batch_size = 16;
    CHECK(ae_train_mpi(m, x, count, &b, MPI_COMM_WORLD, NULL) == (size > 1 ? AE_EINVAL : AE_OK));
    b = o;
    if (rank == bad) b.patience = 2; /* would stop at another epoch than the others */
    CHECK(ae_train_mpi(m, x, count, &b, MPI_COMM_WORLD, NULL) == (size > 1 ? AE_EINVAL : AE_OK));
    b = o;
    if (rank == bad) b.learning_rate = -1.0f;
    CHECK(ae_train_mpi(m, x, count, &b, MPI_COMM_WORLD, NULL) == AE_EINVAL);
    /* a model of another shape on one rank */
    ae_config other = c;
    if (rank == bad) other.hidden[0] = 9;
    ae_model *odd;
    CHECK(ae_create(&odd, &other) == AE_OK);
    CHECK(ae_train_mpi(odd, x, count, &o, MPI_COMM_WORLD, NULL) == (size > 1 ? AE_EINVAL : AE_OK));
    ae_free(odd);
    /* no model at all on one rank */
    CHECK(ae_train_mpi(rank == bad ? NULL : m, x, count, &o, MPI_COMM_WORLD, NULL) == AE_EINVAL);
    /* divergence is found together, and every rank goes back to the same weights */
    b = o;
    b.optimizer = AE_OPT_SGD;
    b.learning_rate = 1e30f;
    CHECK(ae_train_mpi(m, x, count, &b, MPI_COMM_WORLD, NULL) == AE_EDIVERGED);
    CHECK(identical_everywhere(m));
    CHECK(ae_all_finite(m->params, m->n_params));
    /* rank 0 cannot write the checkpoint: everyone hears AE_EIO */
    b = o;
    b.checkpoint_every = 1;
    b.checkpoint_path = "/nonexistent-folder/ck.safetensors";
    CHECK(ae_train_mpi(m, x, count, &b, MPI_COMM_WORLD, NULL) == AE_EIO);
    /* the KL sparsity penalty needs the whole batch */
    ae_config sig = c;
    sig.code_act = AE_ACT_SIGMOID;
    ae_model *s;
    CHECK(ae_create(&s, &sig) == AE_OK);
    b = o;
    b.sparsity_weight = 0.1f;
    CHECK(ae_train_mpi(s, x, count, &b, MPI_COMM_WORLD, NULL) == (size > 1 ? AE_EINVAL : AE_OK));
    ae_free(s);
    /* and afterwards the communicator still works: a normal run */
    CHECK(ae_train_mpi(m, x, count, &o, MPI_COMM_WORLD, NULL) == AE_OK);
    free(x);
    ae_free(m);
}

/* Each rank loads its shard of a .npy file; together they are the file. */
static void test_shard_loading(void) {
    char path[64] = "";
    if (rank == 0) {
        snprintf(path, sizeof path, "/tmp/ae_mpi_%d.npy", (int)getpid());
        CHECK(ae_npy_save(path, data, N, D) == AE_OK);
    }
    MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
    ae_data d;
    size_t first = 99, total = 0, want_first, want_count;
    shard(N, &want_first, &want_count);
    CHECK(ae_mpi_data_load_shard(path, MPI_COMM_WORLD, &d, &first, &total) == AE_OK);
    CHECK(total == N && first == want_first && d.rows == want_count && d.cols == D);
    if (d.x) CHECK(memcmp(d.x, data + first * D, d.rows * D * sizeof(float)) == 0);
    ae_data_free(&d);
    /* a file missing on every rank, and on one rank only */
    CHECK(ae_mpi_data_load_shard("/nonexistent.npy", MPI_COMM_WORLD, &d, NULL, NULL) == AE_EIO);
    CHECK(d.x == NULL);
    CHECK(ae_mpi_data_load_shard(rank == size - 1 ? "/nonexistent.npy" : path, MPI_COMM_WORLD, &d, NULL, NULL) ==
          AE_EIO);
    CHECK(d.x == NULL);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) unlink(path);
}

/* Raw rows (far from [0, 1]): every rank fits the same scaling, from the statistics of all
 * ranks, equal to a single process's fit on all the rows (up to the order of the sums); a
 * rank whose rows alone would fit differently does not. Then the trained models agree. */
static void test_scaling_statistics_from_all_ranks(void) {
    float *raw = malloc(N * D * sizeof(float));
    CHECK(raw != NULL);
    if (!raw) return;
    for (int i = 0; i < N * D; i++) raw[i] = data[i] * (float)(100 * (i % D + 1)) - 50.0f * (float)(i % 3);
    size_t first, count;
    shard(N, &first, &count);
    for (int mode = AE_SCALE_MINMAX; mode <= AE_SCALE_ZSCORE; mode++) {
        ae_config c = config();
        c.scaling = (ae_scaling)mode;
        c.output_act = mode == AE_SCALE_ZSCORE ? AE_ACT_LINEAR : AE_ACT_SIGMOID;
        ae_model *m, *one;
        CHECK(ae_create(&m, &c) == AE_OK);
        CHECK(ae_create(&one, &c) == AE_OK);
        ae_train_opts o = opts();
        CHECK(ae_train_mpi(m, raw + first * D, count, &o, MPI_COMM_WORLD, NULL) == AE_OK);
        CHECK(ae_scaling_fit(one, raw, N) == AE_OK);
        float o1[D], s1[D], o2[D], s2[D];
        ae_scaling m1, m2;
        CHECK(ae_scaling_get(m, &m1, NULL, o1, s1) == AE_OK);
        CHECK(ae_scaling_get(one, &m2, NULL, o2, s2) == AE_OK);
        CHECK(m1 == (ae_scaling)mode && m2 == m1);
        CHECK(max_abs_diff(o1, o2, D) <= 1e-5 * 100 && max_abs_diff(s1, s2, D) <= 1e-5 * 100);
        float all[2 * D];
        memcpy(all, o1, sizeof o1);
        memcpy(all + D, s1, sizeof s1);
        float r0[2 * D];
        memcpy(r0, all, sizeof all);
        MPI_Bcast(r0, 2 * D, MPI_FLOAT, 0, MPI_COMM_WORLD);
        CHECK(memcmp(r0, all, sizeof all) == 0); /* bit for bit the same on every rank */
        CHECK(identical_everywhere(m));
        ae_free(m);
        ae_free(one);
    }
    free(raw);
}

/* Recurrent models (GRU and LSTM, rows of 5 steps x 2 values) train data-parallel like dense
 * ones: the single-process result up to rounding (bitwise on 1 rank), the same weights on
 * every rank, with libae's threads splitting each rank's rows. */
static void test_recurrent_models(void) {
    size_t first, count;
    shard(N, &first, &count);
    CHECK(ae_set_threads(2) == AE_OK);
    for (int lstm = 0; lstm < 2; lstm++) {
        ae_config c = config();
        c.rnn = lstm ? AE_RNN_LSTM : AE_RNN_GRU;
        c.seq_len = 5;
        c.seq_features = 2;
        ae_model *ref, *m;
        ae_train_opts o = opts();
        o.batch_size = 64;
        CHECK(ae_create(&ref, &c) == AE_OK && ae_create(&m, &c) == AE_OK);
        CHECK(ae_train(ref, data, N, &o) == AE_OK);
        CHECK(ae_train_mpi(m, data + first * D, count, &o, MPI_COMM_WORLD, NULL) == AE_OK);
        const double diff = max_abs_diff(ref->params, m->params, m->n_params);
        CHECK(size == 1 ? diff == 0.0 : diff <= 2e-5);
        if (rank == 0) printf("np %d %s: max |w_mpi - w_single| = %.3g\n", size, lstm ? "lstm" : "gru", diff);
        CHECK(identical_everywhere(m));
        ae_free(ref);
        ae_free(m);
    }
    CHECK(ae_set_threads(1) == AE_OK);
}

/* A conv model (2x5x3 images; kernel 3 stride 2, then kernel 1 stride 1), its images split
 * across 2 threads on each rank (the rows plan): the shards train what one process trains on
 * all the rows (bitwise on 1 rank), with identical weights everywhere. A rank whose images
 * are 2x3x5 (a model of the same parameter count) is refused on every rank. */
enum { CN = 97, CD = 30 };

static ae_config conv_config(size_t h, size_t w) {
    ae_config c = config();
    c.input_dim = CD;
    c.n_hidden = 0;
    c.input_shape[0] = 2;
    c.input_shape[1] = h;
    c.input_shape[2] = w;
    c.n_conv = 2;
    c.conv[0] = (ae_conv_spec){3, 3, 2};
    c.conv[1] = (ae_conv_spec){4, 1, 1};
    return c;
}

static void test_conv_model(void) {
    static float img[CN * CD];
    for (int i = 0; i < CN * CD; i++) img[i] = data[i % (N * D)];
    size_t first, count;
    shard(CN, &first, &count);
    CHECK(ae_set_threads(2) == AE_OK && ae_set_plan(AE_PLAN_ROWS) == AE_OK);
    const ae_config c = conv_config(5, 3);
    ae_model *ref, *m;
    CHECK(ae_create(&ref, &c) == AE_OK && ae_create(&m, &c) == AE_OK);
    ae_train_opts o = opts();
    o.epochs = 3;
    CHECK(ae_train(ref, img, CN, &o) == AE_OK);
    CHECK(ae_train_mpi(m, img + first * CD, count, &o, MPI_COMM_WORLD, NULL) == AE_OK);
    const double diff = max_abs_diff(ref->params, m->params, m->n_params);
    CHECK(size == 1 ? diff == 0.0 : diff <= 2e-5);
    if (rank == 0) printf("np %d conv model: max |w_mpi - w_single| = %.3g\n", size, diff);
    CHECK(identical_everywhere(m));
    const ae_config other = rank == size - 1 ? conv_config(3, 5) : c;
    ae_model *odd;
    CHECK(ae_create(&odd, &other) == AE_OK);
    CHECK(odd->n_params == m->n_params);
    CHECK(ae_train_mpi(odd, img + first * CD, count, &o, MPI_COMM_WORLD, NULL) == (size > 1 ? AE_EINVAL : AE_OK));
    if (size > 1) CHECK(strstr(ae_last_error(), "differ") != NULL);
    ae_free(odd);
    ae_free(ref);
    ae_free(m);
    CHECK(ae_set_threads(1) == AE_OK && ae_set_plan(AE_PLAN_AUTO) == AE_OK);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    make_data();
    test_matches_single_process();
    test_identical_after_every_step();
    test_start_is_shared();
    test_one_rank_fails_all_return();
    test_shard_loading();
    test_scaling_statistics_from_all_ranks();
    test_recurrent_models();
    test_conv_model();
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%s: %d ranks, %d failed checks\n", all ? "FAIL" : "OK", size, all);
    MPI_Finalize();
    return all ? 1 : 0;
}
