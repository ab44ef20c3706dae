#include "plan.h"

double ae_plan_step_flops(const ae_model *m, size_t rows) {
    double f = 0.0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const double mnk = 2.0 * (double)rows * (double)m->layer[l].in * (double)m->layer[l].out;
        f += l ? 3.0 * mnk : 2.0 * mnk;
    }
    return f;
}

static double g_min_flops = -1.0;
void ae_plan_test_min_flops(double flops) { g_min_flops = flops; }

int ae_plan_threads_by_cost(const ae_model *m, size_t rows, int threads) {
    const double bar = g_min_flops >= 0.0 ? g_min_flops : AE_PLAN_MIN_FLOPS;
    if (threads < 2 || ae_plan_step_flops(m, rows) < bar) return 1;
    const size_t most = rows / AE_PLAN_MIN_ROWS;
    if ((size_t)threads > most) threads = (int)most;
    return threads < 1 ? 1 : threads;
}
