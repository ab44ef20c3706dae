/* pretrain: greedy layer-wise pretraining of a stacked autoencoder (Bengio et al. 2007,
 * Vincent et al. 2010 for the denoising variant). Encoder layer i and its mirror decoder layer
 * form a one-layer autoencoder trained on the codes of layers 0..i-1; the trained pairs are
 * then copied into the model, which is trained end to end. */
#include <string.h>

#include "error.h"
#include "train.h"

/* Forwards a stage's callbacks to the caller's, with the stage's layer number. */
typedef struct stage_ctx {
    const ae_train_opts *user;
    int layer;
} stage_ctx;

static int stage_on_epoch(const ae_epoch_stats *s, void *p) {
    const stage_ctx *c = p;
    ae_epoch_stats t = *s;
    t.layer = c->layer;
    return c->user->on_epoch(&t, c->user->user);
}

static void stage_on_batch(int epoch, size_t batch, size_t batches, double loss, void *p) {
    const stage_ctx *c = p;
    c->user->on_batch(epoch, batch, batches, loss, c->user->user);
}

/* The one-layer autoencoder of encoder layer i: the layer's widths and activation, the mirror
 * decoder layer's activation, the model's tying, a seed of its own. */
static ae_config stage_config(const ae_model *m, size_t i) {
    const ae_layer *enc = &m->layer[i], *dec = &m->layer[m->n_layers - 1 - i];
    ae_config c = ae_config_default();
    c.input_dim = enc->in;
    c.code_dim = enc->out;
    c.code_act = enc->act;
    c.output_act = dec->act;
    c.tied_weights = m->cfg.tied_weights;
    c.seed = m->cfg.seed + 0x9E3779B97F4A7C15ull * (i + 1);
    return c;
}

/* The training options of stage i: the caller's optimizer, batch, noise and sparsity (the
 * latter on the innermost code only); the caller's loss on the input, MSE on codes; nothing
 * that belongs to the end-to-end run (validation rows, early stopping, checkpoints). */
static ae_train_opts stage_opts(const ae_train_opts *o, size_t i, size_t stages, int epochs, stage_ctx *ctx) {
    ae_train_opts s = *o;
    s.epochs = epochs;
    s.loss = i == 0 ? o->loss : AE_LOSS_MSE;
    s.sparsity_weight = i + 1 == stages ? o->sparsity_weight : 0.0f;
    s.val_x = NULL;
    s.val_n = 0;
    s.patience = 0;
    s.resume = 0;
    s.checkpoint_path = NULL;
    s.checkpoint_every = 0;
    s.val_split = 0.0f;
    s.threshold = AE_THRESHOLD_NONE;
    s.on_epoch = o->on_epoch ? stage_on_epoch : NULL;
    s.on_batch = o->on_batch ? stage_on_batch : NULL;
    s.user = ctx;
    return s;
}

/* Copies stage model s (encoder layer 0, decoder layer 1) into layer i and its mirror. */
static void copy_stage(ae_model *m, const ae_model *s, size_t i) {
    ae_layer *enc = &m->layer[i], *dec = &m->layer[m->n_layers - 1 - i];
    memcpy(enc->w, s->layer[0].w, enc->in * enc->out * sizeof(float));
    memcpy(enc->b, s->layer[0].b, enc->out * sizeof(float));
    if (!dec->w_transposed) memcpy(dec->w, s->layer[1].w, dec->in * dec->out * sizeof(float));
    memcpy(dec->b, s->layer[1].b, dec->out * sizeof(float));
}

int ae_pretrain_layerwise(ae_model *m, const float *x, size_t n, const ae_train_opts *opts, int epochs_per_layer) {
    if (!m || epochs_per_layer < 1 || m->cfg.variational) return AE_EINVAL;
    /* A stage is one dense layer pair; batch norm's blocks have no one-layer autoencoder. */
    if (m->cfg.batch_norm) return ae_fail(AE_EINVAL, "layer-wise pretraining is for models without batch_norm");
    if (m->cfg.n_conv) return ae_fail(AE_EINVAL, "layer-wise pretraining is for dense models: not with conv layers");
    if (m->cfg.rnn != AE_RNN_NONE)
        return ae_fail(AE_EINVAL, "layer-wise pretraining is for dense models: not with a recurrent cell");
    ae_train_opts defaults = ae_train_opts_default();
    const ae_train_opts *o = opts ? opts : &defaults;
    int rc = ae_train_opts_check(m, o);
    if (rc == AE_OK) rc = ae_check_rows(x, n, m->cfg.input_dim);
    if (rc == AE_OK && o->val_x) rc = ae_check_rows(o->val_x, o->val_n, m->cfg.input_dim);
    if (rc != AE_OK || o->resume) return rc != AE_OK ? rc : AE_EINVAL;
    /* The stages learn the model's scaled rows: its scaling is fitted (on all of x) first. */
    float *scaled_copy = NULL;
    const float *xs = x;
    if ((rc = ae_prepare_rows(m, x, n, &xs, &scaled_copy)) != AE_OK) return rc;

    /* Every stage is kept until all have trained, so a failure leaves m as it was; so does an
     * end-to-end run that cannot start (its allocations fail), thanks to this copy. */
    const size_t stages = m->n_enc;
    ae_model *stage[AE_MAX_LAYERS] = {NULL};
    float *original = ae_calloc(m->n_params, sizeof(float));
    if (!original) {
        ae_dealloc(scaled_copy);
        return AE_ENOMEM;
    }
    memcpy(original, m->params, m->n_params * sizeof(float));
    float *codes = NULL; /* the current stage's input when it is not x: [n x width] */
    const float *in = xs;
    for (size_t i = 0; i < stages && rc == AE_OK; i++) {
        ae_config c = stage_config(m, i);
        stage_ctx ctx = {o, (int)i + 1};
        ae_train_opts so = stage_opts(o, i, stages, epochs_per_layer, &ctx);
        rc = ae_create(&stage[i], &c);
        if (rc == AE_OK) ae_scaler_identity(&stage[i]->scaler); /* its rows are scaled already */
        if (rc == AE_OK) rc = ae_train(stage[i], in, n, &so);
        if (rc == AE_OK && i + 1 < stages) { /* the next stage trains on these codes */
            float *next = ae_calloc(n * c.code_dim, sizeof(float)); /* n <= 2^31, width <= 2^24 */
            rc = next ? ae_encode(stage[i], in, n, next) : AE_ENOMEM;
            ae_dealloc(codes);
            codes = next;
            in = codes;
        }
    }
    ae_dealloc(codes);
    if (rc == AE_OK)
        for (size_t i = 0; i < stages; i++) copy_stage(m, stage[i], i);
    for (size_t i = 0; i < stages; i++) ae_free(stage[i]);
    if (rc == AE_OK) {
        rc = ae_train(m, x, n, o);
        if (rc == AE_ENOMEM) memcpy(m->params, original, m->n_params * sizeof(float));
    }
    ae_dealloc(original);
    ae_dealloc(scaled_copy);
    return rc;
}
