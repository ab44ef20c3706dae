/* One (and two) optimizer steps against values computed by hand from DESIGN.md section 3. */
#include "test_util.h"

#include <string.h>

#include "optim.h"

static ae_optim make(ae_optimizer kind, float lr, float mom, int nesterov, float wd) {
    ae_train_opts o = ae_train_opts_default();
    o.optimizer = kind;
    o.learning_rate = lr;
    o.momentum = mom;
    o.nesterov = nesterov;
    o.weight_decay = wd;
    ae_optim opt;
    assert_int_equal(ae_optim_init(&opt, &o, 2), AE_OK);
    return opt;
}

static void test_sgd_plain_and_weight_decay(void **state) {
    (void)state;
    float p[2] = {1.0f, -2.0f};
    const float g[2] = {0.5f, 0.25f};
    ae_optim o = make(AE_OPT_SGD, 0.1f, 0.0f, 0, 0.0f);
    ae_optim_step(&o, p, g);
    assert_close(p[0], 0.95, 1e-7, 0); /* 1 - 0.1 * 0.5 */
    assert_close(p[1], -2.025, 1e-7, 0); /* -2 - 0.1 * 0.25 */
    ae_optim_free(&o);
    float q[2] = {1.0f, -2.0f};
    o = make(AE_OPT_SGD, 0.1f, 0.0f, 0, 0.5f);
    ae_optim_step(&o, q, g);
    assert_close(q[0], 1.0 - 0.1 * (0.5 + 0.5 * 1.0), 1e-7, 0);
    assert_close(q[1], -2.0 - 0.1 * (0.25 + 0.5 * -2.0), 1e-7, 0);
    ae_optim_free(&o);
}

static void test_sgd_momentum_two_steps(void **state) {
    (void)state;
    float p[2] = {1.0f, -2.0f};
    const float g[2] = {0.5f, 0.25f};
    ae_optim o = make(AE_OPT_SGD, 0.1f, 0.9f, 0, 0.0f);
    ae_optim_step(&o, p, g); /* v = g; p -= 0.1 g */
    ae_optim_step(&o, p, g); /* v = 0.9 g + g = 1.9 g; p -= 0.19 g */
    assert_close(p[0], 1.0 - 0.29 * 0.5, 1e-6, 0);
    assert_close(p[1], -2.0 - 0.29 * 0.25, 1e-6, 0);
    ae_optim_free(&o);
}

static void test_sgd_nesterov_two_steps(void **state) {
    (void)state;
    float p[2] = {1.0f, -2.0f};
    const float g[2] = {0.5f, 0.25f};
    ae_optim o = make(AE_OPT_SGD, 0.1f, 0.9f, 1, 0.0f);
    ae_optim_step(&o, p, g); /* v = g; p -= 0.1 (g + 0.9 g) = 0.19 g */
    ae_optim_step(&o, p, g); /* v = 1.9 g; p -= 0.1 (g + 1.71 g) = 0.271 g */
    assert_close(p[0], 1.0 - 0.461 * 0.5, 1e-6, 0);
    assert_close(p[1], -2.0 - 0.461 * 0.25, 1e-6, 0);
    ae_optim_free(&o);
}

static void test_adam_two_steps(void **state) {
    (void)state;
    float p[2] = {1.0f, -2.0f};
    const float g1[2] = {0.5f, -0.1f}, g2[2] = {0.3f, 0.2f};
    ae_optim o = make(AE_OPT_ADAM, 0.01f, 0.0f, 0, 0.0f);
    ae_optim_step(&o, p, g1);
    /* t = 1: m / (1 - b1) = g, v / (1 - b2) = g^2, step = lr g / (|g| + eps) = lr sign(g) */
    assert_close(p[0], 1.0 - 0.01, 1e-6, 0);
    assert_close(p[1], -2.0 + 0.01, 1e-6, 0);
    ae_optim_step(&o, p, g2);
    for (int i = 0; i < 2; i++) {
        double m = 0.9 * (0.1 * g1[i]) + 0.1 * g2[i];
        double v = 0.999 * (0.001 * g1[i] * g1[i]) + 0.001 * g2[i] * g2[i];
        double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
        double want = (i == 0 ? 0.99 : -1.99) - 0.01 * mh / (sqrt(vh) + 1e-8);
        assert_close(p[i], want, 1e-6, 0);
    }
    ae_optim_free(&o);
}

static void test_adam_l2_and_adamw_decoupled(void **state) {
    (void)state;
    const float g[2] = {0.5f, -0.1f};
    /* Adam with L2: g' = g + wd p = {0.5 + 0.1, -0.1 - 0.2}; first step moves lr sign(g'). */
    float p[2] = {1.0f, -2.0f};
    ae_optim o = make(AE_OPT_ADAM, 0.01f, 0.0f, 0, 0.1f);
    ae_optim_step(&o, p, g);
    assert_close(p[0], 1.0 - 0.01, 1e-6, 0);
    assert_close(p[1], -2.0 + 0.01, 1e-6, 0);
    ae_optim_free(&o);
    /* AdamW: p = p (1 - lr wd) - lr sign(g) */
    float q[2] = {1.0f, -2.0f};
    o = make(AE_OPT_ADAMW, 0.01f, 0.0f, 0, 0.1f);
    ae_optim_step(&o, q, g);
    assert_close(q[0], 1.0 * (1 - 0.001) - 0.01, 1e-6, 0);
    assert_close(q[1], -2.0 * (1 - 0.001) + 0.01, 1e-6, 0);
    ae_optim_free(&o);
    /* With a gradient of the opposite sign the two differ in direction for p[1]. */
    const float g2[2] = {0.5f, 0.3f};
    float r[2] = {1.0f, -2.0f};
    o = make(AE_OPT_ADAM, 0.01f, 0.0f, 0, 0.5f); /* g' = {1.0, 0.3 - 1.0 = -0.7} */
    ae_optim_step(&o, r, g2);
    assert_close(r[1], -2.0 + 0.01, 1e-6, 0);
    ae_optim_free(&o);
}

/* The step reports whether every weight it wrote is finite, for each optimizer, wherever the
 * bad value lands (the vector body or the remainder of the loop). */
static void test_step_reports_non_finite_weights(void **state) {
    (void)state;
    enum { N = 37 };
    const struct {
        ae_optimizer kind;
        float mom;
        int nesterov;
    } cases[] = {{AE_OPT_SGD, 0.0f, 0},
                 {AE_OPT_SGD, 0.9f, 0},
                 {AE_OPT_SGD, 0.9f, 1},
                 {AE_OPT_ADAM, 0.0f, 0},
                 {AE_OPT_ADAMW, 0.0f, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t bad = 0; bad <= N; bad++) { /* bad == N: all finite */
            ae_train_opts t = ae_train_opts_default();
            t.optimizer = cases[c].kind;
            t.learning_rate = 0.1f;
            t.momentum = cases[c].mom;
            t.nesterov = cases[c].nesterov;
            t.weight_decay = 0.01f;
            ae_optim o;
            assert_int_equal(ae_optim_init(&o, &t, N), AE_OK);
            float p[N], g[N];
            test_fill(p, N, 3, -1.0f, 1.0f);
            test_fill(g, N, 4, -1.0f, 1.0f);
            if (bad < N) g[bad] = bad % 2 ? NAN : INFINITY;
            assert_int_equal(ae_optim_step(&o, p, g), bad == N);
            ae_optim_free(&o);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain_and_weight_decay),  cmocka_unit_test(test_sgd_momentum_two_steps),
        cmocka_unit_test(test_sgd_nesterov_two_steps),      cmocka_unit_test(test_adam_two_steps),
        cmocka_unit_test(test_adam_l2_and_adamw_decoupled), cmocka_unit_test(test_step_reports_non_finite_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
