/* activation: every activation function, defined once. One row of AE_ACTIVATION_LIST gives
 * an activation's enum value (include/ae.h), its name (the model file, the ae command,
 * ae_activation_name), f(z), f'(a) written in terms of the output a = f(z), and the backward
 * step d * f'(a) as the kernels compute it. The scalar helpers here, the vectorised kernels in
 * tensor.c and the name table in activation.c are generated from it: adding an activation is
 * one row here and its enum value. */
#ifndef AE_ACTIVATION_H
#define AE_ACTIVATION_H

#include <math.h>
#include <stdint.h>

#include "ae.h"

/* Helpers must inline into the vector clones too (gcc will not inline a default-target
 * function into a cloned one unless forced). */
#if defined(__GNUC__)
#define AE_INLINE static inline __attribute__((always_inline))
#else
#define AE_INLINE static inline
#endif

#define AE_LEAKY_SLOPE 0.01f /* torch.nn.LeakyReLU's default */

/* exp(x) in float, branch-free so that loops calling it vectorise (libm's expf does not
 * without -ffast-math). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then Cephes'
 * polynomial for e^r (about 1 ulp); x is clamped to [-87.3, 88], where the result is a
 * normal float. The +1.5 * 2^23 trick rounds to the nearest integer without roundps; it
 * needs the sum rounded to float. CMake has float arithmetic evaluated as float wherever the
 * compiler can (FLT_EVAL_METHOD 0; on s390x -fexcess-precision=fast), so that every line
 * rounds as on x86-64; where it cannot (x87), the casts demand the rounding, and
 * -fexcess-precision=standard makes gcc honour them. With FLT_EVAL_METHOD 0 they change
 * nothing. */
AE_INLINE float ae_expf(float x) {
    x = x < -87.3f ? -87.3f : x > 88.0f ? 88.0f : x;
    float n = (float)((float)(x * 1.44269504f) + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^n; shifted unsigned: a NaN x (a diverged run) gives p NaN whatever n converts to, and
     * must not overflow a signed product on the way */
    union {
        uint32_t i;
        float f;
    } scale = {(uint32_t)((int32_t)n + 127) << 23};
    return p * scale.f;
}

/* The logistic function; saturates smoothly to 0 and 1 without overflow. */
AE_INLINE float ae_sigmoidf(float z) { return 1.0f / (1.0f + ae_expf(-z)); }

/* X(id, name, f(z), f'(a), d * f'(a), the outputs' range [lo, hi]). ReLU's backward selects
 * rather than multiplies, so that a zeroed gradient is +0 whatever d's sign (the bits every
 * earlier version gave). The range decides input scaling's AUTO mode and refusals (scale.c). */
#define AE_ACTIVATION_LIST(X) \
    X(AE_ACT_LINEAR, "linear", z, 1.0f, d, -INFINITY, INFINITY) \
    X(AE_ACT_RELU, "relu", (z > 0.0f ? z : 0.0f), (a > 0.0f ? 1.0f : 0.0f), (a > 0.0f ? d : 0.0f), 0.0, INFINITY) \
    X(AE_ACT_LEAKY_RELU, "leaky_relu", (z > 0.0f ? z : AE_LEAKY_SLOPE * z), (a > 0.0f ? 1.0f : AE_LEAKY_SLOPE), \
      d *(a > 0.0f ? 1.0f : AE_LEAKY_SLOPE), -INFINITY, INFINITY) \
    X(AE_ACT_SIGMOID, "sigmoid", ae_sigmoidf(z), a *(1.0f - a), d *(a * (1.0f - a)), 0.0, 1.0) \
    X(AE_ACT_TANH, "tanh", tanhf(z), 1.0f - a * a, d * (1.0f - a * a), -1.0, 1.0) \
    X(AE_ACT_SOFTPLUS, "softplus", (z > 20.0f ? z : log1pf(ae_expf(z))), 1.0f - ae_expf(-a), d * (1.0f - ae_expf(-a)), \
      0.0, INFINITY)

/* The scalar activation f(z) and its derivative from the output. Inline so that the loops
 * over them (tensor.c, loss.c) vectorise. */
AE_INLINE float ae_act_scalar(float z, ae_activation act) {
    switch (act) {
#define AE_ACT_CASE(id, name, f, g, b, lo, hi) \
    case id: return f;
        AE_ACTIVATION_LIST(AE_ACT_CASE)
#undef AE_ACT_CASE
    default: return z;
    }
}

AE_INLINE float ae_act_grad_from_output(float a, ae_activation act) {
    switch (act) {
#define AE_ACT_CASE(id, name, f, g, b, lo, hi) \
    case id: return g;
        AE_ACTIVATION_LIST(AE_ACT_CASE)
#undef AE_ACT_CASE
    default: return 1.0f;
    }
}

/* The range of act's outputs: [lo, hi], infinite where unbounded. */
__attribute__((visibility("hidden"))) void ae_act_range(ae_activation act, double *lo, double *hi);
/* 1 for a value of the enum. */
__attribute__((visibility("hidden"))) int ae_act_valid(ae_activation act);

#endif
