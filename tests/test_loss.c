/* Losses: values against hand computations and dLoss/du against finite differences. */
#include "test_util.h"

#include <string.h>

#include "loss.h"

static void test_mse_by_hand(void **state) {
    (void)state;
    /* Linear output: u = z + b = {0.5, 1.0 ; -1.0, 2.0}, t = {0, 1 ; 1, 1}:
     * squared errors 0.25, 0, 4, 1 -> mean 1.3125; rows 0.125 and 2.5. */
    const float z[4] = {0.25f, 1.5f, -1.25f, 2.5f}, b[2] = {0.25f, -0.5f}, t[4] = {0, 1, 1, 1};
    float dz[4], rows[2];
    double l = ae_loss_output(AE_LOSS_MSE, AE_ACT_LINEAR, z, b, t, 2, 2, dz, rows);
    assert_close(l, 1.3125, 1e-7, 0);
    assert_close(rows[0], 0.125, 1e-7, 0);
    assert_close(rows[1], 2.5, 1e-7, 0);
    /* dL/du = 2 (u - t) / 4 */
    assert_close(dz[0], 0.25, 1e-7, 0);
    assert_close(dz[1], 0.0, 1e-7, 0);
    assert_close(dz[2], -1.0, 1e-7, 0);
    assert_close(dz[3], 0.5, 1e-7, 0);
}

static void test_bce_by_hand(void **state) {
    (void)state;
    /* u = {0, 2}, t = {1, 0}: log 2 and 2 + log(1 + e^-2) = 2.126928; mean 1.0569335 */
    const float z[2] = {0.0f, 2.0f}, b[2] = {0, 0}, t[2] = {1, 0};
    float dz[2];
    double l = ae_loss_output(AE_LOSS_BCE, AE_ACT_SIGMOID, z, b, t, 1, 2, dz, NULL);
    assert_close(l, (0.69314718 + 2.12692801) / 2, 1e-6, 0);
    assert_close(dz[0], (0.5 - 1.0) / 2, 1e-7, 0);
    assert_close(dz[1], 0.88079708 / 2, 1e-7, 0);
    /* Huge logits stay finite (computed from logits, never log(0)). */
    const float zz[2] = {-200.0f, 200.0f}, tt[2] = {1, 0};
    l = ae_loss_output(AE_LOSS_BCE, AE_ACT_SIGMOID, zz, b, tt, 1, 2, NULL, NULL);
    assert_close(l, 200.0, 1e-3, 0);
}

static void check_grad(ae_loss loss, ae_activation act) {
    enum { R = 3, C = 4 };
    float z[R * C], b[C], t[R * C], dz[R * C];
    test_fill(z, R * C, 21, -1.5f, 1.5f);
    test_fill(b, C, 22, -0.2f, 0.2f);
    test_fill(t, R * C, 23, 0.0f, 1.0f);
    ae_loss_output(loss, act, z, b, t, R, C, dz, NULL);
    for (int i = 0; i < R * C; i++) {
        const float h = 1e-2f, keep = z[i];
        z[i] = keep + h;
        double up = ae_loss_output(loss, act, z, b, t, R, C, NULL, NULL);
        z[i] = keep - h;
        double down = ae_loss_output(loss, act, z, b, t, R, C, NULL, NULL);
        z[i] = keep;
        assert_close(dz[i], (up - down) / (2 * h), 1e-4, 1e-2);
    }
}

static void test_gradients_every_output_activation(void **state) {
    (void)state;
    for (int a = 0; a <= AE_ACT_TANH; a++) check_grad(AE_LOSS_MSE, (ae_activation)a);
    check_grad(AE_LOSS_BCE, AE_ACT_SIGMOID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_by_hand),
        cmocka_unit_test(test_bce_by_hand),
        cmocka_unit_test(test_gradients_every_output_activation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
