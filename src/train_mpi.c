/* train_mpi: data-parallel training over MPI (ae_mpi.h). The training loop is ae_train's
 * (train.c, ae_train_dist); this file supplies its reductions over a private duplicate of the
 * caller's communicator, whose errors come back as status codes instead of aborting. */
#define _POSIX_C_SOURCE 200809L
#include "ae_mpi.h"

#include <limits.h>
#include <string.h>

#include "error.h"
#include "train.h"

typedef struct mpi_ctx {
    MPI_Comm comm;
    ae_mpi_stats stats;
} mpi_ctx;

static int mpi_status(int err) { return err == MPI_SUCCESS ? AE_OK : AE_EIO; }

/* Sums in place, in pieces of at most INT_MAX elements (MPI counts are int). */
static int sum_in_place(void *buf, size_t n, MPI_Datatype type, size_t size, MPI_Comm comm) {
    unsigned char *p = buf;
    for (size_t done = 0; done < n;) {
        const size_t piece = n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX;
        int err = MPI_Allreduce(MPI_IN_PLACE, p + done * size, (int)piece, type, MPI_SUM, comm);
        if (err != MPI_SUCCESS) return AE_EIO;
        done += piece;
    }
    return AE_OK;
}

/* The gradient block: the one reduction per step, timed for the scaling figures. */
static int sum_floats(float *buf, size_t n, void *p) {
    mpi_ctx *c = p;
    const double t0 = MPI_Wtime();
    int rc = sum_in_place(buf, n, MPI_FLOAT, sizeof(float), c->comm);
    c->stats.allreduce_seconds += MPI_Wtime() - t0;
    c->stats.allreduce_calls++;
    c->stats.gradient_bytes = n * sizeof(float);
    return rc;
}

static int sum_doubles(double *buf, size_t n, void *p) {
    return sum_in_place(buf, n, MPI_DOUBLE, sizeof(double), ((mpi_ctx *)p)->comm);
}

/* The lowest status of all ranks; a transport failure is AE_EIO everywhere it is seen. */
static int agree(int rc, void *p) {
    int all = rc;
    if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, ((mpi_ctx *)p)->comm) != MPI_SUCCESS) return AE_EIO;
    return all;
}

/* A private communicator: libae's messages never meet the caller's, and its errors return. */
static int open_comm(MPI_Comm comm, MPI_Comm *out) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized || comm == MPI_COMM_NULL) return AE_EINVAL;
    if (MPI_Comm_dup(comm, out) != MPI_SUCCESS) return AE_EIO;
    MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN);
    return AE_OK;
}

/* Rank 0's n floats to every rank. */
static int bcast_floats(float *p, size_t n, MPI_Comm comm) {
    for (size_t done = 0; done < n;) {
        const size_t piece = n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX;
        if (MPI_Bcast(p + done, (int)piece, MPI_FLOAT, 0, comm) != MPI_SUCCESS) return AE_EIO;
        done += piece;
    }
    return AE_OK;
}

static long long float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (long long)u;
}

static uint64_t fold(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211u; } /* FNV-1a, a word a step */

/* The model's layers, their kinds, sizes, activations and conv geometry, as one number: two
 * models of one parameter count can still differ (conv models of 1x6x5 and 1x5x6 images). */
static long long layout(const ae_model *m) {
    uint64_t h = 14695981039346656037u;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        for (const char *c = L->kind->name; *c; c++) h = fold(h, (unsigned char)*c);
        const size_t v[] = {L->in,    L->out,   (size_t)L->act, (size_t)L->w_transposed,
                            L->c_in,  L->h_in,  L->w_in,        L->c_out,
                            L->h_out, L->w_out, L->kernel,      L->stride};
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) h = fold(h, v[i]);
    }
    return (long long)(h >> 1);
}

/* The ranks must agree on what is trained and how: the model's size and layout and the options that
 * shape the steps or decide when the ranks meet (epochs, patience, checkpoints: a rank that
 * stopped early would leave the others waiting). Returns AE_EINVAL everywhere when any
 * differs. */
static int same_everywhere(const ae_model *m, const ae_train_opts *o, size_t buffer_rows, MPI_Comm comm) {
    enum { N = 13 };
    long long mine[N] = {(long long)m->n_params,   (long long)m->cfg.input_dim,    (long long)o->epochs,
                         (long long)o->batch_size, (long long)o->shuffle,          (long long)o->resume,
                         (long long)o->patience,   (long long)o->checkpoint_every, (long long)o->optimizer,
                         (long long)o->loss,       float_bits(o->learning_rate),   layout(m),
                         (long long)buffer_rows};
    long long lo[N], hi[N];
    if (MPI_Allreduce(mine, lo, N, MPI_LONG_LONG, MPI_MIN, comm) != MPI_SUCCESS ||
        MPI_Allreduce(mine, hi, N, MPI_LONG_LONG, MPI_MAX, comm) != MPI_SUCCESS)
        return AE_EIO;
    if (memcmp(lo, hi, sizeof lo) == 0) return AE_OK;
    return ae_fail(AE_EINVAL, "the ranks' models (parameter count, input width, layers and their shapes) or "
                              "training options (epochs, batch size, shuffle, resume, patience, checkpoints, "
                              "optimizer, loss, learning rate, a stream's block rows) differ");
}

/* Rank 0's weights, RNG and (resuming) optimizer state, so that every rank starts alike. */
static int share_start(ae_model *m, const ae_train_opts *o, MPI_Comm comm) {
    int rc = bcast_floats(m->params, m->n_params, comm);
    uint64_t rng[2] = {m->rng.state, m->rng.inc};
    if (rc == AE_OK && MPI_Bcast(rng, 2, MPI_UINT64_T, 0, comm) != MPI_SUCCESS) rc = AE_EIO;
    m->rng.state = rng[0];
    m->rng.inc = rng[1];
    if (rc != AE_OK || !o->resume) return rc;
    long long st[2] = {m->opt.step, m->epochs_done};
    if (MPI_Bcast(st, 2, MPI_LONG_LONG, 0, comm) != MPI_SUCCESS) return AE_EIO;
    m->opt.step = (long)st[0];
    m->epochs_done = (int)st[1];
    if (m->opt.m && (rc = bcast_floats(m->opt.m, m->n_params, comm)) != AE_OK) return rc;
    if (m->opt.v && (rc = bcast_floats(m->opt.v, m->n_params, comm)) != AE_OK) return rc;
    return AE_OK;
}

int ae_train_mpi(ae_model *m, const float *x, size_t n, const ae_train_opts *opts, MPI_Comm comm, ae_mpi_stats *stats) {
    mpi_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    if (stats) memset(stats, 0, sizeof *stats);
    int rc = open_comm(comm, &ctx.comm);
    if (rc != AE_OK) return rc;
    int rank = 0, size = 1;
    MPI_Comm_rank(ctx.comm, &rank);
    MPI_Comm_size(ctx.comm, &size);
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;

    /* Shard sizes and places: rank order. A NULL model still takes part in the reductions,
     * so that the others hear of it instead of waiting. */
    unsigned long long mine = m ? (unsigned long long)n : 0, total = 0, first = 0;
    int err = MPI_Allreduce(&mine, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, ctx.comm);
    if (err == MPI_SUCCESS) err = MPI_Exscan(&mine, &first, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, ctx.comm);
    if (rank == 0) first = 0; /* MPI_Exscan leaves rank 0's result undefined */
    rc = mpi_status(err);
    if (rc == AE_OK && (!m || total > AE_MAX_ROWS)) rc = AE_EINVAL;
    rc = agree(rc, &ctx);
    if (rc == AE_OK) rc = agree(same_everywhere(m, o, 0, ctx.comm), &ctx);
    if (rc == AE_OK) rc = agree(share_start(m, o, ctx.comm), &ctx);
    if (rc == AE_OK) {
        const ae_dist dist = {rank, size, (size_t)first, (size_t)total, sum_floats, sum_doubles, agree, &ctx};
        const double t0 = MPI_Wtime();
        rc = ae_fit_dist(m, x, n, o, &dist);
        ctx.stats.train_seconds = MPI_Wtime() - t0;
    }
    if (stats) *stats = ctx.stats;
    MPI_Comm_free(&ctx.comm);
    return rc;
}

int ae_train_mpi_stream(ae_model *m, const char *path, const ae_train_opts *opts, size_t buffer_rows, MPI_Comm comm,
                        ae_mpi_stats *stats) {
    mpi_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    if (stats) memset(stats, 0, sizeof *stats);
    int rc = open_comm(comm, &ctx.comm);
    if (rc != AE_OK) return rc;
    int rank = 0, size = 1;
    MPI_Comm_rank(ctx.comm, &rank);
    MPI_Comm_size(ctx.comm, &size);
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    /* A NULL model still takes part in the agreement, so that the others hear of it. */
    rc = agree(m ? AE_OK : AE_EINVAL, &ctx);
    if (rc == AE_OK) rc = agree(same_everywhere(m, o, buffer_rows, ctx.comm), &ctx);
    if (rc == AE_OK) rc = agree(share_start(m, o, ctx.comm), &ctx);
    if (rc == AE_OK) {
        /* first and total: the share's, filled in by the stream from the file's rows */
        const ae_dist dist = {rank, size, 0, 0, sum_floats, sum_doubles, agree, &ctx};
        const double t0 = MPI_Wtime();
        rc = ae_stream_dist(m, path, o, buffer_rows, &dist);
        ctx.stats.train_seconds = MPI_Wtime() - t0;
    }
    if (stats) *stats = ctx.stats;
    MPI_Comm_free(&ctx.comm);
    return rc;
}

int ae_mpi_data_load_shard(const char *path, MPI_Comm comm, ae_data *out, size_t *first, size_t *total) {
    if (out) memset(out, 0, sizeof *out);
    MPI_Comm c;
    int rc = open_comm(comm, &c);
    if (rc != AE_OK) return rc;
    int rank = 0, size = 1;
    MPI_Comm_rank(c, &rank);
    MPI_Comm_size(c, &size);
    mpi_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.comm = c;
    size_t rows = 0, cols = 0, begin = 0, count = 0;
    rc = !path || !out ? AE_EINVAL : ae_data_info(path, &rows, &cols);
    if (rc == AE_OK) {
        /* Even shares: the first rows % size ranks take one row more. */
        const size_t base = rows / (size_t)size, extra = rows % (size_t)size, r = (size_t)rank;
        begin = r * base + (r < extra ? r : extra);
        count = base + (r < extra ? 1 : 0);
        rc = count ? ae_data_load_range(path, begin, count, out) : AE_EINVAL; /* fewer rows than ranks */
    }
    rc = agree(rc, &ctx);
    if (rc != AE_OK && out) ae_data_free(out);
    if (rc == AE_OK) {
        if (first) *first = begin;
        if (total) *total = rows;
    }
    MPI_Comm_free(&c);
    return rc;
}
