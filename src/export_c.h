/* export_c: a model as one dependency-free C header (ae_export_c). The model is first
 * flattened into a sequence of dense layers (export_c.c): batch norm folded into the dense
 * layer before it, a VAE's code layer cut to mu, a tied decoder's weight shared (read
 * transposed) or copied. The float header holds those layers; the int8 header holds their
 * quantised form (export_c_quant.c), whose integer arithmetic the library reproduces exactly to
 * report the score error. export_c_emit.c writes the text. */
#ifndef AE_EXPORT_C_H
#define AE_EXPORT_C_H

#include "model.h"

/* A dense layer of the exported model: y = act(W x + b). */
typedef struct ae_xlayer {
    size_t in, out;
    ae_activation act;
    float *w; /* [out x in] (owned); NULL when shared */
    float *b; /* [out] (owned) */
    int shared; /* 1: the weight is layer src's, read transposed ([in x out]) */
    size_t src;
    const float *orig_w; /* the model's weight this layer came from (finds a tied mirror) */
} ae_xlayer;

/* The int8 form of a layer. mode 0: int8 out, requantised (relu: clamped at the zero point);
 * 1: int8 out through a 256-entry table of the activation; 2: float out, act in float. */
typedef struct ae_qlayer {
    int mode;
    int lo, zp; /* modes 0 and 1: the output's clamp floor and zero point (mode 1:
                            the pre-activation's zero point is folded into the table) */
    signed char *w; /* [out x in] */
    int *b; /* [out]: the bias with the input's zero point folded in */
    int *m; /* [out] modes 0, 1: fixed-point multiplier ... */
    unsigned char *sh; /* [out] ... and right shift */
    signed char *lut; /* [256] mode 1 */
    float *fs; /* [out] mode 2: the accumulator's scale */
} ae_qlayer;

typedef struct ae_xmodel {
    size_t n, n_enc; /* layers, the encoder's (n_enc - 1: the code layer) */
    size_t d, k, maxw; /* input width, code width, widest layer input or output */
    ae_xlayer layer[AE_MAX_LAYERS];
    ae_xlayer head; /* head.out 0: none */
    ae_head_kind head_kind;
    const float *offset, *scale; /* the model's input scaling; NULL for the identity */
    int has_threshold;
    float threshold;
    /* int8 (quantised): */
    int q;
    ae_qlayer ql[AE_MAX_LAYERS], qhead;
    float in_inv, code_s; /* input: q = round(x' * in_inv) + in_zp; code: (q - code_zp) * code_s */
    int in_zp, code_zp;
} ae_xmodel;

AE_HIDDEN int ae_xmodel_build(ae_xmodel *xm, const ae_model *m, int share_tied);
AE_HIDDEN void ae_xmodel_free(ae_xmodel *xm);
/* Runs layer l of the float model on one row: z [out] before, y [out] after the activation. */
AE_HIDDEN void ae_xlayer_run(const ae_xmodel *xm, const ae_xlayer *L, const float *x, float *z, float *y);
/* Quantises xm calibrated on x [n x d] (user units) and fills rep's int8 figures. */
AE_HIDDEN int ae_xmodel_quantise(ae_xmodel *xm, const ae_model *m, const float *x, size_t n, ae_export_report *rep);
/* The int8 model's score of one row (the header's NAME_score exactly); work holds
 * ae_xmodel_work_floats floats. */
AE_HIDDEN float ae_xmodel_qscore(const ae_xmodel *xm, const float *x, float *work);
/* The floats of scratch one call of the header needs (NAME_WORK_FLOATS). */
AE_HIDDEN size_t ae_xmodel_work_floats(const ae_xmodel *xm);
/* Writes the header; *weight_bytes gets the parameter arrays' bytes. */
AE_HIDDEN int ae_export_emit(const ae_xmodel *xm, const char *path, const char *name, size_t *weight_bytes);

#endif
