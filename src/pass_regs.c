/* pass_regs: what a training pass adds to the plain reconstruction: input corruption
 * (denoising), dropout, a VAE's sampling and KL term, the code's sparsity penalty. */
#include "pass_regs.h"

#include <math.h>
#include <string.h>

/* Denoising: Gaussian noise (clipped to [0,1] before a sigmoid output) or masking. */
void ae_corrupt(ae_model *m, const ae_pass_cfg *c, const float *x, float *out, size_t n) {
    if (c->noise == AE_NOISE_GAUSSIAN) {
        ae_rng_fill_normal(&m->rng, out, n);
        const float s = c->noise_level;
        if (m->cfg.output_act == AE_ACT_SIGMOID) {
            for (size_t i = 0; i < n; i++) out[i] = fminf(fmaxf(x[i] + s * out[i], 0.0f), 1.0f);
        } else {
            for (size_t i = 0; i < n; i++) out[i] = x[i] + s * out[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) out[i] = ae_rng_uniform(&m->rng) < c->noise_level ? 0.0f : x[i];
    }
}

/* Inverted dropout: each unit kept with probability keep and scaled by 1/keep. The mask is
 * drawn apart from its use so that a row-split pass can draw it before splitting. */
void ae_dropout_draw(ae_model *m, float *mask, size_t n, float keep) {
    const float scale = 1.0f / keep;
    for (size_t i = 0; i < n; i++) mask[i] = ae_rng_uniform(&m->rng) < keep ? scale : 0.0f;
}

void ae_dropout_apply(float *restrict a, const float *restrict mask, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] *= mask[i];
}

/* VAE: z = mu + exp(logvar / 2) eps for rows [r0, r1) of the head's [rows x 2k] output h (eps
 * drawn before); returns the KL divergence to N(0, I) summed over these rows and the code. */
double ae_vae_sample_rows(const ae_model *m, const float *h, const float *eps, float *z, size_t r0, size_t r1) {
    const size_t k = m->cfg.code_dim;
    double kl = 0.0;
    for (size_t i = r0; i < r1; i++) {
        const float *mu = h + i * 2 * k, *lv = mu + k;
        for (size_t j = 0; j < k; j++) {
            float sd = expf(0.5f * lv[j]);
            z[i * k + j] = mu[j] + sd * eps[i * k + j];
            kl += -0.5 * (1.0 + lv[j] - (double)mu[j] * mu[j] - (double)sd * sd);
        }
    }
    return kl;
}

/* VAE backward through the sampling for rows [r0, r1) of buf [rows x 2k], whose first k
 * columns hold the code's gradient dz: each row becomes the head's gradient in place, plus
 * the KL term's gradient with c = kl_weight / (rows d):
 *   dmu = dz + c mu;   dlogvar = dz eps exp(logvar / 2) / 2 + c (exp(logvar) - 1) / 2. */
void ae_vae_backward_rows(const ae_model *m, const float *h, const float *eps, float *buf, size_t r0, size_t r1,
                          float c) {
    const size_t k = m->cfg.code_dim;
    for (size_t i = r0; i < r1; i++) {
        const float *mu = h + i * 2 * k, *lv = mu + k;
        for (size_t j = 0; j < k; j++) {
            float dz = buf[i * 2 * k + j], sd = expf(0.5f * lv[j]);
            buf[i * 2 * k + k + j] = 0.5f * dz * eps[i * k + j] * sd + 0.5f * c * (sd * sd - 1.0f);
            buf[i * 2 * k + j] = dz + c * mu[j];
        }
    }
}

/* L1 sparsity on n code activations: returns sum |a|; with grad, adds g sign(a) to it. */
static double l1_sum(const float *a, size_t n, float *grad, float g) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += fabsf(a[i]);
        if (grad) grad[i] += a[i] > 0.0f ? g : a[i] < 0.0f ? -g : 0.0f;
    }
    return sum;
}

/* The sparsity penalty's share of rows [r0, r1) of the code activations a [rows x k], and
 * (when grad, the batch's [rows x k] gradient, is not NULL) its gradient added there. Sigmoid
 * code: weight * sum_j KL(rho || rho_j), rho_j the batch mean of unit j, which needs the whole
 * batch (r0 = 0, r1 = rows; see ae_pass_split_covers); any other code: weight * mean over the
 * batch's rows of sum_j |a_ij|. */
double ae_sparsity(const ae_model *m, const ae_pass_cfg *c, const float *a, size_t rows, size_t r0, size_t r1,
                   float *grad) {
    const size_t k = m->cfg.code_dim;
    const double w = c->sparsity_weight;
    double penalty = 0.0;
    if (m->cfg.code_act == AE_ACT_SIGMOID) {
        const double rho = c->sparsity_target;
        for (size_t j = 0; j < k; j++) {
            double mean = 0.0;
            for (size_t i = 0; i < rows; i++) mean += a[i * k + j];
            mean /= (double)rows;
            mean = fmin(fmax(mean, 1e-7), 1.0 - 1e-7); /* a saturated sigmoid must not give log(0) */
            penalty += rho * log(rho / mean) + (1.0 - rho) * log((1.0 - rho) / (1.0 - mean));
            if (grad) {
                float g = (float)(w * (-rho / mean + (1.0 - rho) / (1.0 - mean)) / (double)rows);
                for (size_t i = 0; i < rows; i++) grad[i * k + j] += g;
            }
        }
    } else {
        penalty =
            l1_sum(a + r0 * k, (r1 - r0) * k, grad ? grad + r0 * k : NULL, (float)(w / (double)rows)) / (double)rows;
    }
    return w * penalty;
}
