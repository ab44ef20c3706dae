/* ae_train_mpi_stream under mpirun (-np 1, 2, 3): each rank streams its own share of a file
 * (plain .npy, gzip, CSV). With one rank it is ae_train_stream bit for bit; with more, it is
 * ae_train_stream over a file whose rows come in the order the ranks' blocks interleave (rank
 * 0's block 0, rank 1's block 0, ..., rank 0's block 1, ...), up to the order of float sums;
 * every rank ends with the same weights, uneven shares included; a file cut short mid-run makes every rank return the
 * same error. Not cmocka: checks are counted and the verdict reduced (see test_mpi.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

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

enum { D = 10, B = 16, BLOCK = 32, SHARE = 112 }; /* a share: blocks of 32, 32, 32 and 16 rows */

static float *data; /* size * SHARE + 1 rows */

static void make_data(size_t n) {
    data = malloc(n * D * sizeof(float));
    uint32_t s = 4242;
    for (size_t i = 0; i < n * D; i++) {
        s = s * 1664525u + 1013904223u;
        data[i] = (float)(s >> 8) / 16777216.0f * (i % D < 4 ? 1.0f : 0.3f);
    }
}

static ae_model *model(void) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = 8;
    c.code_dim = 3;
    c.seed = 7;
    ae_model *m = NULL;
    CHECK(ae_create(&m, &c) == AE_OK);
    return m;
}

static ae_train_opts opts(void) {
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = B;
    o.learning_rate = 3e-3f;
    return o;
}

static void write_gzip(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    gzFile g = gzopen(to, "wb");
    char buf[4096];
    size_t got;
    while (f && g && (got = fread(buf, 1, sizeof buf, f)) > 0) gzwrite(g, buf, (unsigned)got);
    if (f) fclose(f);
    if (g) gzclose(g);
}

/* Rank 0 writes the data as the ranks share it (path) and interleaved by blocks (mixed), in
 * the kind asked: 0 .npy, 1 gzip'd .npy, 2 CSV. */
static void write_files(int kind, const char *path, const char *mixed) {
    if (rank == 0) {
        const size_t n = (size_t)size * SHARE;
        float *mix = malloc(n * D * sizeof(float));
        size_t at = 0;
        for (size_t b = 0; b * BLOCK < SHARE; b++)
            for (size_t r = 0; r < (size_t)size; r++) {
                const size_t lo = r * SHARE + b * BLOCK, k = SHARE - b * BLOCK < BLOCK ? SHARE - b * BLOCK : BLOCK;
                memcpy(mix + at * D, data + lo * D, k * D * sizeof(float));
                at += k;
            }
        const char *names[2] = {path, mixed};
        const float *rows[2] = {data, mix};
        for (int i = 0; i < 2; i++) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%s.tmp.npy", names[i]);
            if (kind == 2) {
                CHECK(ae_csv_save(names[i], rows[i], n, D) == AE_OK);
            } else {
                CHECK(ae_npy_save(kind ? tmp : names[i], rows[i], n, D) == AE_OK);
                if (kind) write_gzip(tmp, names[i]);
                remove(tmp);
            }
        }
        free(mix);
    }
    MPI_Barrier(MPI_COMM_WORLD);
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

static void test_matches_interleaved(int kind) {
    const char *ext[3] = {"npy", "npy.gz", "csv"};
    char path[64], mixed[64];
    snprintf(path, sizeof path, "mpi_stream_%d.%s", size, ext[kind]);
    snprintf(mixed, sizeof mixed, "mpi_stream_mixed_%d.%s", size, ext[kind]);
    write_files(kind, path, mixed);
    ae_set_threads(1);
    ae_model *a = model(), *ref = model();
    ae_train_opts o = opts();
    CHECK(ae_train_mpi_stream(a, path, &o, BLOCK, MPI_COMM_WORLD, NULL) == AE_OK);
    CHECK(ae_train_stream(ref, mixed, &o, (size_t)BLOCK * (size_t)size) == AE_OK);
    CHECK(identical_everywhere(a));
    if (size == 1)
        CHECK(memcmp(a->params, ref->params, a->n_params * sizeof(float)) == 0);
    else
        CHECK(max_abs_diff(a->params, ref->params, a->n_params) <= 2e-5);
    if (rank == 0 && size > 1)
        printf("%s over %d ranks: max |w - w_interleaved| = %.3g\n", ext[kind], size,
               max_abs_diff(a->params, ref->params, a->n_params));
    ae_free(a);
    ae_free(ref);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        remove(path);
        remove(mixed);
    }
}

/* Uneven shares (rank 0 one row more) in blocks of one batch: rank 0 has a block more than
 * the others, whose last block is empty; the run ends alike everywhere. */
static void test_uneven_shares(void) {
    char path[64];
    snprintf(path, sizeof path, "mpi_stream_uneven_%d.npy", size);
    if (rank == 0) CHECK(ae_npy_save(path, data, (size_t)size * SHARE + 1, D) == AE_OK);
    MPI_Barrier(MPI_COMM_WORLD);
    ae_model *a = model();
    ae_train_opts o = opts();
    CHECK(ae_train_mpi_stream(a, path, &o, B, MPI_COMM_WORLD, NULL) == AE_OK);
    CHECK(identical_everywhere(a));
    CHECK(ae_epochs_done(a) == o.epochs);
    ae_free(a);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) remove(path);
}

/* After epoch 1 rank 0 cuts the file short: every rank returns the same error, none hangs. */
static int cut(const ae_epoch_stats *s, void *user) {
    (void)s;
    return truncate((const char *)user, 128 + 10 * D * sizeof(float)) != 0;
}

static void test_cut_short_all_return(void) {
    char path[64];
    snprintf(path, sizeof path, "mpi_stream_cut_%d.npy", size);
    if (rank == 0) CHECK(ae_npy_save(path, data, (size_t)size * SHARE, D) == AE_OK);
    MPI_Barrier(MPI_COMM_WORLD);
    ae_model *a = model();
    ae_train_opts o = opts();
    o.on_epoch = cut;
    o.user = path;
    const int rc = ae_train_mpi_stream(a, path, &o, BLOCK, MPI_COMM_WORLD, NULL);
    CHECK(rc != AE_OK);
    int lo = rc, hi = rc;
    MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&rc, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(lo == hi);
    CHECK(ae_epochs_done(a) == 1);
    ae_free(a);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) remove(path);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    make_data((size_t)size * SHARE + 1);
    for (int kind = 0; kind < 3; kind++) test_matches_interleaved(kind);
    test_uneven_shares();
    test_cut_short_all_return();
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%s: %d ranks, %d failed checks\n", all ? "FAIL" : "OK", size, all);
    free(data);
    MPI_Finalize();
    return all ? 1 : 0;
}
