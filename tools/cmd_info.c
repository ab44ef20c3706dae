/* ae info MODEL: what a model file holds, in lines of "name  value". */
#include <stdio.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "commands.h"

int cmd_info(int argc, char **argv) {
    static const char HELP[] = "usage: ae info MODEL\n";
    model_args a = parse_model_args(argc, argv, 1, HELP);
    ae_model *m = load_model(a.pos[0]);
    ae_config c;
    check(ae_get_config(m, &c), "config");
    printf("model        %s\narchitecture %zu", a.pos[0], c.input_dim);
    for (size_t i = 0; i < c.n_hidden; i++) printf("-%zu", c.hidden[i]);
    printf("-%zu%s", c.code_dim, c.variational ? "(mu,logvar)" : "");
    for (size_t i = c.n_hidden; i-- > 0;) printf("-%zu", c.hidden[i]);
    printf("-%zu\nactivations  hidden %s, code %s, output %s\n", c.input_dim, ae_activation_name(c.hidden_act),
           ae_activation_name(c.code_act), ae_activation_name(c.output_act));
    printf("options      tied %s, variational %s, seed %llu\n", c.tied_weights ? "yes" : "no",
           c.variational ? "yes" : "no", (unsigned long long)c.seed);
    if (c.n_conv) {
        printf("conv         input %zux%zux%zu, layers", c.input_shape[0], c.input_shape[1], c.input_shape[2]);
        for (size_t i = 0; i < c.n_conv; i++)
            printf(" %zu:%zu:%zu", c.conv[i].channels, c.conv[i].kernel, c.conv[i].stride);
        printf(" (channels:kernel:stride), mirrored by transposed ones\n");
    }
    if (c.rnn != AE_RNN_NONE)
        printf("sequence     %zu steps x %zu values, %s cell of width %zu (encoder and decoder)\n", c.seq_len,
               c.seq_features, c.rnn == AE_RNN_LSTM ? "lstm" : "gru", c.hidden[0]);
    if (c.batch_norm) printf("batch norm   after every hidden layer (running statistics saved)\n");
    printf("parameters   %zu\n", ae_param_count(m));
    ae_scaling sm;
    int fitted;
    check(ae_scaling_get(m, &sm, &fitted, NULL, NULL), "scaling");
    printf("scaling      %s%s\n", fitted ? SCALING_NAMES[sm] : SCALING_NAMES[c.scaling],
           !fitted               ? " (fitted by the first training)"
           : sm == AE_SCALE_NONE ? " (rows used as they are)"
                                 : " (statistics of the training rows)");
    if (ae_epochs_done(m) > 0) printf("checkpoint   %d epochs done\n", ae_epochs_done(m));
    float t;
    ae_threshold_method tm;
    double tp;
    if (ae_threshold_get(m, &t, &tm, &tp) == AE_OK) {
        printf("anomaly      threshold %.9g (", (double)t);
        if (tm == AE_THRESHOLD_QUANTILE)
            printf("quantile %g of the calibration scores)\n", tp);
        else if (tm == AE_THRESHOLD_CONTAMINATION)
            printf("contamination %g: flags that share of normal rows)\n", tp);
        else if (tm == AE_THRESHOLD_MEAN_STD)
            printf("mean + %g std of the calibration scores)\n", tp);
        else
            printf("set by hand)\n");
    }
    ae_head_kind hk;
    size_t ho;
    if (ae_head_get(m, &hk, &ho) == AE_OK)
        printf("head         %s, %zu outputs\n", hk == AE_HEAD_SOFTMAX ? "softmax classifier" : "linear", ho);
    ae_blas_info b = ae_blas_get_info();
    printf("libae        %s\nOpenBLAS     core %s, %d threads%s\n", ae_version(), b.core, b.threads,
           b.fallback ? " (slow fallback core)" : "");
    ae_free(m);
    return 0;
}
