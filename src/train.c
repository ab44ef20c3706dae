#define _POSIX_C_SOURCE 200809L
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "io_file.h"
#include "optim.h"

ae_train_opts ae_train_opts_default(void) {
    ae_train_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 10;
    o.batch_size = 128;
    o.shuffle = 1;
    o.optimizer = AE_OPT_ADAM;
    o.learning_rate = 1e-3f;
    o.momentum = 0.0f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-8f;
    o.loss = AE_LOSS_MSE;
    o.noise = AE_NOISE_NONE;
    o.sparsity_target = 0.05f;
    o.kl_weight = 1.0f;
    return o;
}

static int finite_in(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

/* Each refusal names the option (the ae_train_opts field) and what it accepts. */
#define BAD(...) return ae_fail(AE_EINVAL, __VA_ARGS__)

int ae_train_opts_check(const ae_model *m, const ae_train_opts *o) {
    if (o->epochs < 1) BAD("epochs is %d: it must be at least 1", o->epochs);
    if (o->batch_size < 1 || o->batch_size > AE_MAX_ROWS)
        BAD("batch_size is %zu: it must be in [1, 2^31]", o->batch_size);
    if ((unsigned)o->optimizer > (unsigned)AE_OPT_ADAMW)
        BAD("optimizer %d is not sgd, adam or adamw", (int)o->optimizer);
    if ((unsigned)o->loss > (unsigned)AE_LOSS_BCE) BAD("loss %d is not mse or bce", (int)o->loss);
    if (!(isfinite(o->learning_rate) && o->learning_rate > 0.0f))
        BAD("learning_rate is %g: it must be a finite number > 0", (double)o->learning_rate);
    if (!finite_in(o->momentum, 0.0f, 1.0f) || o->momentum >= 1.0f)
        BAD("momentum is %g: it must be in [0, 1)", (double)o->momentum);
    if (!finite_in(o->beta1, 0.0f, 1.0f) || o->beta1 >= 1.0f)
        BAD("beta1 is %g: it must be in [0, 1)", (double)o->beta1);
    if (!finite_in(o->beta2, 0.0f, 1.0f) || o->beta2 >= 1.0f)
        BAD("beta2 is %g: it must be in [0, 1)", (double)o->beta2);
    if (!(isfinite(o->eps) && o->eps > 0.0f)) BAD("eps is %g: it must be a finite number > 0", (double)o->eps);
    if (!finite_in(o->weight_decay, 0.0f, 1e6f))
        BAD("weight_decay is %g: it must be in [0, 1e6]", (double)o->weight_decay);
    if (o->nesterov && (o->optimizer != AE_OPT_SGD || o->momentum == 0.0f))
        BAD("nesterov needs the sgd optimizer with a momentum > 0");
    /* BCE is computed from logits, which needs the sigmoid output. */
    if (o->loss == AE_LOSS_BCE && m->cfg.output_act != AE_ACT_SIGMOID) BAD("loss bce needs a sigmoid output");
    if ((unsigned)o->noise > (unsigned)AE_NOISE_MASK) BAD("noise %d is not none, gaussian or mask", (int)o->noise);
    if (o->noise == AE_NOISE_GAUSSIAN && !finite_in(o->noise_level, 0.0f, 1e6f))
        BAD("noise_level is %g: gaussian noise wants a standard deviation in [0, 1e6]", (double)o->noise_level);
    if (o->noise == AE_NOISE_MASK && (!finite_in(o->noise_level, 0.0f, 1.0f) || o->noise_level >= 1.0f))
        BAD("noise_level is %g: mask noise wants a share in [0, 1)", (double)o->noise_level);
    if (!finite_in(o->dropout, 0.0f, 1.0f) || o->dropout >= 1.0f)
        BAD("dropout is %g: it must be in [0, 1)", (double)o->dropout);
    if (!finite_in(o->sparsity_weight, 0.0f, 1e6f))
        BAD("sparsity_weight is %g: it must be in [0, 1e6]", (double)o->sparsity_weight);
    if (!finite_in(o->kl_weight, 0.0f, 1e6f)) BAD("kl_weight is %g: it must be in [0, 1e6]", (double)o->kl_weight);
    if (o->sparsity_weight > 0.0f) {
        /* KL needs a target strictly inside (0, 1); a VAE's code is a sample, not an activation. */
        if (m->cfg.variational) BAD("sparsity_weight > 0 is not for a variational model");
        if (m->cfg.code_act == AE_ACT_SIGMOID &&
            (!finite_in(o->sparsity_target, 0.0f, 1.0f) || o->sparsity_target <= 0.0f || o->sparsity_target >= 1.0f))
            BAD("sparsity_target is %g: with a sigmoid code it must be in (0, 1)", (double)o->sparsity_target);
    }
    if (o->patience < 0) BAD("patience is %d: it must be >= 0", o->patience);
    if (!finite_in(o->clip_norm, 0.0f, 3e38f)) BAD("clip_norm is %g: it must be >= 0 and finite", (double)o->clip_norm);
    if (o->checkpoint_every < 0) BAD("checkpoint_every is %d: it must be >= 0", o->checkpoint_every);
    if (o->checkpoint_every > 0 && (!o->checkpoint_path || !*o->checkpoint_path))
        BAD("checkpoint_every > 0 needs a checkpoint_path");
    if (o->checkpoint_every_blocks < 0)
        BAD("checkpoint_every_blocks is %d: it must be >= 0", o->checkpoint_every_blocks);
    if (o->checkpoint_every_blocks > 0 && (!o->checkpoint_path || !*o->checkpoint_path))
        BAD("checkpoint_every_blocks > 0 needs a checkpoint_path");
    if ((o->val_x == NULL) != (o->val_n == 0)) BAD("val_x and val_n must be given together");
    if (!finite_in(o->val_split, 0.0f, 0.9f)) BAD("val_split is %g: it must be in [0, 0.9]", (double)o->val_split);
    if (o->val_split > 0.0f && o->val_x) BAD("val_split holds out validation rows: not with val_x as well");
    if (o->threshold != AE_THRESHOLD_NONE) {
        if (o->threshold == AE_THRESHOLD_MANUAL) BAD("threshold: a manual threshold is set by ae_threshold_set");
        int rc = ae_threshold_param_check(o->threshold, o->threshold_param);
        if (rc != AE_OK) return rc;
    }
    if (o->threshold_folds < 0 || o->threshold_folds > 100)
        BAD("threshold_folds is %d: it must be in [0, 100]", o->threshold_folds);
    if (o->threshold_folds > 1 && (o->threshold == AE_THRESHOLD_NONE || o->val_x || o->val_split > 0.0f))
        BAD("threshold_folds needs a threshold method and no validation rows (val_x, val_split)");
    return AE_OK;
}
#undef BAD

/* Puts "checkpoint" and the epoch before the saver's detail (which names the path and the
 * system's reason), so that ae_last_error says it was the checkpoint. */
void ae_checkpoint_failed(int rc, int epoch) {
    char detail[400];
    snprintf(detail, sizeof detail, "%s", ae_last_error());
    if (epoch)
        ae_fail(rc, "checkpoint after epoch %d: %s", epoch, detail);
    else
        ae_fail(rc, "checkpoint: %s", detail);
}

int ae_train(ae_model *m, const float *x, size_t n, const ae_train_opts *opts) {
    return ae_fit_dist(m, x, n, opts, NULL);
}

/* The autoencoder's run, as fit's task sees it. */
typedef struct train_ctx {
    ae_model *m;
    ae_work w;
    ae_run run;
    ae_pass_cfg pc;
    const float *x; /* this process's rows */
    const ae_train_opts *o;
} train_ctx;

/* A step: the pass over the batch (rows idx of x, or x's rows [lo, lo + rows)), which is its
 * own target; the pass gathers the rows. */
static double train_step(void *p, size_t lo, const uint32_t *idx, size_t rows, ae_pass_parts *parts) {
    train_ctx *c = p;
    const float *xb = idx ? c->x : c->x + lo * c->m->cfg.input_dim;
    return ae_pass_planned(c->m, &c->w, &c->run, xb, idx, rows, &c->pc, 1, parts);
}

static double train_validate(void *p, size_t *rows) {
    train_ctx *c = p;
    *rows = c->o->val_n;
    return ae_pass_eval_sum(c->m, &c->w, &c->run, c->o->val_x, c->o->val_n, &c->pc);
}

static int train_checkpoint(void *p, int epoch) {
    train_ctx *c = p;
    const int rc = ae_checkpoint_save(c->m, c->o->checkpoint_path);
    if (rc != AE_OK) ae_checkpoint_failed(rc, epoch); /* the caller hears why saving failed */
    return rc;
}

/* Checks the call before anything is allocated: options, rows, and what the run needs. */
static int train_check(ae_model *m, const float *x, size_t n, const ae_train_opts *o, const ae_dist *D) {
    int rc = ae_train_opts_check(m, o);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc == AE_OK && o->val_x) rc = ae_check_rows(o->val_x, o->val_n, m->cfg.input_dim);
    /* The KL sparsity penalty is a function of the whole batch's mean activation: it does not
     * split across processes. */
    if (rc == AE_OK && D && D->size > 1 && o->sparsity_weight > 0.0f && m->cfg.code_act == AE_ACT_SIGMOID)
        rc = AE_EINVAL;
    /* Each process would normalise by its own rows' statistics and keep its own running ones. */
    if (rc == AE_OK && D && D->size > 1 && m->cfg.batch_norm)
        rc = ae_fail(AE_EINVAL, "batch_norm is not supported in data-parallel training");
    if (rc == AE_OK && o->resume && !ae_optim_matches(&m->opt, o, m->n_params)) rc = AE_EINVAL; /* nothing to resume */
    if (rc == AE_OK && o->resume && m->pos.blocks_done > 0)
        rc = ae_fail(AE_EINVAL,
                     "the checkpoint was taken %zu blocks into epoch %d of a stream: resume it with "
                     "ae_train_stream on the same file",
                     m->pos.blocks_done, m->epochs_done + 1);
    return rc;
}

/* The optimizer state lives in the model so that training can be resumed (and saved in a
 * checkpoint); a fresh run replaces it. Returns the first epoch to run, 0 on failure. */
static int optim_prepare(ae_model *m, const ae_train_opts *o, int *rc) {
    if (o->resume) {
        ae_optim_configure(&m->opt, o);
        return m->epochs_done + 1;
    }
    ae_optim_free(&m->opt);
    m->epochs_done = 0;
    memset(&m->pos, 0, sizeof m->pos);
    *rc = ae_optim_init(&m->opt, o, m->n_params);
    return 1;
}

int ae_train_dist(ae_model *m, const float *x, size_t n, const ae_train_opts *opts, const ae_dist *dist) {
    if (!m) return AE_EINVAL;
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    const int lead = !dist || dist->rank == 0; /* calls back and writes files */
    int rc = train_check(m, x, n, o, dist);
    if (dist && dist->agree) rc = dist->agree(rc, dist->ctx);
    if (rc != AE_OK) return rc;

    const size_t total = dist ? dist->total : n;
    const size_t cap = o->batch_size < total ? o->batch_size : total; /* the global batch */
    train_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.pc = ae_pass_cfg_from(o);
    c.x = x;
    c.o = o;
    rc = ae_work_init(&c.w, m, cap, &c.pc);
    const int first_epoch = rc == AE_OK ? optim_prepare(m, o, &rc) : 1;
    if (rc == AE_OK) rc = ae_pass_plan(m, &c.w, &c.pc, x, n, total, lead, &c.run);
    /* A checkpoint that cannot be written is found now, not after the first epochs. */
    if (rc == AE_OK && lead && o->checkpoint_every > 0 && (rc = ae_path_writable(o->checkpoint_path)) != AE_OK)
        ae_checkpoint_failed(rc, 0);
    if (dist && dist->agree) rc = dist->agree(rc, dist->ctx);
    if (rc == AE_OK) {
        ae_fit_task t;
        memset(&t, 0, sizeof t);
        t.span[0] = (ae_span){m->params, m->grads, m->n_params};
        t.n_spans = 1;
        t.opt = &m->opt;
        t.rng = &m->rng;
        t.run = &c.run;
        t.n = n;
        t.batch = cap;
        t.shuffle = o->shuffle;
        t.first_epoch = first_epoch;
        t.step = train_step;
        t.validate = o->val_x ? train_validate : NULL;
        t.checkpoint = train_checkpoint;
        t.ctx = &c;
        t.opts = o;
        t.dist = dist;
        rc = ae_fit(&t, &m->epochs_done);
    }
    ae_plan_stop(&c.run);
    ae_work_free(&c.w);
    return rc;
}
