/* The dense layer: forward against a naive product, and its backward pass (dW, db, dX)
 * against central finite differences, for every activation and for a transposed (tied) weight. */
#include "test_util.h"

#include <string.h>

#include "layer.h"

enum { ROWS = 3, IN = 5, OUT = 4 };

typedef struct fixture {
    float w[OUT * IN], b[OUT], dw[OUT * IN], db[OUT];
    float x[ROWS * IN], g[ROWS * OUT]; /* g: fixed upstream gradient dL/dY */
    ae_layer l;
} fixture;

static void setup_layer(fixture *f, ae_activation act, int transposed) {
    test_fill(f->w, OUT * IN, 11, -0.8f, 0.8f);
    test_fill(f->b, OUT, 12, -0.3f, 0.3f);
    test_fill(f->x, ROWS * IN, 13, -1.0f, 1.0f);
    test_fill(f->g, ROWS * OUT, 14, -1.0f, 1.0f);
    memset(&f->l, 0, sizeof f->l);
    f->l.in = IN;
    f->l.out = OUT;
    f->l.act = act;
    f->l.w_transposed = transposed;
    f->l.w = f->w;
    f->l.b = f->b;
    f->l.dw = f->dw;
    f->l.db = f->db;
}

/* L = sum(g * act(X W^T + b)), so dL/dY = g. */
static double objective(fixture *f) {
    float y[ROWS * OUT];
    ae_layer_forward(&f->l, f->x, ROWS, y, 1);
    double s = 0.0;
    for (int i = 0; i < ROWS * OUT; i++) s += (double)f->g[i] * y[i];
    return s;
}

static double numeric(fixture *f, float *p) {
    const float h = 1e-2f, keep = *p;
    *p = keep + h;
    double up = objective(f);
    *p = keep - h;
    double down = objective(f);
    *p = keep;
    return (up - down) / (2.0 * h);
}

static void check_layer_gradients(ae_activation act, int transposed) {
    fixture f;
    setup_layer(&f, act, transposed);
    float y[ROWS * OUT], dz[ROWS * OUT], dx[ROWS * IN];
    ae_layer_forward(&f.l, f.x, ROWS, y, 1);
    memcpy(dz, f.g, sizeof dz);
    ae_act_backward(dz, y, ROWS * OUT, act);
    ae_layer_backward(&f.l, f.x, dz, ROWS, dx);
    for (int i = 0; i < OUT * IN; i++) assert_close(f.dw[i], numeric(&f, &f.w[i]), 2e-3, 2e-2);
    for (int i = 0; i < OUT; i++) assert_close(f.db[i], numeric(&f, &f.b[i]), 2e-3, 2e-2);
    for (int i = 0; i < ROWS * IN; i++) assert_close(dx[i], numeric(&f, &f.x[i]), 2e-3, 2e-2);
}

static void test_gradients_every_activation(void **state) {
    (void)state;
    for (int a = 0; a <= AE_ACT_TANH; a++) check_layer_gradients((ae_activation)a, 0);
}

static void test_gradients_transposed_weight(void **state) {
    (void)state;
    for (int a = 0; a <= AE_ACT_TANH; a++) check_layer_gradients((ae_activation)a, 1);
}

static void test_forward_against_naive(void **state) {
    (void)state;
    fixture f;
    setup_layer(&f, AE_ACT_TANH, 0);
    float y[ROWS * OUT];
    ae_layer_forward(&f.l, f.x, ROWS, y, 1);
    for (int i = 0; i < ROWS; i++)
        for (int o = 0; o < OUT; o++) {
            double z = f.b[o];
            for (int k = 0; k < IN; k++) z += (double)f.x[i * IN + k] * f.w[o * IN + k];
            assert_close(y[i * OUT + o], tanh(z), 1e-6, 1e-5);
        }
    /* A transposed weight [IN x OUT] holding W^T gives the same output. */
    float wt[IN * OUT], y2[ROWS * OUT];
    for (int o = 0; o < OUT; o++)
        for (int k = 0; k < IN; k++) wt[k * OUT + o] = f.w[o * IN + k];
    f.l.w = wt;
    f.l.w_transposed = 1;
    ae_layer_forward(&f.l, f.x, ROWS, y2, 1);
    for (int i = 0; i < ROWS * OUT; i++) assert_close(y2[i], y[i], 1e-6, 1e-6);
}

static void test_accumulating_gradient_adds(void **state) {
    (void)state;
    fixture f;
    setup_layer(&f, AE_ACT_LINEAR, 0);
    float dz[ROWS * OUT], first[OUT * IN];
    memcpy(dz, f.g, sizeof dz);
    ae_layer_backward(&f.l, f.x, dz, ROWS, NULL);
    memcpy(first, f.dw, sizeof first);
    f.l.grad_accumulate = 1;
    ae_layer_backward(&f.l, f.x, dz, ROWS, NULL);
    for (int i = 0; i < OUT * IN; i++) assert_close(f.dw[i], 2.0 * first[i], 1e-6, 1e-6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_against_naive),
        cmocka_unit_test(test_gradients_every_activation),
        cmocka_unit_test(test_gradients_transposed_weight),
        cmocka_unit_test(test_accumulating_gradient_adds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
