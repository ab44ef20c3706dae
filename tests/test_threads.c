/* libae's own threads: the pool, the row-split pass and threaded training. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "plan.h"
#include "test_pass_util.h"

/* ---- the pool ---- */

/* A cross build's ctest runs this under an emulator (qemu-user), some 20 to 50 times slower:
 * there CMake defines AE_TEST_EMULATED, and the slowest checks run smaller (central
 * differences for a fifth of the parameters, a shorter training run beside inference). */
#ifndef AE_TEST_EMULATED
#define AE_TEST_EMULATED 0
#endif
static void test_split_covers_every_item_once(void **state) {
    (void)state;
    const size_t ns[] = {0, 1, 2, 3, 15, 16, 17, 63, 64, 127, 128, 129, 784, 1000, 100003};
    const size_t aligns[] = {1, 16};
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
        for (int T = 1; T <= 5; T++)
            for (int ai = 0; ai < 2; ai++) {
                const size_t n = ns[ni], align = aligns[ai];
                size_t next = 0;
                for (int t = 0; t < T; t++) {
                    size_t lo, hi;
                    ae_split(n, t, T, align, &lo, &hi);
                    assert_int_equal(lo, next); /* contiguous, in order, from 0 */
                    assert_true(hi >= lo);
                    if (t + 1 < T) assert_int_equal(hi % align, 0);
                    /* nearly equal: no part more than one share plus an alignment step */
                    assert_true(hi - lo <= n / (size_t)T + 1 + align);
                    next = hi;
                }
                assert_int_equal(next, n); /* to the end */
            }
}

/* A job of row chunks in phases, as the training pass cuts a batch: phase k's task c marks
 * the rows of chunk c (of `chunks`) in cover[k]; before marking, it checks that every row of
 * phase k - 1 is marked (a phase starts only after the one before has finished). */
enum { COVER_ROWS = 1000, COVER_PHASES = 3 };

typedef struct cover_job {
    size_t rows, chunks[COVER_PHASES];
    uint32_t phase_end[COVER_PHASES];
    int cover[COVER_PHASES][COVER_ROWS];
    atomic_int early; /* tasks that started before their phase could */
} cover_job;

static void cover_task(void *ctx, uint32_t task) {
    cover_job *j = ctx;
    size_t k = 0;
    while (j->phase_end[k] <= task) k++;
    const size_t c = task - (k ? j->phase_end[k - 1] : 0);
    if (k)
        for (size_t r = 0; r < j->rows; r++)
            if (j->cover[k - 1][r] != 1) atomic_fetch_add(&j->early, 1);
    size_t lo, hi;
    ae_split(j->rows, (int)c, (int)j->chunks[k], 1, &lo, &hi);
    for (size_t r = lo; r < hi; r++) j->cover[k][r]++;
}

static void test_tasks_cover_every_row_once_in_any_order(void **state) {
    (void)state;
    const size_t rows[] = {1, 7, 128, 999};
    const uint32_t orders[] = {0, 1, 5, 12345, 777777};
    for (int T = 1; T <= 4; T++) {
        ae_pool *p = NULL;
        if (T > 1) assert_int_equal(ae_pool_start(&p, T), AE_OK);
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
            for (size_t oi = 0; oi < sizeof orders / sizeof orders[0]; oi++)
                for (size_t chunks = 1; chunks <= 9; chunks++) {
                    cover_job *j = calloc(1, sizeof *j);
                    assert_non_null(j);
                    j->rows = rows[ri];
                    uint32_t n = 0;
                    for (size_t k = 0; k < COVER_PHASES; k++) { /* phases of chunks, 1, chunks + 2 tasks */
                        j->chunks[k] = k == 1 ? 1 : k == 2 ? chunks + 2 : chunks;
                        n += (uint32_t)j->chunks[k];
                        j->phase_end[k] = n;
                    }
                    const ae_job job = {cover_task, j, j->phase_end, COVER_PHASES};
                    ae_pool_test_order(orders[oi]);
                    ae_pool_run(p, &job, 1);
                    ae_pool_test_order(0);
                    for (size_t k = 0; k < COVER_PHASES; k++)
                        for (size_t r = 0; r < j->rows; r++) assert_int_equal(j->cover[k][r], 1);
                    assert_int_equal(atomic_load(&j->early), 0);
                    free(j);
                }
        ae_pool_stop(p);
    }
}

/* With the order hook, the tasks of a phase really run in another order (on one thread). */
static void record_task(void *ctx, uint32_t task) {
    uint32_t *log = ctx;
    log[1 + log[0]++] = task;
}

static void test_order_hook_permutes_each_phase(void **state) {
    (void)state;
    const uint32_t ends[2] = {6, 10};
    uint32_t log[1 + 10] = {0};
    const ae_job job = {record_task, log, ends, 2};
    ae_pool_test_order(12345);
    ae_pool_run(NULL, &job, 0);
    ae_pool_test_order(0);
    assert_int_equal(log[0], 10);
    int moved = 0, seen[10] = {0};
    for (uint32_t i = 0; i < 10; i++) {
        const uint32_t t = log[1 + i];
        assert_true(i < 6 ? t < 6 : t >= 6 && t < 10); /* within its phase */
        seen[t]++;
        moved += t != i;
    }
    for (int t = 0; t < 10; t++) assert_int_equal(seen[t], 1);
    assert_true(moved > 0);
}

/* Two tasks that must run at once: the first, taken by the caller, waits (up to 5 s) for the
 * second to start, which only a woken worker can do. Each round starts after the workers
 * have given up spinning and gone to sleep. */
typedef struct meet_job {
    atomic_int second_started;
    int met;
} meet_job;

static void meet_task(void *ctx, uint32_t task) {
    meet_job *j = ctx;
    if (task == 1) {
        atomic_store(&j->second_started, 1);
        return;
    }
    for (int i = 0; i < 5000 && !atomic_load(&j->second_started); i++) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    j->met = atomic_load(&j->second_started);
}

static void test_pool_wakes_sleeping_workers(void **state) {
    (void)state;
    ae_pool *p;
    assert_int_equal(ae_pool_start(&p, 3), AE_OK);
    for (int i = 0; i < 3; i++) {
        struct timespec ts = {0, 30 * 1000 * 1000}; /* long enough for the workers to sleep */
        nanosleep(&ts, NULL);
        meet_job j;
        atomic_init(&j.second_started, 0);
        j.met = 0;
        const uint32_t end = 2;
        const ae_job job = {meet_task, &j, &end, 1};
        ae_pool_run(p, &job, 1);
        assert_true(j.met);
    }
    ae_pool_stop(p);
}

/* A thread held up inside a task (as when another process has its core) delays only that
 * task: the caller takes every other task of the phase meanwhile. The first task a worker
 * takes sleeps 200 ms; the other 39 each take about 1 ms of the caller's time. */
typedef struct slow_job {
    pthread_t caller;
    atomic_int done, slowed;
    int done_when_slow_ended;
} slow_job;

static void slow_task(void *ctx, uint32_t task) {
    (void)task;
    slow_job *j = ctx;
    if (!pthread_equal(pthread_self(), j->caller) && !atomic_exchange(&j->slowed, 1)) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        j->done_when_slow_ended = atomic_load(&j->done);
    } else {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&j->done, 1);
}

static void test_slow_thread_delays_only_its_task(void **state) {
    (void)state;
    ae_pool *p;
    assert_int_equal(ae_pool_start(&p, 2), AE_OK);
    slow_job j;
    j.caller = pthread_self();
    atomic_init(&j.done, 0);
    atomic_init(&j.slowed, 0);
    j.done_when_slow_ended = -1;
    const uint32_t end = 40;
    const ae_job job = {slow_task, &j, &end, 1};
    ae_pool_run(p, &job, 1);
    assert_int_equal(atomic_load(&j.done), 40);
    assert_true(atomic_load(&j.slowed)); /* the worker took a task within the caller's 40 ms */
    assert_int_equal(j.done_when_slow_ended, 39);
    ae_pool_stop(p);
}

static void test_pool_start_refuses_and_fails_cleanly(void **state) {
    (void)state;
    ae_pool *p = (ae_pool *)0x1;
    assert_int_equal(ae_pool_start(&p, 1), AE_EINVAL);
    assert_null(p);
    assert_int_equal(ae_pool_start(&p, AE_MAX_THREADS + 1), AE_EINVAL);
    ae_pool_fail_start(1); /* as if pthread_create failed: nothing is left running (ASan: no leak) */
    assert_int_equal(ae_pool_start(&p, 3), AE_EIO);
    assert_null(p);
    ae_pool_fail_start(0);
    ae_pool_stop(NULL);
}

/* ---- the row-split pass ---- */

static ae_pass_cfg cfg_of(ae_loss loss, ae_noise noise) { return test_train_cfg(loss, noise); }

/* Widths above 16 so that the dW rows and db columns really are split between threads. */
static ae_config wide_config(ae_activation hidden, ae_activation out, int tied) {
    ae_config c = ae_config_default();
    c.input_dim = 40;
    c.n_hidden = 1;
    c.hidden[0] = 35;
    c.code_dim = 18;
    c.hidden_act = hidden;
    c.code_act = AE_ACT_TANH;
    c.output_act = out;
    c.tied_weights = tied;
    return c;
}

/* The split pass over rows idx of data (gathered by the pass) against the serial pass over
 * the same rows gathered by hand: the same loss and gradient, up to float summation order;
 * then, with fd, every parameter against central differences of the split pass's own loss
 * (slow with more threads than cores: every pass meets at its barriers). */
static void check_split_pass_by(ae_config c, ae_pass_cfg pc, int T, size_t rows, int fd, int by_cols) {
    enum { DATA = 30 };
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    test_fill(m->params, m->n_params, 41, -0.3f, 0.3f);
    const size_t d = c.input_dim;
    float *data = malloc(DATA * d * sizeof(float)), *batch = malloc(rows * d * sizeof(float));
    float *serial = malloc(m->n_params * sizeof(float));
    assert_true(data && batch && serial);
    test_fill(data, DATA * d, 42, 0.05f, 0.95f);
    uint32_t idx[DATA];
    for (size_t i = 0; i < rows; i++) idx[i] = (uint32_t)((i * 7 + 3) % DATA); /* rows out of order */
    for (size_t i = 0; i < rows; i++) memcpy(batch + i * d, data + idx[i] * d, d * sizeof(float));
    assert_true(ae_pass_split_covers(m, &pc));
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, rows, &pc), AE_OK);
    ae_pool *pool;
    assert_int_equal(ae_pool_start(&pool, T), AE_OK);
    const ae_rng start = m->rng;

    ae_pass_parts sparts, parts;
    double ls = ae_pass(m, &w, batch, batch, rows, &pc, 1, NULL, &sparts);
    memcpy(serial, m->grads, m->n_params * sizeof(float));
    for (size_t l = 0; l < m->n_layers; l++) { /* every gradient must be written again */
        const ae_layer *L = &m->layer[l];
        memset(L->dw, 0x7f, L->in * L->out * sizeof(float));
        memset(L->db, 0x7f, L->out * sizeof(float));
    }
    const ae_rng after = m->rng;
    m->rng = start;
    double lp = ae_pass_split(m, &w, pool, (size_t)T, by_cols, data, idx, rows, &pc, 1, &parts);
    assert_memory_equal(&m->rng, &after, sizeof after); /* the same draws, no more, no fewer */
    assert_close(lp, ls, 0, 1e-5);
    assert_close(parts.recon, sparts.recon, 0, 1e-5);
    assert_close(parts.kl, sparts.kl, 1e-12, 1e-5);
    assert_close(parts.sparsity, sparts.sparsity, 1e-12, 1e-5);
    assert_close(parts.recon + parts.kl + parts.sparsity, lp, 0, 1e-12);
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        for (size_t i = 0; i < L->in * L->out; i++)
            assert_close(L->dw[i], serial[L->dw - m->grads + (ptrdiff_t)i], 1e-7, 1e-4);
        for (size_t i = 0; i < L->out; i++) assert_close(L->db[i], serial[L->db - m->grads + (ptrdiff_t)i], 1e-7, 1e-4);
    }

    memcpy(serial, m->grads, m->n_params * sizeof(float));
    const float h = 5e-4f;
    size_t checked = 0;
    for (size_t l = 0; fd && l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        float *ps[2] = {L->w_transposed ? NULL : L->w, L->b};
        size_t counts[2] = {L->in * L->out, L->out};
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; ps[t] && i < counts[t]; i++) {
                if (AE_TEST_EMULATED && i % 5 != 0) continue; /* a fifth of them, emulated */
                float *p = ps[t] + i, keep = *p;
                *p = keep + h;
                m->rng = start;
                double up = ae_pass_split(m, &w, pool, (size_t)T, by_cols, data, idx, rows, &pc, 0, NULL);
                *p = keep - h;
                m->rng = start;
                double down = ae_pass_split(m, &w, pool, (size_t)T, by_cols, data, idx, rows, &pc, 0, NULL);
                *p = keep;
                assert_close(serial[p - m->params], (up - down) / (2.0 * h), 2e-4, 2e-2);
                checked++;
            }
    }
    if (fd && !AE_TEST_EMULATED) assert_int_equal(checked, ae_param_count(m));
    if (fd) assert_true(checked > 0);
    ae_pool_stop(pool);
    ae_work_free(&w);
    free(serial);
    free(batch);
    free(data);
    ae_free(m);
}

static void check_split_pass(ae_config c, ae_pass_cfg pc, int T, size_t rows, int fd) {
    check_split_pass_by(c, pc, T, rows, fd, 0);
}

static void test_split_pass_gradients(void **state) {
    (void)state;
    /* Each activation, loss, noise and a tied model against central differences on two
     * threads; rows in uneven and even shares. */
    check_split_pass(wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0), cfg_of(AE_LOSS_MSE, AE_NOISE_NONE), 2, 7, 1);
    check_split_pass(wide_config(AE_ACT_TANH, AE_ACT_SIGMOID, 0), cfg_of(AE_LOSS_BCE, AE_NOISE_NONE), 2, 8, 1);
    check_split_pass(wide_config(AE_ACT_LEAKY_RELU, AE_ACT_LINEAR, 1), cfg_of(AE_LOSS_MSE, AE_NOISE_NONE), 2, 5, 1);
    check_split_pass(wide_config(AE_ACT_SIGMOID, AE_ACT_TANH, 0), cfg_of(AE_LOSS_MSE, AE_NOISE_MASK), 2, 9, 1);
    check_split_pass(wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 1), cfg_of(AE_LOSS_BCE, AE_NOISE_GAUSSIAN), 2, 12, 1);
    /* Draws inside the pass, made before the split: dropout, a VAE's eps; and L1 sparsity. */
    ae_pass_cfg drop = cfg_of(AE_LOSS_MSE, AE_NOISE_NONE), vae = cfg_of(AE_LOSS_BCE, AE_NOISE_NONE);
    drop.dropout = 0.25f;
    check_split_pass(wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0), drop, 2, 9, 1);
    ae_config vc = wide_config(AE_ACT_TANH, AE_ACT_SIGMOID, 0);
    vc.variational = 1;
    vc.code_act = AE_ACT_LINEAR;
    vae.kl_weight = 0.7f;
    check_split_pass(vc, vae, 2, 7, 1);
    vae.dropout = 0.2f;
    vae.noise = AE_NOISE_MASK;
    check_split_pass(vc, vae, 3, 10, 0);
    ae_pass_cfg l1 = cfg_of(AE_LOSS_MSE, AE_NOISE_GAUSSIAN);
    l1.sparsity_weight = 0.05f;
    l1.dropout = 0.1f;
    check_split_pass(wide_config(AE_ACT_LEAKY_RELU, AE_ACT_SIGMOID, 0), l1, 2, 8, 1);
    /* More threads: fewer rows than threads (empty shares), uneven shares. */
    check_split_pass(wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0), cfg_of(AE_LOSS_MSE, AE_NOISE_NONE), 3, 2, 0);
    check_split_pass(wide_config(AE_ACT_TANH, AE_ACT_SIGMOID, 1), cfg_of(AE_LOSS_BCE, AE_NOISE_NONE), 3, 8, 0);
    check_split_pass(wide_config(AE_ACT_LEAKY_RELU, AE_ACT_LINEAR, 0), cfg_of(AE_LOSS_MSE, AE_NOISE_MASK), 4, 11, 0);
}

/* The column layout: products cut by their output's columns, for plain configurations. */
static void test_column_pass_gradients(void **state) {
    (void)state;
    check_split_pass_by(wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0), cfg_of(AE_LOSS_MSE, AE_NOISE_NONE), 2, 7, 1, 1);
    check_split_pass_by(wide_config(AE_ACT_TANH, AE_ACT_SIGMOID, 1), cfg_of(AE_LOSS_BCE, AE_NOISE_NONE), 2, 8, 1, 1);
    check_split_pass_by(wide_config(AE_ACT_TANH, AE_ACT_LINEAR, 0), cfg_of(AE_LOSS_MSE, AE_NOISE_MASK), 3, 12, 1, 1);
    check_split_pass_by(wide_config(AE_ACT_SIGMOID, AE_ACT_TANH, 1), cfg_of(AE_LOSS_MSE, AE_NOISE_GAUSSIAN), 4, 9, 0,
                        1);
}

static void test_split_pass_covers_all_but_kl_sparsity(void **state) {
    (void)state;
    ae_model *m;
    ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0);
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_pass_cfg pc = cfg_of(AE_LOSS_MSE, AE_NOISE_MASK);
    pc.dropout = 0.2f;
    pc.sparsity_weight = 0.1f; /* L1 on a tanh code */
    assert_true(ae_pass_split_covers(m, &pc));
    ae_free(m);
    c.code_act = AE_ACT_SIGMOID; /* KL sparsity: the batch mean of each code unit */
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_false(ae_pass_split_covers(m, &pc));
    pc.sparsity_weight = 0.0f;
    assert_true(ae_pass_split_covers(m, &pc));
    ae_free(m);
}

/* The chunked pass gives the same bits on any number of threads and in any task order, for a
 * given chunk count (dropout and a VAE's draws, noise and L1 sparsity included). */
static void test_chunked_pass_bits_independent_of_threads_and_order(void **state) {
    (void)state;
    enum { DATA = 30, ROWS = 26 };
    for (int variant = 0; variant < 3; variant++) {
        const int by_cols = variant == 2; /* a plain configuration, by columns */
        ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, !variant);
        ae_pass_cfg pc = cfg_of(AE_LOSS_MSE, variant ? AE_NOISE_GAUSSIAN : AE_NOISE_NONE);
        pc.dropout = by_cols ? 0.0f : 0.2f;
        if (by_cols) {
        } else if (variant) {
            c.variational = 1;
            c.code_act = AE_ACT_LINEAR;
        } else {
            pc.sparsity_weight = 0.01f;
        }
        ae_model *m;
        assert_int_equal(ae_create(&m, &c), AE_OK);
        float *data = malloc(DATA * c.input_dim * sizeof(float));
        assert_non_null(data);
        test_fill(data, DATA * c.input_dim, 7, 0.05f, 0.95f);
        uint32_t idx[ROWS];
        for (size_t i = 0; i < ROWS; i++) idx[i] = (uint32_t)((i * 11 + 5) % DATA);
        ae_work w;
        assert_int_equal(ae_work_init(&w, m, ROWS, &pc), AE_OK);
        test_split_bits(m, &w, data, idx, ROWS, &pc, by_cols, 4);
        ae_work_free(&w);
        free(data);
        ae_free(m);
    }
}

/* ---- threaded training ---- */

typedef struct run_log {
    int epochs;
    double loss[16], val[16];
} run_log;

static int log_epoch(const ae_epoch_stats *s, void *user) {
    run_log *r = user;
    if (r->epochs < 16) {
        r->loss[r->epochs] = s->train_loss;
        r->val[r->epochs] = s->val_loss;
    }
    r->epochs++;
    return 0;
}

enum { TD = 40, TN = 500, TV = 70 };

/* Trains a fresh wide model: `threads` via ae_set_threads, `batch` rows a step. */
static ae_model *train_batch(int threads, size_t batch, int tied, ae_noise noise, int epochs, run_log *log) {
    ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, tied);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = test_low_rank_rows(TN, TD, 5), *v = test_low_rank_rows(TV, TD, 6);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = epochs;
    o.batch_size = batch;
    o.noise = noise;
    o.noise_level = 0.2f;
    o.val_x = v;
    o.val_n = TV;
    o.on_epoch = log_epoch;
    o.user = log;
    memset(log, 0, sizeof *log);
    assert_int_equal(ae_set_threads(threads), AE_OK);
    assert_int_equal(ae_train(m, x, TN, &o), AE_OK);
    assert_int_equal(ae_set_threads(1), AE_OK);
    free(x);
    free(v);
    return m;
}

/* Batch 64: 32 rows a thread on 2 threads. */
static ae_model *train_with(int threads, int tied, ae_noise noise, int epochs, run_log *log) {
    return train_batch(threads, 64, tied, noise, epochs, log);
}

static void test_threaded_training_matches_one_thread(void **state) {
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        const int tied = variant == 1;
        const ae_noise noise = variant == 2 ? AE_NOISE_MASK : AE_NOISE_NONE;
        run_log one, two, two_again, three;
        ae_model *a = train_with(1, tied, noise, 4, &one);
        ae_model *b = train_with(2, tied, noise, 4, &two);
        ae_model *b2 = train_with(2, tied, noise, 4, &two_again);
        ae_model *c3 = train_with(3, tied, noise, 4, &three);
        /* Same thread count: bitwise the same run. */
        assert_memory_equal(b->params, b2->params, b->n_params * sizeof(float));
        /* Other thread counts: the same training up to float summation order (sgemm calls
         * of other shapes), over 32 Adam steps. */
        for (size_t i = 0; i < a->n_params; i++) {
            assert_close(b->params[i], a->params[i], 2e-4, 1e-3);
            assert_close(c3->params[i], a->params[i], 2e-4, 1e-3);
        }
        assert_int_equal(two.epochs, 4);
        for (int e = 0; e < 4; e++) {
            assert_close(two.loss[e], one.loss[e], 0, 1e-4);
            assert_close(two.val[e], one.val[e], 0, 1e-4); /* validation runs split too */
            assert_close(three.loss[e], one.loss[e], 0, 1e-4);
        }
        assert_true(two.loss[3] < 0.8 * two.loss[0]);
        ae_free(a);
        ae_free(b);
        ae_free(b2);
        ae_free(c3);
    }
}

/* Dropout masks and a VAE's draws come from the model's one stream, drawn before the split:
 * threaded training takes the same draws as one thread, so it ends up as close to it as the
 * draw-free configurations (here with L1 sparsity, gradient clipping and AdamW too). */
static ae_model *train_drawing(int threads, int vae) {
    ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0);
    c.variational = vae;
    if (vae) c.code_act = AE_ACT_LINEAR;
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = test_low_rank_rows(TN, TD, 15);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 3;
    o.batch_size = 50;
    o.dropout = 0.2f;
    o.optimizer = AE_OPT_ADAMW;
    o.weight_decay = 0.01f;
    o.clip_norm = 5.0f;
    if (!vae) o.sparsity_weight = 1e-3f;
    assert_int_equal(ae_set_threads(threads), AE_OK);
    assert_int_equal(ae_train(m, x, TN, &o), AE_OK);
    assert_int_equal(ae_set_threads(1), AE_OK);
    free(x);
    return m;
}

static void test_threaded_training_with_draws_matches_one_thread(void **state) {
    (void)state;
    for (int vae = 0; vae < 2; vae++) {
        ae_model *a = train_drawing(1, vae), *b = train_drawing(2, vae), *b2 = train_drawing(2, vae);
        assert_memory_equal(b->params, b2->params, b->n_params * sizeof(float));
        for (size_t i = 0; i < a->n_params; i++) assert_close(b->params[i], a->params[i], 2e-4, 1e-3);
        ae_free(a);
        ae_free(b);
        ae_free(b2);
    }
}

/* A chunk never has fewer than 4 rows, and a run's bits depend on its chunk count, not on
 * its threads: at batch 8, two, three or four threads train in 2 chunks, bit for bit alike;
 * at batch 64 two threads cut 2 chunks, three cut 3: the same training up to rounding. */
static void test_chunks_keep_four_rows_and_fix_the_bits(void **state) {
    (void)state;
    run_log a, b;
    ae_plan_info info;
    ae_model *two = train_batch(2, 8, 0, AE_NOISE_NONE, 2, &a);
    assert_int_equal(ae_plan_last(&info), AE_OK);
    assert_int_equal(info.kind, AE_PLAN_ROWS);
    assert_int_equal(info.chunks, 2);
    for (int T = 3; T <= 4; T++) {
        ae_model *more = train_batch(T, 8, 0, AE_NOISE_NONE, 2, &b);
        assert_int_equal(ae_plan_last(&info), AE_OK);
        assert_int_equal(info.chunks, 2);
        assert_memory_equal(two->params, more->params, two->n_params * sizeof(float));
        ae_free(more);
    }
    ae_free(two);
    two = train_batch(2, 64, 0, AE_NOISE_NONE, 2, &a);
    assert_int_equal(ae_plan_last(&info), AE_OK);
    assert_int_equal(info.chunks, 2);
    ae_model *three = train_batch(3, 64, 0, AE_NOISE_NONE, 2, &b);
    assert_int_equal(ae_plan_last(&info), AE_OK);
    assert_int_equal(info.chunks, 3);
#if defined(__x86_64__)
    /* x86-64 OpenBLAS's kernels give a row's products other bits in chunks of other sizes;
     * arm64's do not, so there the two runs may agree bit for bit. */
    assert_memory_not_equal(two->params, three->params, two->n_params * sizeof(float));
#endif
    for (size_t i = 0; i < two->n_params; i++) assert_close(three->params[i], two->params[i], 2e-4, 1e-3);
    ae_free(two);
    ae_free(three);
}

static void test_threaded_training_restores_openblas_threads(void **state) {
    (void)state;
    /* A threaded run gives each thread's products one OpenBLAS thread, then puts back the
     * count it found; so does a run refused before it starts. */
    assert_int_equal(ae_set_threads(2), AE_OK);
    assert_int_equal(ae_blas_get_info().threads, 2);
    float *x = test_low_rank_rows(TN, TD, 5);
    ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 64;
    assert_int_equal(ae_train(m, x, TN, &o), AE_OK);
    assert_int_equal(ae_blas_get_info().threads, 2);
    o.learning_rate = -1.0f; /* refused before anything starts */
    assert_int_equal(ae_train(m, x, TN, &o), AE_EINVAL);
    assert_int_equal(ae_blas_get_info().threads, 2);
    assert_int_equal(ae_set_threads(1), AE_OK);
    ae_free(m);
    free(x);
}

static void test_thread_start_failure_trains_on_one_thread(void **state) {
    (void)state;
    run_log one, fallback;
    ae_model *a = train_with(1, 0, AE_NOISE_NONE, 3, &one);
    ae_pool_fail_start(1);
    ae_model *b = train_with(2, 0, AE_NOISE_NONE, 3, &fallback);
    ae_pool_fail_start(0);
    /* ae_set_threads(2) also gave OpenBLAS 2 threads, which sum in the same order here */
    for (size_t i = 0; i < a->n_params; i++) assert_close(b->params[i], a->params[i], 2e-5, 1e-4);
    assert_int_equal(fallback.epochs, 3);
    ae_free(a);
    ae_free(b);
}

/* Trains 5 epochs straight, or 2 then a checkpoint, a new process's load and 3 resumed. */
static ae_model *threaded_through(int stop, const char *ckpt) {
    ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = test_low_rank_rows(TN, TD, 9);
    ae_train_opts o = ae_train_opts_default();
    o.batch_size = 64;
    o.epochs = stop ? stop : 5;
    o.checkpoint_path = ckpt;
    o.checkpoint_every = stop;
    assert_int_equal(ae_train(m, x, TN, &o), AE_OK);
    if (stop) {
        ae_free(m);
        assert_int_equal(ae_checkpoint_load(&m, ckpt), AE_OK);
        o.epochs = 5;
        o.resume = 1;
        o.checkpoint_every = 0;
        assert_int_equal(ae_train(m, x, TN, &o), AE_OK);
    }
    free(x);
    return m;
}

static void test_threaded_resume_is_bitwise(void **state) {
    (void)state;
    char path[] = "/tmp/ae_threads_ckpt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ae_set_threads(2), AE_OK);
    ae_model *straight = threaded_through(0, NULL);
    ae_model *resumed = threaded_through(2, path);
    assert_int_equal(ae_set_threads(1), AE_OK);
    assert_memory_equal(straight->params, resumed->params, straight->n_params * sizeof(float));
    ae_free(straight);
    ae_free(resumed);
    remove(path);
}

/* ---- plans ---- */

/* Trains the wide model under a forced plan on `threads`. */
static ae_model *train_plan(ae_plan_kind kind, int threads, run_log *log) {
    assert_int_equal(ae_set_plan(kind), AE_OK);
    ae_model *m = train_batch(threads, 64, 0, AE_NOISE_MASK, 3, log);
    ae_plan_info info;
    assert_int_equal(ae_plan_last(&info), AE_OK);
    assert_int_equal(info.kind, kind);
    assert_int_equal(info.chunks, kind == AE_PLAN_ROWS || kind == AE_PLAN_COLS ? threads : 1);
    assert_int_equal(ae_set_plan(AE_PLAN_AUTO), AE_OK);
    return m;
}

/* Every plan trains the same model up to rounding, and each is bitwise the same run again. */
static void test_every_plan_matches_the_others_and_itself(void **state) {
    (void)state;
    run_log log[AE_PLAN_KINDS], again;
    ae_model *m[AE_PLAN_KINDS] = {NULL};
    for (int k = AE_PLAN_ONE; k <= AE_PLAN_COLS; k++) {
        m[k] = train_plan((ae_plan_kind)k, 2, &log[k]);
        ae_model *twin = train_plan((ae_plan_kind)k, 2, &again);
        assert_memory_equal(m[k]->params, twin->params, twin->n_params * sizeof(float));
        assert_memory_equal(log[k].loss, again.loss, sizeof again.loss);
        ae_free(twin);
    }
    for (int k = AE_PLAN_ROWS; k <= AE_PLAN_COLS; k++) {
        for (size_t i = 0; i < m[k]->n_params; i++)
            assert_close(m[k]->params[i], m[AE_PLAN_ONE]->params[i], 2e-4, 1e-3);
        for (int e = 0; e < 3; e++) assert_close(log[k].loss[e], log[AE_PLAN_ONE].loss[e], 0, 1e-4);
    }
    for (int k = AE_PLAN_ONE; k <= AE_PLAN_COLS; k++) ae_free(m[k]);
}

/* A ROWS run gives the same bits with its workers or without them (the caller alone), which
 * is what lets it drop them on a busy machine: here the workers cannot start. */
static void test_rows_alone_gives_the_team_bits(void **state) {
    (void)state;
    run_log a, b;
    ae_model *team = train_plan(AE_PLAN_ROWS, 2, &a);
    ae_pool_fail_start(1);
    ae_model *alone = train_plan(AE_PLAN_ROWS, 2, &b);
    ae_pool_fail_start(0);
    assert_memory_equal(team->params, alone->params, team->n_params * sizeof(float));
    ae_free(team);
    ae_free(alone);
}

/* The step-by-step choice between the team and the caller alone: probes of the other mode,
 * the faster kept, intervals doubling while the mode holds. */
static void test_balance_keeps_the_faster_mode(void **state) {
    (void)state;
    ae_run r;
    memset(&r, 0, sizeof r);
    r.kind = AE_PLAN_ROWS;
    r.team = 1;
    r.bal.mode = 1;
    r.bal.interval = r.bal.left = 8;
    int alone_steps = 0, alone_steps_idle = 0, switched_at = -1;
    for (int step = 0; step < 3000; step++) {
        /* the team takes 1 ms a step for 1000 steps, then (a busy machine) 3 ms; alone 2 ms */
        const double t = r.team ? (step < 1000 ? 1e-3 : 3e-3) : 2e-3;
        alone_steps += !r.team;
        if (step < 1000) alone_steps_idle += !r.team;
        ae_plan_balance(&r, t);
        if (step >= 1000 && switched_at < 0 && r.bal.mode == 0) switched_at = step;
    }
    /* idle: the team, with probes of 2 steps alone after 8, 32, 128 and every 256 steps; busy:
     * alone from the first probe whose moving mean has seen enough slow steps */
    assert_true(switched_at >= 1000 && switched_at < 1000 + 2 * (256 + 2));
    assert_true(alone_steps_idle <= 2 * 6); /* probes at 8, 42, 176, 434, 692, 950 */
    assert_int_equal(r.bal.mode, 0);
    assert_true(alone_steps > 3000 - switched_at - 100);
}

/* Inference beside training: ae_encode of one model on this thread while another thread
 * trains a second model on libae's threads (OpenBLAS's count set to 1 for each of its
 * passes) gives the bits it gives alone. The encoder's first product (500 x 48, K = 600)
 * is one whose bits depend on OpenBLAS's count. */
enum { ID = 600, IN = 500 };

typedef struct trainer {
    ae_model *m;
    const float *x;
    atomic_int running;
    int rc;
} trainer;

static void *train_thread(void *arg) {
    trainer *t = arg;
    ae_train_opts o = ae_train_opts_default();
    o.epochs = AE_TEST_EMULATED ? 4 : 40; /* inference beside it all the while, either way */
    o.batch_size = 100;
    t->rc = ae_train(t->m, t->x, IN, &o);
    atomic_store(&t->running, 0);
    return NULL;
}

static ae_config inference_config(void) {
    ae_config c = ae_config_default();
    c.input_dim = ID;
    c.n_hidden = 1;
    c.hidden[0] = 48;
    c.code_dim = 8;
    return c;
}

static void test_inference_beside_training_keeps_its_bits(void **state) {
    (void)state;
    ae_config c = inference_config();
    ae_model *infer, *learn;
    assert_int_equal(ae_create(&infer, &c), AE_OK);
    c.seed = 7;
    assert_int_equal(ae_create(&learn, &c), AE_OK);
    float *x = malloc(IN * ID * sizeof(float)), *alone = malloc(IN * 8 * sizeof(float));
    float *one = malloc(IN * 8 * sizeof(float)), *code = malloc(IN * 8 * sizeof(float));
    assert_true(x && alone && one && code);
    test_fill(x, IN * ID, 3, 0.0f, 1.0f);
    assert_int_equal(ae_set_threads(1), AE_OK);
    assert_int_equal(ae_encode(infer, x, IN, one), AE_OK);
    assert_int_equal(ae_set_threads(2), AE_OK);
    assert_int_equal(ae_encode(infer, x, IN, alone), AE_OK);
    if (!memcmp(one, alone, IN * 8 * sizeof(float))) {
        /* this OpenBLAS gives the same bits on 1 and 2 threads: the test could not fail */
        assert_int_equal(ae_set_threads(1), AE_OK);
        free(x), free(alone), free(one), free(code);
        ae_free(infer);
        ae_free(learn);
        skip();
    }
    assert_int_equal(ae_set_plan(AE_PLAN_ROWS), AE_OK);
    trainer t = {learn, x, 1, AE_OK};
    atomic_init(&t.running, 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, train_thread, &t), 0);
    int runs = 0, differ = 0;
    while (atomic_load(&t.running) || runs < 20) {
        assert_int_equal(ae_encode(infer, x, IN, code), AE_OK);
        differ += memcmp(code, alone, IN * 8 * sizeof(float)) != 0;
        runs++;
    }
    pthread_join(th, NULL);
    assert_int_equal(t.rc, AE_OK);
    ae_plan_info info;
    assert_int_equal(ae_set_plan(AE_PLAN_AUTO), AE_OK);
    assert_int_equal(differ, 0);
    assert_true(runs >= 20);
    /* the training thread's own plan: ROWS, in one-thread windows */
    assert_int_equal(ae_set_threads(1), AE_OK);
    (void)info;
    free(x), free(alone), free(one), free(code);
    ae_free(infer);
    ae_free(learn);
}

/* Between passes OpenBLAS keeps its count: a callback of a ROWS run on a model whose products
 * OpenBLAS would thread sees 2, not 1. */
static int blas_threads_seen(const ae_epoch_stats *s, void *user) {
    (void)s;
    int *seen = user;
    *seen = ae_blas_get_info().threads;
    return 0;
}

static void test_rows_run_sets_one_thread_only_inside_passes(void **state) {
    (void)state;
    ae_config c = inference_config();
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = malloc(IN * ID * sizeof(float));
    assert_non_null(x);
    test_fill(x, IN * ID, 5, 0.0f, 1.0f);
    assert_int_equal(ae_set_threads(2), AE_OK);
    assert_int_equal(ae_set_plan(AE_PLAN_ROWS), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 100;
    int seen = 0;
    o.on_epoch = blas_threads_seen;
    o.user = &seen;
    assert_int_equal(ae_train(m, x, IN, &o), AE_OK);
    assert_int_equal(seen, 2);
    assert_int_equal(ae_blas_get_info().threads, 2);
    assert_int_equal(ae_set_plan(AE_PLAN_AUTO), AE_OK);
    assert_int_equal(ae_set_threads(1), AE_OK);
    free(x);
    ae_free(m);
}

static int count_alloc(size_t bytes, void *user) {
    (void)bytes;
    ++*(size_t *)user;
    return 0;
}

static size_t allocs_of(size_t n, int epochs, ae_plan_kind kind) {
    assert_int_equal(ae_set_plan(kind), AE_OK);
    ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = test_low_rank_rows(n, TD, 11), *v = test_low_rank_rows(TV, TD, 12);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = epochs;
    o.batch_size = 64;
    o.noise = AE_NOISE_GAUSSIAN;
    o.noise_level = 0.1f;
    o.val_x = v;
    o.val_n = TV;
    size_t count = 0;
    ae_set_alloc_hook(count_alloc, &count);
    int rc = ae_train(m, x, n, &o);
    ae_set_alloc_hook(NULL, NULL);
    assert_int_equal(rc, AE_OK);
    ae_plan_info info;
    assert_int_equal(ae_plan_last(&info), AE_OK);
    assert_int_equal(info.kind, kind);
    assert_int_equal(ae_set_plan(AE_PLAN_AUTO), AE_OK);
    free(x);
    free(v);
    ae_free(m);
    return count;
}

static void test_threaded_training_allocates_nothing_per_step(void **state) {
    (void)state;
    assert_int_equal(ae_set_threads(2), AE_OK);
    for (int k = AE_PLAN_ONE; k <= AE_PLAN_COLS; k++) {
        size_t few = allocs_of(128, 1, (ae_plan_kind)k); /* 2 steps */
        size_t many = allocs_of(1280, 6, (ae_plan_kind)k); /* 120 steps */
        assert_true(few > 0);
        assert_int_equal(few, many);
    }
    assert_int_equal(ae_set_threads(1), AE_OK);
}

static int fail_nth(size_t bytes, void *user) {
    (void)bytes;
    long *left = user;
    return (*left)-- == 0;
}

/* Every allocation of a threaded ae_train (the pool's among them) failing in turn:
 * AE_ENOMEM and the model untouched. */
static void test_threaded_training_allocation_failures(void **state) {
    (void)state;
    ae_config c = wide_config(AE_ACT_RELU, AE_ACT_SIGMOID, 0);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = test_low_rank_rows(200, TD, 13);
    float *before = malloc(m->n_params * sizeof(float));
    assert_non_null(before);
    memcpy(before, m->params, m->n_params * sizeof(float));
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 1;
    o.batch_size = 64;
    assert_int_equal(ae_set_threads(2), AE_OK);
    long sites = 0;
    for (;; sites++) {
        long left = sites;
        ae_set_alloc_hook(fail_nth, &left);
        int rc = ae_train(m, x, 200, &o);
        ae_set_alloc_hook(NULL, NULL);
        if (rc == AE_OK) break;
        assert_int_equal(rc, AE_ENOMEM);
        assert_memory_equal(m->params, before, m->n_params * sizeof(float));
    }
    assert_int_equal(ae_set_threads(1), AE_OK);
    assert_true(sites >= 4); /* workspace, permutation, epoch copy, optimizer, pool */
    free(before);
    free(x);
    ae_free(m);
}

/* The cost model keeps small models on one thread: these tests thread the small models they
 * train by lowering its flops bar. */
static int thread_small_models(void **state) {
    (void)state;
    ae_plan_test_min_flops(0.0);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_covers_every_item_once),
        cmocka_unit_test(test_tasks_cover_every_row_once_in_any_order),
        cmocka_unit_test(test_order_hook_permutes_each_phase),
        cmocka_unit_test(test_pool_wakes_sleeping_workers),
        cmocka_unit_test(test_slow_thread_delays_only_its_task),
        cmocka_unit_test(test_pool_start_refuses_and_fails_cleanly),
        cmocka_unit_test(test_split_pass_gradients),
        cmocka_unit_test(test_column_pass_gradients),
        cmocka_unit_test(test_split_pass_covers_all_but_kl_sparsity),
        cmocka_unit_test(test_chunked_pass_bits_independent_of_threads_and_order),
        cmocka_unit_test(test_threaded_training_matches_one_thread),
        cmocka_unit_test(test_threaded_training_with_draws_matches_one_thread),
        cmocka_unit_test(test_chunks_keep_four_rows_and_fix_the_bits),
        cmocka_unit_test(test_threaded_training_restores_openblas_threads),
        cmocka_unit_test(test_every_plan_matches_the_others_and_itself),
        cmocka_unit_test(test_rows_alone_gives_the_team_bits),
        cmocka_unit_test(test_balance_keeps_the_faster_mode),
        cmocka_unit_test(test_inference_beside_training_keeps_its_bits),
        cmocka_unit_test(test_rows_run_sets_one_thread_only_inside_passes),
        cmocka_unit_test(test_thread_start_failure_trains_on_one_thread),
        cmocka_unit_test(test_threaded_resume_is_bitwise),
        cmocka_unit_test(test_threaded_training_allocates_nothing_per_step),
        cmocka_unit_test(test_threaded_training_allocation_failures),
    };
    return cmocka_run_group_tests(tests, thread_small_models, NULL);
}
