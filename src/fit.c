#include "fit.h"

#include <math.h>
#include <string.h>

/* ---- processes ---- */

static int dist_agree(const ae_dist *d, int rc) { return d && d->agree ? d->agree(rc, d->ctx) : rc; }
static int dist_sum(const ae_dist *d, double *v, size_t n) {
    return d && d->sum_doubles ? d->sum_doubles(v, n, d->ctx) : AE_OK;
}

/* The draws of a step (noise, dropout, a VAE's code) come from the task's RNG in one process.
 * Across processes each needs its own stream while the shuffle's RNG stays the same
 * everywhere (and as in one process), so each epoch every process seeds its own stream from
 * the shared RNG's state without drawing from it. */
typedef struct step_rng {
    int own; /* 1: steps draw from `rng`, swapped in around them */
    ae_rng rng, saved;
} step_rng;

static void step_rng_epoch(step_rng *p, const ae_rng *shared, const ae_dist *d) {
    p->own = d && d->size > 1;
    if (p->own) ae_rng_seed(&p->rng, shared->state ^ 0x9E3779B97F4A7C15ull, 0x9a55u + (uint64_t)d->rank);
}

static void step_rng_enter(step_rng *p, ae_rng *r) {
    if (!p->own) return;
    p->saved = *r;
    *r = p->rng;
}

static void step_rng_leave(step_rng *p, ae_rng *r) {
    if (!p->own) return;
    p->rng = *r;
    *r = p->saved;
}

/* ---- the spans ---- */

static size_t span_floats(const ae_fit_task *t) {
    size_t n = t->n_state;
    for (size_t i = 0; i < t->n_spans; i++) n += t->span[i].n;
    return n;
}

/* to_task 0: buf <- the spans' parameters and the state; 1: the reverse. */
static void snapshot(const ae_fit_task *t, float *buf, int to_task) {
    for (size_t i = 0; i <= t->n_spans; i++) {
        float *p = i < t->n_spans ? t->span[i].p : t->state;
        const size_t n = i < t->n_spans ? t->span[i].n : t->n_state;
        if (n) memcpy(to_task ? p : buf, to_task ? buf : p, n * sizeof(float));
        buf += n;
    }
}

static void zero_grads(const ae_fit_task *t) {
    for (size_t i = 0; i < t->n_spans; i++) memset(t->span[i].g, 0, t->span[i].n * sizeof(float));
}

/* Global-norm clipping over every span's gradient (one span: ae_clip_norm's bits). */
static void clip(const ae_fit_task *t, float max_norm) {
    double sq = 0.0;
    for (size_t i = 0; i < t->n_spans; i++) sq += ae_sq_norm(t->span[i].g, t->span[i].n);
    const double norm = sqrt(sq);
    if (!(norm > max_norm)) return; /* also leaves a NaN norm to the divergence check */
    for (size_t i = 0; i < t->n_spans; i++) ae_scale(t->span[i].g, t->span[i].n, (float)(max_norm / norm));
}

/* The optimizer step in slices of a block (Adam and SGD are elementwise: the same bits for
 * any slicing), on the run's pool. */
typedef struct par_update {
    ae_optim *o;
    float *p, *g;
    uint32_t slices;
    int finite[AE_MAX_CHUNKS];
} par_update;

static void par_update_task(void *ctx, uint32_t s) {
    par_update *j = ctx;
    size_t lo, hi;
    ae_split(j->o->n, (int)s, (int)j->slices, 16, &lo, &hi);
    j->finite[s] = hi > lo ? ae_optim_update(j->o, j->p + lo, j->g + lo, lo, hi - lo) : 1;
}

/* The optimizer step over the spans, in slices on the run's pool when it has a team (one
 * span): 1 when every weight written is finite. */
static int optim_step(const ae_fit_task *t) {
    ae_run *r = t->run;
    ae_optim_begin_step(t->opt);
    if (!r || !r->pool || r->chunks < 2 || t->n_spans != 1) {
        int ok = 1;
        size_t off = 0;
        for (size_t i = 0; i < t->n_spans; i++) {
            ok &= ae_optim_update(t->opt, t->span[i].p, t->span[i].g, off, t->span[i].n);
            off += t->span[i].n;
        }
        return ok;
    }
    par_update j;
    j.o = t->opt;
    j.p = t->span[0].p;
    j.g = t->span[0].g;
    j.slices = (uint32_t)r->chunks;
    const ae_job job = {par_update_task, &j, &j.slices, 1};
    ae_pool_run(r->pool, &job, r->team);
    int ok = 1;
    for (uint32_t s = 0; s < j.slices; s++) ok &= j.finite[s];
    ae_plan_balance(r, ae_now_seconds() - r->step_start); /* team or alone next step */
    return ok;
}

/* ---- an epoch ---- */

typedef struct epoch_run {
    const ae_fit_task *t;
    uint32_t *perm, *idx;
    uint32_t *order; /* streaming: the epoch's block order */
    const ae_stream_pos *resume; /* streaming: the first epoch goes on from there (NULL: none) */
    double *place; /* streaming across processes: each one's rows of the block */
    step_rng srng;
    int lead;
    size_t total; /* rows an epoch (over every process) */
    size_t first; /* this process's first global row */
    size_t local; /* rows this process holds now: all of them, or the current block's */
    size_t cap; /* rows a step */
    size_t batches; /* steps an epoch, for on_batch */
} epoch_run;

/* This process's part of global rows perm[r0 .. r0 + rows) (or rows r0 .. in order): the step's
 * rows; returns the step's loss, NaN when any process diverged. */
static double run_step(epoch_run *e, size_t r0, size_t rows, ae_pass_parts *part, int *rc) {
    const ae_fit_task *t = e->t;
    size_t local = 0, lo = 0;
    const uint32_t *idx = NULL;
    if (e->perm) { /* the batch by index into this process's rows */
        for (size_t i = 0; i < rows; i++) {
            const size_t g = (size_t)e->perm[r0 + i] - e->first; /* wraps when below first */
            if (g < e->local) e->idx[local++] = (uint32_t)g;
        }
        idx = e->idx;
    } else { /* rows in order: one contiguous run */
        const size_t a = r0 > e->first ? r0 : e->first;
        const size_t b = r0 + rows < e->first + e->local ? r0 + rows : e->first + e->local;
        local = b > a ? b - a : 0;
        lo = local ? a - e->first : 0;
    }
    *part = (ae_pass_parts){0.0, 0.0, 0.0};
    double l = 0.0;
    if (local) {
        step_rng_enter(&e->srng, t->rng);
        l = t->step(t->ctx, lo, idx, local, part);
        step_rng_leave(&e->srng, t->rng);
    } else {
        zero_grads(t);
    }
    if (t->dist) {
        /* Each process's gradient is a mean over its `local` rows: weight it by local / rows
         * so that the sum across processes is the global batch's mean. */
        const ae_dist *D = t->dist;
        double f[4] = {part->recon * (double)local, part->kl * (double)local, part->sparsity * (double)local,
                       isfinite(l) ? 0.0 : 1.0};
        for (size_t i = 0; i < t->n_spans; i++) {
            if (local != rows) ae_scale(t->span[i].g, t->span[i].n, (float)local / (float)rows);
            if (*rc == AE_OK) *rc = D->sum_floats(t->span[i].g, t->span[i].n, D->ctx);
        }
        if (*rc == AE_OK) *rc = dist_sum(D, f, 4);
        *part = (ae_pass_parts){f[0] / (double)rows, f[1] / (double)rows, f[2] / (double)rows};
        l = f[3] > 0.0 ? NAN : part->recon + part->kl + part->sparsity;
    }
    return l;
}

/* The steps over `total` rows (the epoch's, or a block's); sums the parts over them into *sum,
 * counts the steps taken in *steps. AE_OK, AE_EDIVERGED or a failed reduction's status. */
static int run_steps(epoch_run *e, int epoch, size_t total, ae_pass_parts *sum, size_t *steps) {
    const ae_fit_task *t = e->t;
    const ae_train_opts *o = t->opts;
    const size_t cap = e->cap;
    int rc = AE_OK;
    for (size_t r0 = 0; r0 < total; r0 += cap) {
        const size_t rows = total - r0 < cap ? total - r0 : cap;
        ae_pass_parts part;
        ++*steps;
        const double l = run_step(e, r0, rows, &part, &rc);
        if (rc != AE_OK) return rc;
        if (!isfinite(l)) return AE_EDIVERGED;
        if (o->clip_norm > 0.0f) clip(t, o->clip_norm);
        /* The step checks the weights it wrote. Every process holds the same weights, so
         * every process finds the same. */
        if (!optim_step(t)) return AE_EDIVERGED;
        if (o->on_batch && e->lead) o->on_batch(epoch, *steps, e->batches, l, o->user);
        sum->recon += part.recon * (double)rows;
        sum->kl += part.kl * (double)rows;
        sum->sparsity += part.sparsity * (double)rows;
    }
    return AE_OK;
}

/* perm = a permutation of [0, n) when shuffling: from the identity each time, so that the
 * order depends on the RNG state alone. */
static void shuffle(epoch_run *e, size_t n) {
    if (!e->perm) return;
    for (size_t i = 0; i < n; i++) e->perm[i] = (uint32_t)i;
    ae_rng_permute(e->t->rng, e->perm, n);
}

/* Across processes, block b is every process's block b in process order: this process's
 * rows begin at e->first within it, of *global rows in all. e->place holds a slot per
 * process. */
static int block_place(epoch_run *e, size_t rows, size_t *global) {
    const ae_dist *D = e->t->dist;
    const size_t P = (size_t)D->size;
    memset(e->place, 0, P * sizeof *e->place);
    e->place[D->rank] = (double)rows; /* exact: rows < 2^53 */
    const int rc = D->sum_doubles(e->place, P, D->ctx);
    e->first = 0;
    *global = 0;
    for (size_t r = 0; r < P; r++) {
        if (r == (size_t)D->rank) e->first = *global;
        *global += (size_t)e->place[r];
    }
    return rc;
}

/* A streamed epoch: the blocks in an order shuffled by the RNG (in file order when the file
 * cannot seek: in_order), each block's rows shuffled within it (so a row's neighbours in a
 * batch come from its own block: a shuffle buffer the size of a block, not a full shuffle),
 * steps over each block as it is loaded. A resumed epoch (e->resume) draws its block order
 * from the RNG state its start had, and goes on from the block after the checkpoint's with
 * the sums and steps it had: the RNG itself is the checkpoint's, as it stood after that block. */
static int run_blocks(epoch_run *e, int epoch, ae_pass_parts *sum, size_t *steps) {
    const ae_fit_task *t = e->t;
    const size_t nb = t->n_blocks;
    const ae_stream_pos *rp = e->resume;
    e->resume = NULL;
    ae_rng start = *t->rng;
    if (rp) start = (ae_rng){rp->order_state, rp->order_inc};
    ae_rng drawn = start;
    for (size_t b = 0; b < nb; b++) e->order[b] = (uint32_t)b;
    if (e->perm && !t->in_order) ae_rng_permute(rp ? &drawn : t->rng, e->order, nb);
    size_t from = 0;
    if (rp) {
        from = rp->blocks_done;
        *sum = (ae_pass_parts){rp->sums[0], rp->sums[1], rp->sums[2]};
        *steps = rp->steps;
    }
    step_rng_epoch(&e->srng, t->rng, t->dist);
    int rc = AE_OK;
    for (size_t i = from; i < nb && rc == AE_OK; i++) {
        size_t rows = 0;
        rc = t->load(t->ctx, e->order[i], i + 1 < nb ? e->order[i + 1] : AE_FIT_NO_BLOCK, &rows);
        if ((rc = dist_agree(t->dist, rc)) != AE_OK) break;
        size_t global = rows;
        if (t->dist && (rc = block_place(e, rows, &global)) != AE_OK) break;
        e->local = rows;
        shuffle(e, global);
        rc = run_steps(e, epoch, global, sum, steps);
        if (rc == AE_OK && t->checkpoint_block && (i + 1) % t->checkpoint_blocks == 0 && i + 1 < nb) {
            const ae_stream_pos p = {
                i + 1, nb, t->block_rows, e->total, start.state, start.inc, {sum->recon, sum->kl, sum->sparsity},
                *steps};
            rc = dist_agree(t->dist, e->lead ? t->checkpoint_block(t->ctx, epoch, &p) : AE_OK);
        }
    }
    return rc;
}

/* Early stopping's record: the best monitored loss and the weights that gave it. */
typedef struct best_run {
    float *weights; /* NULL: no early stopping */
    double loss;
    int bad_epochs, have;
} best_run;

/* After an epoch: 1 when early stopping ends the run. */
static int best_update(best_run *b, const ae_fit_task *t, const ae_epoch_stats *s) {
    if (!b->weights) return 0;
    const double monitored = !isnan(s->val_loss) ? s->val_loss : s->train_loss;
    if (monitored < b->loss) {
        b->loss = monitored;
        snapshot(t, b->weights, 0);
        b->have = 1;
        b->bad_epochs = 0;
        return 0;
    }
    return ++b->bad_epochs >= t->opts->patience;
}

/* The epoch's statistics, validation included; AE_OK or a failed reduction's status. */
static int epoch_stats(epoch_run *e, int epoch, const ae_pass_parts *sum, double t0, ae_epoch_stats *s) {
    const ae_fit_task *t = e->t;
    const double total = (double)e->total;
    memset(s, 0, sizeof *s);
    s->epoch = epoch;
    s->train_recon = sum->recon / total;
    s->train_kl = sum->kl / total;
    s->train_sparsity = sum->sparsity / total;
    s->train_loss = s->train_recon + s->train_kl + s->train_sparsity;
    s->val_loss = NAN;
    double val[2] = {0.0, 0.0}; /* summed loss, rows: each process its own */
    if (t->validate) {
        size_t rows = 0;
        step_rng_enter(&e->srng, t->rng);
        val[0] = t->validate(t->ctx, &rows);
        step_rng_leave(&e->srng, t->rng);
        val[1] = (double)rows;
    }
    const int rc = dist_sum(t->dist, val, 2);
    if (val[1] > 0.0) s->val_loss = val[0] / val[1];
    s->samples = e->total;
    s->seconds = ae_now_seconds() - t0;
    return rc;
}

/* A diverged epoch: reported where it stopped; the weights go back to the epoch's first. */
static void diverged(epoch_run *e, int epoch, size_t steps, double t0, const float *good) {
    const ae_fit_task *t = e->t;
    ae_epoch_stats s;
    memset(&s, 0, sizeof s);
    snapshot(t, (float *)good, 1);
    s.epoch = epoch;
    s.train_loss = s.train_recon = s.val_loss = NAN;
    s.samples = steps * e->cap < e->total ? steps * e->cap : e->total;
    s.seconds = ae_now_seconds() - t0;
    s.diverged = 1;
    s.step = steps;
    if (t->opts->on_epoch && e->lead) (void)t->opts->on_epoch(&s, t->opts->user);
}

/* One epoch; *stop set when the run ends after it (callback or early stopping). */
static int run_epoch(epoch_run *e, int epoch, float *good, best_run *best, int *epochs_done, int *stop) {
    const ae_fit_task *t = e->t;
    const ae_train_opts *o = t->opts;
    const double t0 = ae_now_seconds();
    ae_pass_parts sum = {0.0, 0.0, 0.0};
    size_t steps = 0;
    snapshot(t, good, 0);
    int rc;
    if (t->n_blocks > 1) {
        rc = run_blocks(e, epoch, &sum, &steps);
    } else {
        shuffle(e, e->total);
        step_rng_epoch(&e->srng, t->rng, t->dist);
        rc = run_steps(e, epoch, e->total, &sum, &steps);
    }
    if (rc == AE_EDIVERGED)
        diverged(e, epoch, steps, t0, good);
    else if (rc != AE_OK)
        snapshot(t, good, 1); /* a failed read or reduction: the epoch's first weights */
    if (rc != AE_OK) return rc;
    ae_epoch_stats s;
    if ((rc = epoch_stats(e, epoch, &sum, t0, &s)) != AE_OK) return rc;
    if (epochs_done) *epochs_done = epoch;
    if (t->checkpoint && o->checkpoint_every > 0 && epoch % o->checkpoint_every == 0) {
        rc = e->lead ? t->checkpoint(t->ctx, epoch) : AE_OK; /* the work so far stays in the model */
        if ((rc = dist_agree(t->dist, rc)) != AE_OK) return rc;
    }
    double halt = o->on_epoch && e->lead ? o->on_epoch(&s, o->user) != 0 : 0;
    if ((rc = dist_sum(t->dist, &halt, 1)) != AE_OK) return rc;
    *stop = best_update(best, t, &s) || halt != 0.0;
    return AE_OK;
}

int ae_fit(const ae_fit_task *t, int *epochs_done) {
    const ae_train_opts *o = t->opts;
    epoch_run e;
    memset(&e, 0, sizeof e);
    e.t = t;
    e.lead = !t->dist || t->dist->rank == 0; /* calls back and writes files */
    e.resume = t->n_blocks > 1 ? t->resume_pos : NULL;
    e.total = t->dist ? t->dist->total : t->n;
    e.first = t->dist ? t->dist->first : 0;
    e.local = t->n_blocks > 1 ? 0 : t->n;
    e.cap = t->batch < e.total ? t->batch : e.total;
    e.batches = (e.total + e.cap - 1) / e.cap;
    if (t->n_blocks > 1 && !t->dist) /* whole batches a block, but the last */
        e.batches = (t->n_blocks - 1) * ((t->block_rows + e.cap - 1) / e.cap) +
                    (e.total - (t->n_blocks - 1) * t->block_rows + e.cap - 1) / e.cap;
    else if (t->n_blocks > 1) /* across processes a block's rows are known when it comes: at most */
        e.batches = e.total / e.cap + t->n_blocks;
    best_run best = {NULL, INFINITY, 0, 0};
    const size_t floats = span_floats(t);
    /* The weights each epoch starts from, restored if the epoch diverges. */
    float *good = ae_calloc(floats, sizeof(float));
    int rc = good ? AE_OK : AE_ENOMEM;
    const size_t procs = t->dist ? (size_t)t->dist->size : 1;
    const size_t perm_rows = t->n_blocks > 1 ? t->block_rows * procs : e.total;
    if (rc == AE_OK && o->shuffle &&
        (!(e.perm = ae_calloc(perm_rows, sizeof *e.perm)) || !(e.idx = ae_calloc(e.cap, sizeof *e.idx))))
        rc = AE_ENOMEM;
    if (rc == AE_OK && t->n_blocks > 1 && !(e.order = ae_calloc(t->n_blocks, sizeof *e.order))) rc = AE_ENOMEM;
    if (rc == AE_OK && t->n_blocks > 1 && t->dist && !(e.place = ae_calloc(procs, sizeof *e.place))) rc = AE_ENOMEM;
    if (rc == AE_OK && o->patience > 0 && !(best.weights = ae_calloc(floats, sizeof(float)))) rc = AE_ENOMEM;
    if ((rc = dist_agree(t->dist, rc)) == AE_OK) {
        int stop = 0;
        for (int epoch = t->first_epoch; epoch <= o->epochs && !stop && rc == AE_OK; epoch++)
            rc = run_epoch(&e, epoch, good, &best, epochs_done, &stop);
        if (best.have) snapshot(t, best.weights, 1);
    }
    ae_dealloc(best.weights);
    ae_dealloc(e.place);
    ae_dealloc(e.order);
    ae_dealloc(e.idx);
    ae_dealloc(e.perm);
    ae_dealloc(good);
    return rc;
}
