/* train_partial: incremental training (ae_train_partial). A call's rows continue the rows
 * held from earlier calls: the first batch may join held rows and new ones (assembled in the
 * held buffer), the next batches are the new rows in place, and what does not fill a batch is
 * held for the next call. fit runs the batches in order, as one ae_train epoch with shuffle
 * off would. */
#include <string.h>

#include "error.h"
#include "train.h"

/* The call's rows as fit sees them: logical row r is held row r (r < p), else new row r - p. */
typedef struct partial_ctx {
    ae_model *m;
    ae_work w;
    ae_run run;
    ae_pass_cfg pc;
    const float *x; /* the new rows, scaled */
    size_t p, n; /* rows held before the call, new rows */
} partial_ctx;

static double partial_step(void *ctx, size_t lo, const uint32_t *idx, size_t rows, ae_pass_parts *parts) {
    partial_ctx *c = ctx;
    const size_t d = c->m->cfg.input_dim;
    (void)idx; /* in order: fit gives ranges */
    const float *xb = c->x + (lo - c->p) * d;
    if (lo < c->p) { /* the first batch: held rows, then the first new ones after them */
        memcpy(c->m->held + c->p * d, c->x, (rows - c->p) * d * sizeof(float));
        xb = c->m->held;
    }
    return ae_pass_planned(c->m, &c->w, &c->run, xb, NULL, rows, &c->pc, 1, parts);
}

static int partial_check(ae_model *m, const ae_train_opts *o) {
    int rc = ae_train_opts_check(m, o);
    if (rc != AE_OK) return rc;
    if (o->val_x || o->val_split > 0.0f || o->patience > 0 || o->checkpoint_every > 0 || o->resume ||
        o->threshold != AE_THRESHOLD_NONE)
        return ae_fail(AE_EINVAL,
                       "ae_train_partial takes no validation rows, patience, checkpoints, resume or threshold");
    if (m->n_held && o->batch_size != m->held_cap)
        return ae_fail(AE_EINVAL, "batch_size is %zu but %zu rows are held for a batch of %zu", o->batch_size,
                       m->n_held, m->held_cap);
    return AE_OK;
}

/* The optimizer continues when it matches the options (after ae_train or an earlier call). */
static int optim_continue(ae_model *m, const ae_train_opts *o) {
    if (ae_optim_matches(&m->opt, o, m->n_params)) {
        ae_optim_configure(&m->opt, o);
        return AE_OK;
    }
    ae_optim_free(&m->opt);
    m->epochs_done = 0;
    return ae_optim_init(&m->opt, o, m->n_params);
}

/* Trains the whole batches of held + new rows (rows), in order, as one pass of fit. */
static int train_rows(ae_model *m, const float *x, size_t n, size_t rows, const ae_train_opts *o) {
    const size_t B = o->batch_size;
    ae_train_opts once = *o;
    once.epochs = 1;
    once.shuffle = 0;
    partial_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.x = x;
    c.p = m->n_held;
    c.n = n;
    c.pc = ae_pass_cfg_from(o);
    int rc = ae_work_init(&c.w, m, rows < B ? rows : B, &c.pc);
    if (rc == AE_OK) rc = optim_continue(m, o);
    if (rc == AE_OK) rc = ae_pass_plan(m, &c.w, &c.pc, NULL, 0, rows, 1, &c.run); /* no timing */
    if (rc == AE_OK) {
        ae_fit_task t;
        memset(&t, 0, sizeof t);
        t.span[0] = (ae_span){m->params, m->grads, m->n_params};
        t.n_spans = 1;
        t.state = m->state;
        t.n_state = m->n_state;
        t.opt = &m->opt;
        t.rng = &m->rng;
        t.run = &c.run;
        t.n = rows;
        t.batch = B;
        t.first_epoch = 1;
        t.step = partial_step;
        t.ctx = &c;
        t.opts = &once;
        rc = ae_fit(&t, NULL);
    }
    ae_plan_stop(&c.run);
    ae_work_free(&c.w);
    return rc;
}

/* Holds rows [from, n) of x after the rows already held (which a trained batch used up). */
static void hold(ae_model *m, const float *x, size_t from, size_t n, size_t keep) {
    const size_t d = m->cfg.input_dim;
    memmove(m->held + keep * d, x + from * d, (n - from) * d * sizeof(float));
    m->n_held = keep + (n - from);
}

static int partial_begin(ae_model *m, const ae_train_opts *o) {
    if (m->held && m->held_cap == o->batch_size) return AE_OK;
    float *h = ae_calloc(o->batch_size * m->cfg.input_dim, sizeof(float));
    if (!h) return AE_ENOMEM;
    ae_dealloc(m->held);
    m->held = h;
    m->held_cap = o->batch_size;
    m->n_held = 0;
    return AE_OK;
}

int ae_train_partial(ae_model *m, const float *x, size_t n, const ae_train_opts *opts) {
    ae_error_clear();
    if (!m) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    int rc = partial_check(m, o);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc != AE_OK) return rc;
    const float *xs = x;
    float *scaled = NULL; /* the rows in the model's units (scaling fitted on the first call) */
    if ((rc = ae_prepare_rows(m, x, n, &xs, &scaled)) == AE_OK) rc = partial_begin(m, o);
    if (rc != AE_OK) {
        ae_dealloc(scaled);
        return rc;
    }
    const size_t B = o->batch_size, p = m->n_held, rows = (p + n) / B * B; /* whole batches */
    if (rows) rc = train_rows(m, xs, n, rows, o);
    if (rc == AE_OK) {
        if (rows)
            hold(m, xs, rows - p, n, 0);
        else
            hold(m, xs, 0, n, p);
    } else {
        m->n_held = p; /* the held rows as they were (a joined batch only wrote after them) */
    }
    ae_dealloc(scaled);
    return rc;
}

int ae_train_partial_flush(ae_model *m, const ae_train_opts *opts) {
    ae_error_clear();
    if (!m) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    int rc = partial_check(m, o);
    if (rc != AE_OK || !m->n_held) return rc;
    /* The held rows as a batch of their own: logical rows [0, p) are all held. */
    const size_t p = m->n_held;
    rc = train_rows(m, m->held + p * m->cfg.input_dim, 0, p, o);
    if (rc == AE_OK) m->n_held = 0;
    return rc;
}

size_t ae_train_partial_held(const ae_model *m) { return m ? m->n_held : 0; }
