/* Convolutions (ae_config.conv, layers/conv2d.c, layers/conv2d_t.c): the layer sequence, both
 * kinds' forward pass against naive loops, every gradient against central differences, the
 * model file, PyTorch's initialisation, thread-count reproducibility, and what is refused. */
#include "test_pass_util.h"

#include <math.h>
#include <string.h>

#include "io_file.h"
#include "layers/conv.h"

/* A conv model of input c x h x w with n conv layers (channels, kernel, stride each). */
static ae_config conv_config(size_t c, size_t h, size_t w, size_t n, const size_t spec[][3], size_t hidden,
                             size_t code) {
    ae_config cfg = ae_config_default();
    cfg.input_dim = c * h * w;
    cfg.input_shape[0] = c;
    cfg.input_shape[1] = h;
    cfg.input_shape[2] = w;
    cfg.n_conv = n;
    for (size_t i = 0; i < n; i++) cfg.conv[i] = (ae_conv_spec){spec[i][0], spec[i][1], spec[i][2]};
    cfg.n_hidden = hidden ? 1 : 0;
    cfg.hidden[0] = hidden;
    cfg.code_dim = code;
    return cfg;
}

static ae_pass_cfg train_cfg(ae_loss loss) { return test_train_cfg(loss, AE_NOISE_NONE); }

/* The Fashion-MNIST network: Conv(1->16, 3, s2), Conv(16->32, 3, s2), 1568 -> 64. */
static void test_layer_sequence(void **state) {
    (void)state;
    const size_t spec[2][3] = {{16, 3, 2}, {32, 3, 2}};
    ae_config c = conv_config(1, 28, 28, 2, spec, 0, 64);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    assert_int_equal(m->n_layers, 6);
    assert_int_equal(m->n_enc, 3);
    const char *kinds[6] = {"conv2d", "conv2d", "dense", "dense", "conv2d_t", "conv2d_t"};
    const size_t in[6] = {784, 3136, 1568, 64, 1568, 3136}, out[6] = {3136, 1568, 64, 1568, 3136, 784};
    const ae_activation acts[6] = {AE_ACT_RELU, AE_ACT_RELU, AE_ACT_LINEAR, AE_ACT_RELU, AE_ACT_RELU, AE_ACT_SIGMOID};
    for (size_t l = 0; l < 6; l++) {
        assert_string_equal(m->layer[l].kind->name, kinds[l]);
        assert_int_equal(m->layer[l].in, in[l]);
        assert_int_equal(m->layer[l].out, out[l]);
        assert_int_equal(m->layer[l].act, acts[l]);
    }
    assert_int_equal(m->layer[1].h_out, 7);
    assert_int_equal(m->layer[4].h_in, 7);
    assert_int_equal(m->layer[4].h_out, 14);
    const size_t want =
        16 * 9 + 16 + 32 * 16 * 9 + 32 + 1568 * 64 + 64 + 64 * 1568 + 1568 + 32 * 16 * 9 + 16 + 16 * 9 + 1;
    assert_int_equal(ae_param_count(m), want);
    ae_free(m);
}

/* A stand-alone layer of kind k (conv2d: the big side going in; conv2d_t: coming out). */
typedef struct lone {
    ae_layer l;
    float *w, *b, *dw, *db, *scratch;
} lone;

static void lone_make(lone *s, const ae_kind *k, size_t cb, size_t cs, size_t h, size_t w, size_t kernel, size_t stride,
                      size_t rows) {
    memset(s, 0, sizeof *s);
    ae_layer *L = &s->l;
    L->kind = k;
    L->kernel = kernel;
    L->stride = stride;
    L->act = AE_ACT_LINEAR;
    const size_t hs = (h + stride - 1) / stride, ws = (w + stride - 1) / stride;
    const int t = k == &ae_kind_conv2d_t;
    L->c_in = t ? cs : cb;
    L->h_in = t ? hs : h;
    L->w_in = t ? ws : w;
    L->c_out = t ? cb : cs;
    L->h_out = t ? h : hs;
    L->w_out = t ? w : ws;
    L->in = L->c_in * L->h_in * L->w_in;
    L->out = L->c_out * L->h_out * L->w_out;
    const size_t nw = ae_layer_tensor_floats(L, 0), nb = ae_layer_tensor_floats(L, 1);
    s->w = L->w = calloc(nw, sizeof(float));
    s->b = L->b = calloc(nb, sizeof(float));
    s->dw = L->dw = calloc(nw, sizeof(float));
    s->db = L->db = calloc(nb, sizeof(float));
    const size_t ns = ae_layer_scratch(L, rows);
    s->scratch = malloc(ns * sizeof(float));
    assert_true(s->w && s->b && s->dw && s->db && s->scratch);
    for (size_t i = 0; i < ns; i++) s->scratch[i] = NAN; /* the kinds write all they read */
    test_fill(s->w, nw, 3, -1, 1);
    test_fill(s->b, nb, 4, -1, 1);
}

static void lone_free(lone *s) {
    free(s->w);
    free(s->b);
    free(s->dw);
    free(s->db);
    free(s->scratch);
}

/* Conv2d by its definition: y[o, y, x] = b[o] + sum W[o, c, i, j] img[c, y s - p + i, x s - p + j]. */
static float naive_conv(const ae_layer *L, const float *x, size_t o, size_t yy, size_t xx) {
    const long k = (long)L->kernel, p = k / 2, s = (long)L->stride;
    double sum = L->b[o];
    for (size_t c = 0; c < L->c_in; c++)
        for (long i = 0; i < k; i++)
            for (long j = 0; j < k; j++) {
                const long r = (long)yy * s - p + i, q = (long)xx * s - p + j;
                if (r < 0 || q < 0 || r >= (long)L->h_in || q >= (long)L->w_in) continue;
                sum += (double)L->w[((o * L->c_in + c) * (size_t)k + (size_t)i) * (size_t)k + (size_t)j] *
                       x[(c * L->h_in + (size_t)r) * L->w_in + (size_t)q];
            }
    return (float)sum;
}

/* ConvTranspose2d by its definition: y[o, i s - p + ki, j s - p + kj] += x[c, i, j] W[c, o, ki, kj]. */
static void naive_convt(const ae_layer *L, const float *x, double *y) {
    const long k = (long)L->kernel, p = k / 2, s = (long)L->stride;
    for (size_t o = 0; o < L->c_out; o++)
        for (size_t q = 0; q < L->h_out * L->w_out; q++) y[o * L->h_out * L->w_out + q] = L->b[o];
    for (size_t c = 0; c < L->c_in; c++)
        for (long i = 0; i < (long)L->h_in; i++)
            for (long j = 0; j < (long)L->w_in; j++)
                for (size_t o = 0; o < L->c_out; o++)
                    for (long a = 0; a < k; a++)
                        for (long b = 0; b < k; b++) {
                            const long r = i * s - p + a, q = j * s - p + b;
                            if (r < 0 || q < 0 || r >= (long)L->h_out || q >= (long)L->w_out) continue;
                            y[(o * L->h_out + (size_t)r) * L->w_out + (size_t)q] +=
                                (double)x[(c * L->h_in + (size_t)i) * L->w_in + (size_t)j] *
                                L->w[((c * L->c_out + o) * (size_t)k + (size_t)a) * (size_t)k + (size_t)b];
                        }
}

static void test_forward_against_naive_loops(void **state) {
    (void)state;
    enum { ROWS = 3 };
    const size_t kernels[3] = {1, 3, 5}, sizes[3][2] = {{7, 5}, {6, 9}, {1, 4}};
    for (size_t s = 1; s <= 2; s++)
        for (size_t ki = 0; ki < 3; ki++)
            for (size_t z = 0; z < 3; z++) {
                const size_t h = sizes[z][0], w = sizes[z][1];
                lone a, t;
                lone_make(&a, &ae_kind_conv2d, 3, 5, h, w, kernels[ki], s, ROWS);
                lone_make(&t, &ae_kind_conv2d_t, 3, 5, h, w, kernels[ki], s, ROWS);
                float *x = malloc(ROWS * a.l.in * sizeof(float)), *y = malloc(ROWS * a.l.out * sizeof(float));
                float *xt = malloc(ROWS * t.l.in * sizeof(float)), *yt = malloc(ROWS * t.l.out * sizeof(float));
                double *want = malloc(t.l.out * sizeof(double));
                assert_true(x && y && xt && yt && want);
                test_fill(x, ROWS * a.l.in, 5, -1, 1);
                test_fill(xt, ROWS * t.l.in, 6, -1, 1);
                a.l.kind->forward(&a.l, x, ROWS, y, 1, 0, a.scratch);
                t.l.kind->forward(&t.l, xt, ROWS, yt, 1, 0, t.scratch);
                assert_int_equal(t.l.in, a.l.out); /* the transposed layer restores the shape */
                for (size_t r = 0; r < ROWS; r++) {
                    for (size_t o = 0; o < a.l.c_out; o++)
                        for (size_t yy = 0; yy < a.l.h_out; yy++)
                            for (size_t xx = 0; xx < a.l.w_out; xx++)
                                assert_close(y[r * a.l.out + (o * a.l.h_out + yy) * a.l.w_out + xx],
                                             naive_conv(&a.l, x + r * a.l.in, o, yy, xx), 1e-5, 1e-5);
                    naive_convt(&t.l, xt + r * t.l.in, want);
                    for (size_t q = 0; q < t.l.out; q++) assert_close(yt[r * t.l.out + q], want[q], 1e-5, 1e-5);
                }
                free(x);
                free(y);
                free(xt);
                free(yt);
                free(want);
                lone_free(&a);
                lone_free(&t);
            }
}

/* Every gradient against central differences, with the rows' images in one product per layer
 * and one image a product (ae_conv_group's groups of one: the products chained group by
 * group). */
static void test_gradients(void **state) {
    (void)state;
    const size_t a[2][3] = {{3, 3, 2}, {4, 1, 1}}, b[2][3] = {{2, 5, 1}, {3, 3, 2}};
    for (int one = 0; one < 2; one++) {
        ae_conv_test_group(one ? 1 : 0);
        ae_config c = conv_config(2, 5, 7, 2, a, 6, 3); /* odd sides, stride 2 then kernel 1 */
        c.hidden_act = AE_ACT_TANH;
        test_model_gradients(c, train_cfg(AE_LOSS_MSE), 0.4f);
        test_model_gradients(c, train_cfg(AE_LOSS_BCE), 0.4f);
        ae_config d = conv_config(3, 6, 5, 2, b, 0, 4); /* kernel 5, no dense hidden layer */
        d.hidden_act = AE_ACT_SIGMOID;
        d.output_act = AE_ACT_TANH;
        test_model_gradients(d, train_cfg(AE_LOSS_MSE), 0.4f);
    }
    ae_conv_test_group(0);
}

/* Saved and loaded: the same bits, the same reconstructions, 4-D weights in the header, and
 * a second save writes the same file. */
static void test_save_load(void **state) {
    (void)state;
    const size_t spec[2][3] = {{3, 3, 2}, {2, 5, 1}};
    ae_config c = conv_config(2, 7, 6, 2, spec, 5, 3);
    ae_model *m, *back;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *x = malloc(40 * 84 * sizeof(float)), r1[4 * 84], r2[4 * 84];
    assert_non_null(x);
    test_fill(x, 40 * 84, 9, 0.0f, 1.0f);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 2;
    o.batch_size = 8;
    assert_int_equal(ae_train(m, x, 40, &o), AE_OK);
    const char *p1 = "test_conv_model.safetensors", *p2 = "test_conv_model2.safetensors";
    assert_int_equal(ae_save(m, p1), AE_OK);
    assert_int_equal(ae_load(&back, p1), AE_OK);
    assert_int_equal(back->n_params, m->n_params);
    assert_memory_equal(back->params, m->params, m->n_params * sizeof(float));
    ae_config got;
    assert_int_equal(ae_get_config(back, &got), AE_OK);
    assert_int_equal(got.n_conv, 2);
    assert_int_equal(got.input_shape[1], 7);
    assert_int_equal(got.conv[1].kernel, 5);
    assert_int_equal(ae_reconstruct(m, x, 4, r1), AE_OK);
    assert_int_equal(ae_reconstruct(back, x, 4, r2), AE_OK);
    assert_memory_equal(r1, r2, sizeof r1);
    assert_int_equal(ae_save(back, p2), AE_OK);
    FILE *f1 = fopen(p1, "rb"), *f2 = fopen(p2, "rb");
    assert_true(f1 && f2);
    static char b1[1 << 16], b2[1 << 16];
    const size_t n1 = fread(b1, 1, sizeof b1, f1), n2 = fread(b2, 1, sizeof b2, f2);
    fclose(f1);
    fclose(f2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    b1[n1 < sizeof b1 ? n1 : sizeof b1 - 1] = '\0';
    /* conv2d [out, in, k, k]; conv2d_t [in, out, k, k] */
    assert_non_null(strstr(b1 + 8, "\"encoder.0.weight\":{\"dtype\":\"F32\",\"shape\":[3,2,3,3]"));
    assert_non_null(strstr(b1 + 8, "\"decoder.3.weight\":{\"dtype\":\"F32\",\"shape\":[3,2,3,3]"));
    assert_non_null(strstr(b1 + 8, "\"decoder.2.weight\":{\"dtype\":\"F32\",\"shape\":[2,3,5,5]"));
    /* a checkpoint too: Adam's moments take the weights' shapes */
    assert_int_equal(ae_checkpoint_save(m, p2), AE_OK);
    ae_free(back);
    assert_int_equal(ae_checkpoint_load(&back, p2), AE_OK);
    assert_memory_equal(back->opt.m, m->opt.m, m->n_params * sizeof(float));
    remove(p1);
    remove(p2);
    ae_free(back);
    ae_free(m);
    free(x);
}

/* The largest |v| of n floats. */
static float max_abs(const float *v, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

/* A conv model starts as PyTorch's modules do: weights and biases uniform in +-1/sqrt(fan_in)
 * (Conv2d: c_in k^2; ConvTranspose2d [in, out, k, k]: c_out k^2; Linear: in). The same widths
 * without conv layers keep their Glorot-uniform weights and zero biases. */
static void test_init_as_pytorch(void **state) {
    (void)state;
    const size_t spec[2][3] = {{16, 3, 2}, {32, 3, 2}};
    ae_config c = conv_config(1, 28, 28, 2, spec, 0, 64);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    const double fan_in[6] = {1 * 9, 16 * 9, 1568, 64, 16 * 9, 1 * 9};
    for (size_t l = 0; l < 6; l++) {
        const ae_layer *L = &m->layer[l];
        const double bound = 1.0 / sqrt(fan_in[l]);
        const float w = max_abs(L->w, ae_layer_tensor_floats(L, 0)), b = max_abs(L->b, ae_layer_tensor_floats(L, 1));
        assert_true(w <= bound && w > 0.8 * bound);
        assert_true(b <= bound && (L->out == 784 ? b > 0.0f : b > 0.5 * bound)); /* the last has one bias */
    }
    ae_free(m);
    ae_config d = ae_config_default();
    d.input_dim = 1568;
    d.code_dim = 64;
    assert_int_equal(ae_create(&m, &d), AE_OK);
    const ae_layer *E = &m->layer[0], *D = &m->layer[1];
    assert_true(max_abs(E->b, 64) == 0.0f && max_abs(D->b, 1568) == 0.0f);
    const double glorot = sqrt(6.0 / (1568 + 64)); /* linear code, sigmoid output: Glorot-uniform */
    assert_true(max_abs(E->w, 64 * 1568) <= glorot && max_abs(E->w, 64 * 1568) > 0.99 * glorot);
    assert_true(max_abs(D->w, 64 * 1568) <= glorot && max_abs(D->w, 64 * 1568) > 0.99 * glorot);
    ae_free(m);
}

/* The chunked pass: the same bits with any thread count and task order for a chunk count,
 * and one chunk's gradients to rounding with six chunks. */
static void test_chunked_pass_bits(void **state) {
    (void)state;
    enum { ROWS = 26 };
    const size_t spec[2][3] = {{4, 3, 2}, {3, 3, 1}};
    ae_config c = conv_config(2, 9, 7, 2, spec, 8, 4);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float *data = malloc(ROWS * c.input_dim * sizeof(float));
    assert_non_null(data);
    test_fill(data, ROWS * c.input_dim, 7, 0.05f, 0.95f);
    ae_pass_cfg pc = train_cfg(AE_LOSS_MSE);
    ae_work w;
    assert_int_equal(ae_work_init(&w, m, ROWS, &pc), AE_OK);
    test_split_bits(m, &w, data, NULL, ROWS, &pc, 0, 3);
    /* 6 chunks (each chunk's columns where grad_params looks for them), in groups of one
     * image: the gradients of one chunk, to rounding */
    float *one = malloc(m->n_params * sizeof(float));
    assert_non_null(one);
    ae_pass_split(m, &w, NULL, 1, 0, data, NULL, ROWS, &pc, 1, NULL);
    memcpy(one, m->grads, m->n_params * sizeof(float));
    ae_conv_test_group(1);
    ae_pass_split(m, &w, NULL, 6, 0, data, NULL, ROWS, &pc, 1, NULL);
    ae_conv_test_group(0);
    for (size_t i = 0; i < m->n_params; i++) assert_close(m->grads[i], one[i], 1e-6, 1e-4);
    free(one);
    ae_work_free(&w);
    free(data);
    ae_free(m);
}

/* Threaded training: the same bits for the same thread count, close to one thread's. */
static void test_threaded_training(void **state) {
    (void)state;
    const size_t spec[2][3] = {{6, 3, 2}, {8, 3, 2}};
    test_threads_reproducible(conv_config(1, 12, 12, 2, spec, 0, 8));
}

/* A classifier head fine-tunes a conv encoder (through its scratch) and learns. */
static void test_head_through_conv_encoder(void **state) {
    (void)state;
    const size_t spec[1][3] = {{4, 3, 2}};
    ae_config c = conv_config(1, 6, 6, 1, spec, 0, 4);
    ae_model *m;
    assert_int_equal(ae_create(&m, &c), AE_OK);
    float x[64 * 36], y[64];
    test_fill(x, 64 * 36, 3, 0, 1);
    for (size_t i = 0; i < 64; i++) y[i] = x[i * 36 + 14] > 0.5f ? 1.0f : 0.0f; /* one pixel's side */
    assert_int_equal(ae_head_create(m, AE_HEAD_SOFTMAX, 2), AE_OK);
    double before, after;
    assert_int_equal(ae_head_evaluate(m, x, 64, y, &before, NULL), AE_OK);
    ae_train_opts o = ae_train_opts_default();
    o.epochs = 100;
    o.batch_size = 16;
    o.learning_rate = 1e-2f;
    assert_int_equal(ae_head_train(m, x, 64, y, 0, &o), AE_OK);
    assert_int_equal(ae_head_evaluate(m, x, 64, y, &after, NULL), AE_OK);
    assert_true(after < 0.5 * before);
    ae_free(m);
}

/* ae_create refuses c, and ae_last_error holds why. */
static void refused(ae_config c, const char *why) {
    ae_model *m = NULL;
    assert_int_equal(ae_create(&m, &c), AE_EINVAL);
    assert_null(m);
    assert_non_null(strstr(ae_last_error(), why));
}

/* What makes no sense is refused with a reason. */
static void test_refusals(void **state) {
    (void)state;
    const size_t spec[1][3] = {{4, 3, 2}};
    const ae_config ok = conv_config(1, 6, 6, 1, spec, 0, 3);
    ae_config c = ok;
    c.tied_weights = 1;
    refused(c, "tied");
    c = ok;
    c.batch_norm = 1;
    refused(c, "batch_norm");
    c = ok;
    c.conv[0].kernel = 4;
    refused(c, "odd kernel");
    c = ok;
    c.input_dim = 35;
    refused(c, "input_dim");
    c = ok;
    c.n_conv = 0;
    refused(c, "no conv layer");
    ae_model *m = NULL;
    assert_int_equal(ae_create(&m, &ok), AE_OK);
    float x[4 * 36];
    test_fill(x, 4 * 36, 1, 0, 1);
    assert_int_equal(ae_pretrain_layerwise(m, x, 4, NULL, 1), AE_EINVAL);
    assert_non_null(strstr(ae_last_error(), "conv"));
    ae_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_sequence),    cmocka_unit_test(test_forward_against_naive_loops),
        cmocka_unit_test(test_gradients),         cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_init_as_pytorch),   cmocka_unit_test(test_chunked_pass_bits),
        cmocka_unit_test(test_threaded_training), cmocka_unit_test(test_head_through_conv_encoder),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
