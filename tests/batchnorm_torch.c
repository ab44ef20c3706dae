/* Writes what batchnorm_torch.py checks against torch.nn.BatchNorm1d: a batch-normalised
 * autoencoder's layers (manifest.txt), its tensors before training, one training pass's loss
 * and gradients, the running statistics after that pass, and inference's reconstruction.
 *   batchnorm_torch DIR */
#include <stdio.h>
#include <string.h>

#include "io_file.h"
#include "test_util.h"
#include "torch_dump.h"
#include "train.h"

enum { ROWS = 16, D = 10 };

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *dir = argv[1];
    ae_config c = ae_config_default();
    c.input_dim = D;
    c.n_hidden = 2;
    c.hidden[0] = 8;
    c.hidden[1] = 6;
    c.code_dim = 3;
    c.batch_norm = 1;
    c.hidden_act = AE_ACT_TANH;
    ae_model *m;
    if (ae_create(&m, &c) != AE_OK) return 1;
    test_fill(m->params, m->n_params, 21, -0.4f, 0.4f);
    for (size_t l = 0; l < m->n_layers; l++)
        if (m->layer[l].kind == &ae_kind_batchnorm)
            for (size_t j = 0; j < m->layer[l].out; j++) m->layer[l].w[j] += 1.0f;
    float x[ROWS * D], rec[ROWS * D];
    test_fill(x, ROWS * D, 22, 0.0f, 1.0f);
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    for (size_t l = 0; l < m->n_layers; l++) {
        const ae_layer *L = &m->layer[l];
        fprintf(f, "%s %s %zu %zu %s\n", l < m->n_enc ? "encoder" : "decoder", L->kind->name, L->in, L->out,
                ae_activation_name(L->act));
    }
    if (fclose(f) != 0) return 1;
    ae_tensor_ref t[AE_MAX_TENSORS];
    size_t n = ae_model_tensors(m, t, 0);
    int bad = torch_dump(dir, "x", "", x, ROWS * D);
    for (size_t i = 0; i < n; i++)
        bad |= torch_dump(dir, t[i].name, ".init", t[i].data, t[i].rows * (t[i].cols ? t[i].cols : 1));
    ae_pass_cfg pc;
    memset(&pc, 0, sizeof pc);
    pc.loss = AE_LOSS_MSE;
    pc.train = 1;
    ae_work w;
    if (ae_work_init(&w, m, ROWS, &pc) != AE_OK) return 1;
    const float loss = (float)ae_pass(m, &w, x, x, ROWS, &pc, 1, NULL, NULL);
    bad |= torch_dump(dir, "loss", "", &loss, 1);
    for (size_t i = 0; i < n; i++) {
        const size_t count = t[i].rows * (t[i].cols ? t[i].cols : 1);
        if (strstr(t[i].name, "running_"))
            bad |= torch_dump(dir, t[i].name, ".after", t[i].data, count);
        else
            bad |= torch_dump(dir, t[i].name, ".grad", m->grads + (t[i].data - m->params), count);
    }
    if (ae_reconstruct(m, x, ROWS, rec) != AE_OK) return 1;
    bad |= torch_dump(dir, "reconstruction", "", rec, ROWS * D);
    ae_work_free(&w);
    ae_free(m);
    return bad;
}
