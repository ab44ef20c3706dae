/* model: the ae_model struct shared by model.c, train.c and io_model.c (never public). */
#ifndef AE_MODEL_H
#define AE_MODEL_H

#include "layer.h"
#include "optim.h"
#include "rng.h"
#include "scale.h"

#define AE_MAX_LAYERS (2 * (2 * AE_MAX_HIDDEN + 1)) /* a dense and a batch norm layer a hidden block */
#define AE_MAX_WIDTH ((size_t)1 << 24) /* per layer: keeps every GEMM size below INT_MAX */
#define AE_MAX_PARAMS ((size_t)1 << 31) /* floats in the parameter block */
#define AE_MAX_ROWS ((size_t)1 << 31) /* rows per call */

/* An optional supervised head on the code (ae_head_*): one dense layer in its own block. */
typedef struct ae_head {
    ae_head_kind kind;
    size_t outputs; /* 0: no head */
    size_t n; /* floats in params (and grads), padding included */
    float *params, *grads;
    ae_layer layer; /* in = code_dim, out = outputs, linear; views into the blocks */
} ae_head;

/* The anomaly threshold kept by ae_threshold_calibrate / ae_threshold_set (saved). */
typedef struct ae_threshold_state {
    ae_threshold_method method; /* AE_THRESHOLD_NONE: not set */
    double param;
    float value;
} ae_threshold_state;

/* Where a streamed epoch stood when a checkpoint was taken in it (ae_train_stream with
 * checkpoint_every_blocks): blocks_done blocks of epoch epochs_done + 1 trained; 0 at an
 * epoch's end (every other checkpoint). Saved in the checkpoint's state (io_meta_pos.c), so
 * that a resumed stream goes on from the next block as if never stopped. */
typedef struct ae_stream_pos {
    size_t blocks_done;
    size_t n_blocks, block_rows, rows; /* the run's blocks and rows: a resume must match them */
    uint64_t order_state, order_inc; /* the RNG at the epoch's start: its block order */
    double sums[3]; /* the epoch's reconstruction, KL and sparsity losses summed so far */
    size_t steps; /* the epoch's steps so far */
} ae_stream_pos;

struct ae_model {
    ae_config cfg;
    size_t n_layers; /* encoder layers first, then the mirrored decoder */
    size_t n_enc; /* the encoder's layers: layer n_enc - 1 is the code layer */
    ae_layer layer[AE_MAX_LAYERS];
    size_t max_width; /* widest layer input or output */
    size_t n_params; /* floats in params (and grads), alignment padding included */
    float *params; /* every weight and bias, 64-byte aligned tensors */
    float *grads; /* same layout */
    size_t n_state; /* floats in state */
    float *state; /* saved non-trained statistics (batch norm's running mean and variance) */
    float *scratch; /* the latest training batch's statistics (batch norm), n_state floats */
    ae_rng rng; /* advanced by training (shuffle) and sampling */
    ae_optim opt; /* training state kept between ae_train calls (for resume, checkpoints) */
    int epochs_done;
    ae_stream_pos pos; /* a mid-epoch checkpoint's place (blocks_done 0: none) */
    ae_head head;
    ae_threshold_state threshold;
    ae_scaler scaler; /* input scaling (cfg.scaling), fitted by the first training */
    /* ae_train_partial's rows waiting for a whole batch: [held_cap x input_dim], scaled */
    float *held;
    size_t n_held, held_cap;
};

/* A layer stores up to four tensors (a VAE's code layer: four, a batch norm layer: two
 * trained and two statistics); a supervised head adds two, input scaling two. */
#define AE_MAX_TENSORS (4 * AE_MAX_LAYERS + 6) /* batch norm: 2 trained, 2 saved statistics */

/* A named tensor of the model, for the model file. cols == 0 means 1-D [rows]. kernel > 0: a
 * conv weight, [rows, cols / kernel^2, kernel, kernel] in the file (ae_tensor_dims). */
typedef struct ae_tensor_ref {
    char name[64];
    float *data;
    size_t rows, cols;
    size_t kernel;
} ae_tensor_ref;
/* The file's shape of t: its dimensions into dims, their count returned (1, 2 or 4). */
AE_HIDDEN size_t ae_tensor_dims(const ae_tensor_ref *t, size_t dims[4]);

/* Appends a layer of kind k to m's sequence (in, out and act set, the rest 0). */
AE_HIDDEN ae_layer *ae_model_add_layer(ae_model *m, const ae_kind *k, size_t in, size_t out, ae_activation act);
/* Raises m->max_width to L's in and out. */
AE_HIDDEN void ae_model_widen(ae_model *m, const ae_layer *L);
/* model_conv.c: the config's conv layers checked (AE_OK, or AE_EINVAL with the reason); the
 * encoder's conv2d layers appended (returns their flattened output width); the decoder's
 * mirrored conv2d_t layers appended. */
AE_HIDDEN int ae_conv_config_check(const ae_config *c);
AE_HIDDEN size_t ae_conv_add_encoder(ae_model *m);
AE_HIDDEN void ae_conv_add_decoder(ae_model *m);
/* model_rnn.c: the config's recurrent layers checked (AE_OK, or AE_EINVAL with the reason);
 * the whole sequence of a recurrent model built (rnn.h has its layers). */
AE_HIDDEN int ae_rnn_config_check(const ae_config *c);
AE_HIDDEN void ae_rnn_build(ae_model *m);
/* The floats a model of this config stores (its tensors, no padding); 0 for a bad config. */
AE_HIDDEN size_t ae_config_param_count(const ae_config *cfg);
/* The floats of saved statistics (batch norm's running mean and variance) of this config. */
AE_HIDDEN size_t ae_config_state_count(const ae_config *cfg);
/* 1 when the saved statistics are usable: finite, and batch norm's variances >= 0. */
AE_HIDDEN int ae_model_state_ok(const ae_model *m);
/* Checks a config: AE_OK or AE_EINVAL. */
AE_HIDDEN int ae_config_check(const ae_config *cfg);
/* ae_create, held to the memory limit when limited (ae_load's models are not: the file holds
 * their weights). */
AE_HIDDEN int ae_model_new(ae_model **out, const ae_config *cfg, int limited);
/* Lists the tensors that the model file stores, in file order; returns their count: the
 * autoencoder's, then the head's (head.weight, head.bias) when there is one. With state, the
 * autoencoder's optimizer moments follow (adam.m.*, adam.v.*, or momentum.* for SGD): out
 * must then hold 3 * AE_MAX_TENSORS. Last, the input scaling's scaling.offset and
 * scaling.scale [input_dim] when it is not the identity. */
AE_HIDDEN size_t ae_model_tensors(const ae_model *m, ae_tensor_ref *out, int state);
/* Checks x [n x cols] for the inference and training calls: AE_EINVAL or AE_ENONFINITE. */
AE_HIDDEN int ae_check_rows(const float *x, size_t n, size_t cols);
/* Runs layers [first, last) over x [n x layer[first].in] into out [n x width], where width is
 * layer[last-1].out, or the code width k when the last layer is a VAE head (out gets mu).
 * Allocates its own chunk buffers: safe from several threads. */
AE_HIDDEN int ae_forward_layers(const ae_model *m, size_t first, size_t last, const float *x, size_t n, float *out);
/* ae_forward_layers in the user's units: rows going into the input layer are scaled first,
 * rows coming out of the output layer are unscaled. For the public inference calls. */
AE_HIDDEN int ae_forward_user(const ae_model *m, size_t first, size_t last, const float *x, size_t n, float *out);
/* A copy of x [n x input_dim] in scaled units into *scaled (*owned set to it), or x itself
 * (*owned NULL) when the model's scaling is the identity. */
AE_HIDDEN int ae_scaled_rows(const ae_model *m, const float *x, size_t n, const float **scaled, float **owned);
/* Combines per-process scaling statistics (pass 1: min, max, sum, rows; pass 2: sq), so that
 * every process fits the same scaler; NULL for one process. */
typedef int (*ae_stats_combine)(ae_scale_stats *s, int pass, void *ctx);
/* Fits m's scaler (cfg.scaling) on x [n x input_dim]. */
AE_HIDDEN int ae_model_fit_scaling(ae_model *m, const float *x, size_t n, ae_stats_combine combine, void *ctx);
/* Floats of the parameter block holding the encoder's tensors: they come first. */
AE_HIDDEN size_t ae_encoder_span(const ae_model *m);
/* Floats reserved for a tensor of count floats: whole 64-byte lines. */
AE_HIDDEN size_t ae_padded(size_t count);
/* Sizes the head's blocks for kind and outputs (zeroed, replacing any head); no init. */
AE_HIDDEN int ae_head_alloc(ae_model *m, ae_head_kind kind, size_t outputs);
AE_HIDDEN void ae_head_release(ae_head *h);
/* A threshold method and parameter that calibration accepts: AE_OK or AE_EINVAL with a detail. */
AE_HIDDEN int ae_threshold_param_check(ae_threshold_method method, double param);

#endif
