/* model: the ae_model struct shared by model.c, train.c and io_model.c (never public). */
#ifndef AE_MODEL_H
#define AE_MODEL_H

#include "layer.h"
#include "optim.h"
#include "rng.h"

#define AE_MAX_LAYERS (2 * (AE_MAX_HIDDEN + 1))
#define AE_MAX_WIDTH ((size_t)1 << 24)     /* per layer: keeps every GEMM size below INT_MAX */
#define AE_MAX_PARAMS ((size_t)1 << 31)    /* floats in the parameter block */
#define AE_MAX_ROWS ((size_t)1 << 31)      /* rows per call */

struct ae_model {
    ae_config cfg;
    size_t n_layers; /* encoder layers first, then the mirrored decoder */
    size_t n_enc;
    ae_layer layer[AE_MAX_LAYERS];
    size_t max_width; /* widest layer input or output */
    size_t n_params;  /* floats in params (and grads), alignment padding included */
    float *params;    /* every weight and bias, 64-byte aligned tensors */
    float *grads;     /* same layout */
    ae_rng rng;       /* advanced by training (shuffle) and sampling */
    ae_optim opt;     /* training state kept between ae_train calls (for resume, checkpoints) */
    int epochs_done;
};

#define AE_MAX_TENSORS (2 * AE_MAX_LAYERS + 2) /* a VAE's head is stored as four tensors */

/* A named tensor of the model, for the model file. cols == 0 means 1-D [rows]. */
typedef struct ae_tensor_ref {
    char name[64];
    float *data;
    size_t rows, cols;
} ae_tensor_ref;

/* The floats a model of this config stores (its tensors, no padding); 0 for a bad config. */
AE_HIDDEN size_t ae_config_param_count(const ae_config *cfg);
/* Checks a config: AE_OK or AE_EINVAL. */
AE_HIDDEN int ae_config_check(const ae_config *cfg);
/* Lists the tensors that the model file stores, in file order; returns their count. With
 * state, the optimizer's moments follow (adam.m.*, adam.v.*, or momentum.* for SGD): out must
 * then hold 3 * AE_MAX_TENSORS. */
AE_HIDDEN size_t ae_model_tensors(const ae_model *m, ae_tensor_ref *out, int state);
/* Checks x [n x cols] for the inference and training calls: AE_EINVAL or AE_ENONFINITE. */
AE_HIDDEN int ae_check_rows(const float *x, size_t n, size_t cols);

#endif
