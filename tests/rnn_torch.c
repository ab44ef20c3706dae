/* Writes what rnn_torch.py checks against torch.nn.GRU / torch.nn.LSTM: for each cell, a
 * recurrent autoencoder's tensors (model-file names and layouts), input rows, one training
 * pass's MSE loss, every parameter's gradient and the input's, and the reconstruction.
 *   rnn_torch DIR   (writes DIR/gru and DIR/lstm, which must exist) */
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "torch_dump.h"
#include "train.h"

enum { ROWS = 7, T = 6, F = 3, H = 5, K = 4, D = T * F };

static int write_cell(const char *dir, ae_rnn_cell cell) {
    ae_config c = ae_config_default();
    c.rnn = cell;
    c.seq_len = T;
    c.seq_features = F;
    c.input_dim = D;
    c.n_hidden = 1;
    c.hidden[0] = H;
    c.code_dim = K;
    ae_model *m;
    if (ae_create(&m, &c) != AE_OK) return 1;
    test_fill(m->params, m->n_params, 31, -0.6f, 0.6f);
    float x[ROWS * D], dx[ROWS * D], rec[ROWS * D];
    test_fill(x, ROWS * D, 32, 0.0f, 1.0f);
    ae_tensor_ref t[AE_MAX_TENSORS];
    const size_t n = ae_model_tensors(m, t, 0);
    int bad = torch_dump(dir, "x", "", x, ROWS * D);
    for (size_t i = 0; i < n; i++)
        bad |= torch_dump(dir, t[i].name, "", t[i].data, t[i].rows * (t[i].cols ? t[i].cols : 1));
    ae_pass_cfg pc;
    memset(&pc, 0, sizeof pc);
    pc.loss = AE_LOSS_MSE;
    pc.train = 1;
    ae_work w;
    if (ae_work_init(&w, m, ROWS, &pc) != AE_OK) return 1;
    const float loss = (float)ae_pass(m, &w, x, x, ROWS, &pc, 1, dx, NULL);
    bad |= torch_dump(dir, "loss", "", &loss, 1);
    bad |= torch_dump(dir, "x", ".grad", dx, ROWS * D);
    for (size_t i = 0; i < n; i++)
        bad |= torch_dump(dir, t[i].name, ".grad", m->grads + (t[i].data - m->params),
                          t[i].rows * (t[i].cols ? t[i].cols : 1));
    bad |= ae_reconstruct(m, x, ROWS, rec) != AE_OK;
    bad |= torch_dump(dir, "reconstruction", "", rec, ROWS * D);
    ae_work_free(&w);
    ae_free(m);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    char dir[480];
    snprintf(dir, sizeof dir, "%s/gru", argv[1]);
    int bad = write_cell(dir, AE_RNN_GRU);
    snprintf(dir, sizeof dir, "%s/lstm", argv[1]);
    return bad | write_cell(dir, AE_RNN_LSTM);
}
