/* Writes what conv_torch.py checks against torch.nn.Conv2d / ConvTranspose2d: a small conv
 * autoencoder's layers and geometry (manifest.txt), its tensors as created, a batch, the code
 * and reconstruction of that batch, one training pass's loss and gradients, and every tensor
 * after one Adam step (ae_train: one epoch of one batch, default Adam 1e-3).
 *   conv_torch DIR
 * The network: 2x9x7 images (odd sides), conv 3:5:2, 4:3:1, 5:1:2 (kernels 5, 3, 1; strides 2,
 * 1, 2) -> 5x3x2 = 30, dense 12, code 6, and the mirror; tanh hidden (smooth, so that a value
 * on a ReLU's kink cannot make the two sides disagree), sigmoid output. */
#include <stdio.h>
#include <string.h>

#include "io_file.h"
#include "test_util.h"
#include "torch_dump.h"
#include "train.h"

enum { ROWS = 5, D = 2 * 9 * 7 };

static size_t floats(const ae_tensor_ref *t) { return t->rows * (t->cols ? t->cols : 1); }

static int manifest(const char *dir, const ae_model *m) {
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        fprintf(f, "%s %s %zu %zu %s %zu %zu %zu %zu %zu %zu %zu %zu\n", l < m->n_enc ? "encoder" : "decoder",
                L->kind->name, L->in, L->out, ae_activation_name(L->act), L->c_in, L->h_in, L->w_in, L->c_out, L->h_out,
                L->w_out, L->kernel, L->stride);
    }
    return fclose(f) != 0;
}

static ae_config network(void) {
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.input_shape[0] = 2;
    c.input_shape[1] = 9;
    c.input_shape[2] = 7;
    c.n_conv = 3;
    c.conv[0] = (ae_conv_spec){3, 5, 2};
    c.conv[1] = (ae_conv_spec){4, 3, 1};
    c.conv[2] = (ae_conv_spec){5, 1, 2};
    c.n_hidden = 1;
    c.hidden[0] = 12;
    c.code_dim = 6;
    c.hidden_act = AE_ACT_TANH;
    c.seed = 7;
    return c;
}

/* The loss and every gradient of one training pass over x (the parameters unchanged). */
static int dump_pass(const char *dir, ae_model *m, const float *x, const ae_tensor_ref *t, size_t n) {
    ae_pass_cfg pc;
    memset(&pc, 0, sizeof pc);
    pc.loss = AE_LOSS_MSE;
    pc.train = 1;
    ae_work w;
    if (ae_work_init(&w, m, ROWS, &pc) != AE_OK) return 1;
    const float loss = (float)ae_pass(m, &w, x, x, ROWS, &pc, 1, NULL, NULL);
    ae_work_free(&w);
    int bad = torch_dump(dir, "loss", "", &loss, 1);
    for (size_t i = 0; i < n; i++)
        bad |= torch_dump(dir, t[i].name, ".grad", m->grads + (t[i].data - m->params), floats(&t[i]));
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *dir = argv[1];
    const ae_config c = network();
    ae_model *m;
    if (ae_create(&m, &c) != AE_OK) return 1;
    float x[ROWS * D], code[ROWS * 6], rec[ROWS * D];
    test_fill(x, ROWS * D, 31, 0.0f, 1.0f);
    ae_tensor_ref t[AE_MAX_TENSORS];
    const size_t n = ae_model_tensors(m, t, 0);
    int bad = manifest(dir, m) | torch_dump(dir, "x", "", x, ROWS * D);
    for (size_t i = 0; i < n; i++) bad |= torch_dump(dir, t[i].name, ".init", t[i].data, floats(&t[i]));
    if (ae_encode(m, x, ROWS, code) != AE_OK || ae_reconstruct(m, x, ROWS, rec) != AE_OK) return 1;
    bad |= torch_dump(dir, "code", "", code, ROWS * 6) | torch_dump(dir, "reconstruction", "", rec, ROWS * D);
    bad |= dump_pass(dir, m, x, t, n);
    ae_train_opts o = ae_train_opts_default(); /* Adam 1e-3 (0.9, 0.999, 1e-8), MSE */
    o.epochs = 1;
    o.batch_size = ROWS;
    o.shuffle = 0;
    if (ae_train(m, x, ROWS, &o) != AE_OK) return 1;
    for (size_t i = 0; i < n; i++) bad |= torch_dump(dir, t[i].name, ".after", t[i].data, floats(&t[i]));
    ae_free(m);
    return bad;
}
