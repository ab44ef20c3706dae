/* train_stream: training from a data file larger than memory (ae_train_stream). The file's
 * rows come in blocks of a buffer's size; while fit trains on one block, a reader thread loads
 * the next into the other buffer (double buffering), so that reading hides behind compute.
 * What is held: the model, its optimizer state, two blocks (and, while a block is read, the
 * reader's copy of it), the workspace of one batch. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>

#include "error.h"
#include "io_data.h"
#include "io_file.h"
#include "io_seq.h"
#include "train.h"

#define STREAM_DEFAULT_BYTES ((size_t)32 << 20) /* a block of about 32 MiB when not told */

/* The reader thread: loads block `want` into buf[back], scaled, when asked. */
typedef struct stream {
    ae_model *m;
    const char *path;
    ae_seq seq; /* in_order: the file read front to back with one open stream */
    int in_order; /* gzip or text: no seeking, the blocks come in file order */
    size_t d, total, block_rows, n_blocks;
    size_t row0; /* the file's row where this process's rows begin (its share: total rows) */
    const ae_dist *D; /* NULL: one process; else each streams its own share */
    ae_stream_pos resume; /* resuming a checkpoint taken mid-epoch: its place */
    int resuming;
    ae_dist dist; /* *D with this share's place in the file */
    float *buf[2];
    size_t rows[2];
    long have[2]; /* the block each buffer holds, -1 none */
    int front; /* the buffer fit trains on */
    /* the reader */
    pthread_t thread;
    int started, quit;
    long want; /* the block asked for, -1 none */
    int busy, rc; /* reading; the last read's status */
    char detail[256]; /* its ae_last_error (thread-local there) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* training */
    ae_work w;
    ae_run run;
    ae_pass_cfg pc;
    const ae_train_opts *o;
} stream;

/* Reads block b into buffer slot, in the model's units: straight into the buffer, so that
 * reading allocates nothing per block. */
static int read_rows(stream *s, size_t first, size_t count, float *x) {
    return s->in_order ? ae_seq_read(&s->seq, first, count, x) : ae_data_read_range(s->path, first, count, x, s->d);
}

/* Block b of this process's share: none of its rows when a longer share has more blocks. */
static int read_block(stream *s, long b, int slot, char *detail, size_t cap) {
    const size_t first = (size_t)b * s->block_rows;
    const size_t count = first >= s->total ? 0 : first + s->block_rows <= s->total ? s->block_rows : s->total - first;
    float *x = s->buf[slot];
    s->have[slot] = -1;
    int rc = count ? read_rows(s, s->row0 + first, count, x) : AE_OK;
    if (rc == AE_OK && count && (rc = ae_check_rows(x, count, s->d)) != AE_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s", ae_last_error());
        ae_fail(rc, "%s, in the block of rows from %zu", why, s->row0 + first + 1);
    }
    if (rc == AE_OK) {
        if (ae_scaler_active(&s->m->scaler)) ae_scaler_apply(&s->m->scaler, x, count, x);
        s->rows[slot] = count;
        s->have[slot] = b;
    }
    if (rc != AE_OK && detail) snprintf(detail, cap, "%s", ae_last_error());
    return rc;
}

static void *reader_main(void *p) {
    stream *s = p;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->quit && s->want < 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) break;
        const long b = s->want;
        s->busy = 1;
        pthread_mutex_unlock(&s->mu);
        char detail[256] = "";
        const int rc = read_block(s, b, s->front ^ 1, detail, sizeof detail);
        pthread_mutex_lock(&s->mu);
        s->rc = rc;
        memcpy(s->detail, detail, sizeof detail);
        s->want = -1;
        s->busy = 0;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Waits for the reader; its status, with its detail brought to this thread. */
static int reader_wait(stream *s) {
    pthread_mutex_lock(&s->mu);
    while (s->want >= 0 || s->busy) pthread_cond_wait(&s->cv, &s->mu);
    const int rc = s->rc;
    s->rc = AE_OK;
    pthread_mutex_unlock(&s->mu);
    if (rc != AE_OK) ae_fail(rc, "%s", s->detail);
    return rc;
}

/* fit's load: block `block` to the front (from the reader, or read now), then `next` asked. */
static int stream_load(void *ctx, size_t block, size_t next, size_t *rows) {
    stream *s = ctx;
    int rc = s->started ? reader_wait(s) : AE_OK;
    if (rc != AE_OK) return rc;
    if (s->have[s->front] != (long)block) {
        if (s->have[s->front ^ 1] == (long)block)
            s->front ^= 1;
        else if ((rc = read_block(s, (long)block, s->front, NULL, 0)) != AE_OK)
            return rc;
    }
    *rows = s->rows[s->front];
    if (next == AE_FIT_NO_BLOCK || s->have[s->front ^ 1] == (long)next) return AE_OK;
    if (!s->started) return AE_OK; /* no reader: the next load reads it */
    pthread_mutex_lock(&s->mu);
    s->have[s->front ^ 1] = -1;
    s->want = (long)next;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return AE_OK;
}

static double stream_step(void *ctx, size_t lo, const uint32_t *idx, size_t rows, ae_pass_parts *parts) {
    stream *s = ctx;
    const float *x = s->buf[s->front];
    return ae_pass_planned(s->m, &s->w, &s->run, idx ? x : x + lo * s->d, idx, rows, &s->pc, 1, parts);
}

static double stream_validate(void *ctx, size_t *rows) {
    stream *s = ctx;
    *rows = s->o->val_n;
    return ae_pass_eval_sum(s->m, &s->w, &s->run, s->o->val_x, s->o->val_n, &s->pc);
}

/* A checkpoint in the middle of an epoch: the model's state now, and the place. */
static int stream_checkpoint_block(void *ctx, int epoch, const ae_stream_pos *pos) {
    stream *s = ctx;
    s->m->pos = *pos;
    const int rc = ae_checkpoint_save(s->m, s->o->checkpoint_path);
    memset(&s->m->pos, 0, sizeof s->m->pos);
    if (rc != AE_OK) {
        char detail[400];
        snprintf(detail, sizeof detail, "%s", ae_last_error());
        ae_fail(rc, "checkpoint %zu blocks into epoch %d: %s", pos->blocks_done, epoch, detail);
    }
    return rc;
}

/* Resuming: a checkpoint taken mid-epoch goes on from its place, which must be one of this
 * run's (the same rows in the same blocks). */
static int resume_place(stream *s) {
    const ae_stream_pos *p = &s->m->pos;
    if (p->blocks_done == 0) return AE_OK;
    if (p->n_blocks != s->n_blocks || p->block_rows != s->block_rows || p->rows != s->total)
        return ae_fail(AE_EINVAL,
                       "the checkpoint was taken in a stream of %zu rows in %zu blocks of %zu; this one has %zu rows "
                       "in %zu blocks of %zu: give the same file and buffer_rows",
                       p->rows, p->n_blocks, p->block_rows, s->total, s->n_blocks, s->block_rows);
    s->resume = *p;
    s->resuming = 1;
    return AE_OK;
}

static int stream_checkpoint(void *ctx, int epoch) {
    stream *s = ctx;
    const int rc = ae_checkpoint_save(s->m, s->o->checkpoint_path);
    if (rc != AE_OK) ae_checkpoint_failed(rc, epoch);
    return rc;
}

/* This process's share of the file's rows: all of them, or across processes even shares in
 * process order (the first rows % size take one row more: ae_mpi_data_load_shard's split).
 * *most: the largest share, which sizes the blocks alike everywhere. */
static int share(stream *s, size_t rows, size_t *most) {
    s->row0 = 0;
    s->total = *most = rows;
    if (rows == 0) return ae_fail(AE_EFORMAT, "%s has no rows", s->path);
    if (!s->D) return AE_OK;
    const size_t P = (size_t)s->D->size, r = (size_t)s->D->rank, base = rows / P, extra = rows % P;
    s->row0 = r * base + (r < extra ? r : extra);
    s->total = base + (r < extra ? 1 : 0);
    *most = base + (extra ? 1 : 0);
    s->dist = *s->D;
    s->dist.first = s->row0;
    s->dist.total = rows;
    return s->total ? AE_OK : ae_fail(AE_EINVAL, "%zu rows for %zu processes: a process has none", rows, P);
}

static int agree(const stream *s, int rc) { return s->D ? s->D->agree(rc, s->D->ctx) : rc; }

/* Sizes the blocks and checks the file's shape; fits the model's scaling on the first block
 * when it has none (across processes on every first block together; with scaling off, checks
 * the range instead). */
static int stream_open(stream *s, size_t buffer_rows) {
    /* A file that can seek (plain IDX, .npy) is opened again for each block, at the block;
     * one that cannot (gzip, text) stays open and is read in order. */
    size_t most = 0;
    int rc = ae_seq_open(&s->seq, s->path);
    if (rc == AE_OK && s->seq.cols != s->d)
        rc = ae_fail(AE_EINVAL, "%s has %zu columns; the model takes %zu", s->path, s->seq.cols, s->d);
    if (rc == AE_OK) rc = share(s, s->seq.rows, &most);
    if (!(s->in_order = ae_seq_in_order(&s->seq))) ae_seq_close(&s->seq);
    const size_t B = s->o->batch_size;
    size_t rows = buffer_rows ? buffer_rows : STREAM_DEFAULT_BYTES / (s->d * sizeof(float));
    rows = rows < B ? B : rows / B * B; /* whole batches a block */
    s->block_rows = rows < most ? rows : most;
    s->n_blocks = rc == AE_OK ? (most + s->block_rows - 1) / s->block_rows : 0;
    for (int i = 0; i < 2 && rc == AE_OK; i++) {
        if (!(s->buf[i] = ae_calloc(s->block_rows * s->d, sizeof(float)))) rc = AE_ENOMEM;
        s->have[i] = -1;
    }
    /* The first block in the user's units fits the scaling; then read again, scaled. */
    const size_t first = s->block_rows < s->total ? s->block_rows : s->total;
    if (rc == AE_OK) rc = read_rows(s, s->row0, first, s->buf[0]);
    if (rc == AE_OK) rc = ae_check_rows(s->buf[0], first, s->d);
    if ((rc = agree(s, rc)) != AE_OK) return rc;
    rc = ae_fit_scaling(s->m, s->buf[0], first, s->D ? &s->dist : NULL);
    return rc == AE_OK ? read_block(s, 0, 0, NULL, 0) : rc;
}

static int stream_check(ae_model *m, const char *path, const ae_train_opts *o, const ae_dist *D) {
    int rc = ae_train_opts_check(m, o);
    if (rc != AE_OK) return rc;
    if (!path || !*path) return ae_fail(AE_EINVAL, "ae_train_stream: no path given");
    if (o->val_split > 0.0f || o->threshold != AE_THRESHOLD_NONE)
        return ae_fail(AE_EINVAL, "ae_train_stream: give validation rows as val_x; calibrate a threshold after");
    if (o->val_x) rc = ae_check_rows(o->val_x, o->val_n, m->cfg.input_dim);
    /* Each process's draws (noise, dropout) go on from its own stream, which a checkpoint
     * does not hold: a place mid-epoch is for one process. */
    if (rc == AE_OK && D && D->size > 1 && o->checkpoint_every_blocks > 0)
        rc = ae_fail(AE_EINVAL, "checkpoint_every_blocks: one process only");
    if (rc == AE_OK && D && D->size > 1 && o->resume && m->pos.blocks_done > 0)
        rc = ae_fail(AE_EINVAL, "a checkpoint taken mid-epoch resumes on one process only");
    if (rc == AE_OK && o->resume && !ae_optim_matches(&m->opt, o, m->n_params)) rc = AE_EINVAL;
    return rc;
}

static void stream_close(stream *s) {
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
    }
    ae_plan_stop(&s->run);
    ae_work_free(&s->w);
    ae_dealloc(s->buf[0]);
    ae_dealloc(s->buf[1]);
    ae_seq_close(&s->seq);
}

/* Starts the reader; without one (no thread to be had), blocks are read when asked. */
static void reader_start(stream *s) {
    s->want = -1;
    if (pthread_mutex_init(&s->mu, NULL) != 0) return;
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        return;
    }
    if (pthread_create(&s->thread, NULL, reader_main, s) == 0) {
        s->started = 1;
        return;
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

static int stream_fit(stream *s, int first_epoch) {
    ae_fit_task t;
    memset(&t, 0, sizeof t);
    t.span[0] = (ae_span){s->m->params, s->m->grads, s->m->n_params};
    t.n_spans = 1;
    t.state = s->m->state;
    t.n_state = s->m->n_state;
    t.opt = &s->m->opt;
    t.rng = &s->m->rng;
    t.run = &s->run;
    t.n = s->total;
    t.batch = s->o->batch_size;
    t.first_epoch = first_epoch;
    t.step = stream_step;
    t.validate = s->o->val_x ? stream_validate : NULL;
    t.checkpoint = stream_checkpoint;
    t.n_blocks = s->n_blocks;
    t.block_rows = s->block_rows;
    t.load = stream_load;
    t.in_order = s->in_order;
    t.ctx = s;
    t.opts = s->o;
    t.dist = s->D ? &s->dist : NULL;
    t.checkpoint_block = s->o->checkpoint_every_blocks > 0 ? stream_checkpoint_block : NULL;
    t.checkpoint_blocks = (size_t)s->o->checkpoint_every_blocks;
    t.resume_pos = s->resuming ? &s->resume : NULL;
    if (s->n_blocks == 1) { /* one block: every row at hand, trained as ae_train would */
        t.n = s->rows[0];
        t.n_blocks = 0;
    }
    return ae_fit(&t, &s->m->epochs_done);
}

int ae_stream_dist(ae_model *m, const char *path, const ae_train_opts *opts, size_t buffer_rows, const ae_dist *D) {
    ae_error_clear();
    if (!m) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    stream s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.path = path;
    s.d = m->cfg.input_dim;
    s.o = o;
    s.D = D;
    s.pc = ae_pass_cfg_from(o);
    int rc = agree(&s, stream_check(m, path, o, D));
    if (rc != AE_OK) return rc;
    rc = stream_open(&s, buffer_rows);
    const size_t cap = o->batch_size < s.total ? o->batch_size : s.total;
    if (rc == AE_OK) rc = ae_work_init(&s.w, m, cap, &s.pc);
    int first_epoch = 1;
    if (rc == AE_OK && o->resume) {
        ae_optim_configure(&m->opt, o);
        first_epoch = m->epochs_done + 1;
        rc = resume_place(&s);
    } else if (rc == AE_OK) {
        ae_optim_free(&m->opt);
        m->epochs_done = 0;
        rc = ae_optim_init(&m->opt, o, m->n_params);
    }
    if (rc == AE_OK) memset(&m->pos, 0, sizeof m->pos); /* taken: a place goes into checkpoints only */
    if (rc == AE_OK) rc = ae_pass_plan(m, &s.w, &s.pc, s.buf[0], s.rows[0], s.total, 1, &s.run);
    const int lead = !D || D->rank == 0;
    if (rc == AE_OK && lead && o->checkpoint_every > 0 && (rc = ae_path_writable(o->checkpoint_path)) != AE_OK)
        ae_checkpoint_failed(rc, 0);
    if ((rc = agree(&s, rc)) == AE_OK) {
        if (s.n_blocks > 1) reader_start(&s);
        rc = stream_fit(&s, first_epoch);
    }
    stream_close(&s);
    return rc;
}

int ae_train_stream(ae_model *m, const char *path, const ae_train_opts *opts, size_t buffer_rows) {
    return ae_stream_dist(m, path, opts, buffer_rows, NULL);
}
