/* ae head (a classifier or regression on the model's code) and ae predict (its outputs). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "commands.h"
#include "progress.h"

/* Text classes of --label: which number is which, on stderr. */
static void say_class_names(const char *names) {
    fprintf(stderr, "classes of %s:", data_opts.label);
    int k = 0;
    for (const char *n = names; *n; n += strlen(n) + 1) fprintf(stderr, "%s %d %s", k ? "," : "", k, n), k++;
    fputc('\n', stderr);
}

/* A classifier's labels: one class index per row, each below classes when it is given (not
 * 0); the number of classes, at least two. */
static long count_classes(const char *what, const ae_data *y, long classes) {
    if (y->cols != 1) die("%s has %zu columns: a classifier wants one class index per row", what, y->cols);
    float top = 0.0f;
    for (size_t i = 0; i < y->rows; i++) {
        float c = y->x[i];
        if (!(c >= 0.0f && c < 16777216.0f && c == floorf(c)) || (classes && c >= (float)classes))
            die("%s row %zu: %g is not a class index%s", what, i + 1, (double)c, classes ? " below --classes" : "");
        if (c > top) top = c;
    }
    if (!classes) classes = (long)top + 1;
    if (classes < 2) die("%s holds one class only: a classifier needs two or more", what);
    return classes;
}

/* ae head MODEL DATA LABELS -o MODEL_OUT: a classifier (or, with --linear, a regression) on
 * the model's code, trained with the encoder frozen or fine-tuned. */
int cmd_head(int argc, char **argv) {
    static const char HELP[] =
        "usage: ae head MODEL DATA LABELS -o MODEL_OUT [options]\n"
        "       ae head MODEL DATA --label COL -o MODEL_OUT [options]\n"
        "  LABELS: one class index 0..N-1 per row (an IDX label file, .npy or CSV), or with\n"
        "          --linear the target values, one row per DATA row\n"
        "  --label COL   the labels are DATA's column COL (name or number; text classes become\n"
        "                0..N-1 in sorted order), kept out of the inputs\n"
        "  --classes N   classes (default: the largest label + 1)   --linear  regression head\n"
        "  --epochs N (10)  --batch N (32)  --lr X (1e-3)  --optimizer sgd|adam|adamw\n"
        "  --freeze      train the head alone, the encoder unchanged (default: fine-tune it too)\n";
    const char *v[6] = {NULL, NULL, NULL, NULL, NULL, NULL}, *pos[3] = {NULL, NULL, NULL};
    int linear = 0, freeze = 0;
    const cli_opt opts[] = {
        /* the values are read after parsing, in the order below */
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &v[0]},
        {.name = "--classes", .kind = CLI_TEXT, .to = &v[1]},
        {.name = "--epochs", .kind = CLI_TEXT, .to = &v[2]},
        {.name = "--batch", .kind = CLI_TEXT, .to = &v[3]},
        {.name = "--lr", .kind = CLI_TEXT, .to = &v[4]},
        {.name = "--optimizer", .kind = CLI_TEXT, .to = &v[5]},
        {.name = "--linear", .kind = CLI_SET, .to = &linear},
        {.name = "--freeze", .kind = CLI_SET, .to = &freeze},
        {.name = NULL},
    };
    const int npos = cli_parse(argc, argv, opts, HELP, pos, 3);
    const char *out = v[0];
    long classes = v[1] ? parse_long(opts[1].name, v[1], 2, 1L << 24) : 0;
    ae_train_opts o = ae_train_opts_default();
    o.batch_size = v[3] ? (size_t)parse_long(opts[3].name, v[3], 1, 1L << 24) : 32;
    if (v[2]) o.epochs = (int)parse_long(opts[2].name, v[2], 1, 1000000);
    if (v[4]) o.learning_rate = parse_in(opts[4].name, v[4], 0.0f, INFINITY, CLI_LO_OPEN);
    if (v[5]) o.optimizer = (ae_optimizer)parse_choice(opts[5].name, v[5], OPTIMIZER_NAMES);
    const int label_col = data_opts.label != NULL;
    if (label_col && npos == 3) die("give LABELS or --label COL, not both");
    if (npos != (label_col ? 2 : 3) || !out) die("needs MODEL, DATA, LABELS and -o MODEL_OUT (see ae head --help)");
    if (linear && classes) die("--classes is for a classifier, not with --linear");
    /* -o may be MODEL: the model, read whole first, gains its head in place (atomically) */
    const named outs[] = {{"-o", out}};
    const named ins[] = {{"MODEL", same_file(out, pos[0]) ? NULL : pos[0]}, {"DATA", pos[1]}, {"LABELS", pos[2]}};
    check_outputs(outs, 1, ins, 3);
    ae_model *m = load_model(pos[0]);
    char names[4096] = "";
    data_opts.label_names = names;
    data_opts.label_names_cap = sizeof names;
    ae_data y, d = load_data_labels(pos[1], label_col ? &y : NULL);
    if (label_col)
        pos[2] = data_opts.label;
    else
        y = load_data(pos[2]);
    if (label_col && names[0]) say_class_names(names);
    need_width(pos[1], d.cols, ae_input_dim(m));
    if (y.rows != d.rows) die("%s has %zu rows but %s has %zu", pos[2], y.rows, pos[1], d.rows);
    if (!linear) classes = count_classes(pos[2], &y, classes);
    const size_t outputs = linear ? y.cols : (size_t)classes;
    check(ae_head_create(m, linear ? AE_HEAD_LINEAR : AE_HEAD_SOFTMAX, outputs), "head");
    progress p = {NULL, o.epochs, 0, now(), 0.0, 0.0, o.batch_size, 1, 0}; /* head training has no plan */
    o.on_epoch = on_epoch;
    o.user = &p;
    int rc = ae_head_train(m, d.x, d.rows, y.x, freeze, &o);
    if (rc == AE_EDIVERGED) die("training diverged: try a lower --lr");
    check(rc, "head");
    double loss, acc;
    check(ae_head_evaluate(m, d.x, d.rows, y.x, &loss, &acc), "evaluate");
    save_model(m, out);
    if (linear)
        report("head: %zu outputs, training MSE %.6g\n", outputs, loss);
    else
        report("head: %zu classes, training loss %.6g, training accuracy %.4f\n", outputs, loss, acc);
    fprintf(stderr, "wrote %s\n", out);
    ae_data_free(&y);
    ae_data_free(&d);
    ae_free(m);
    return 0;
}

/* ae predict MODEL DATA -o OUT [--probabilities]: the head's classes (or values). */
int cmd_predict(int argc, char **argv) {
    static const char HELP[] = "usage: ae predict MODEL DATA [-o OUT(.npy|.csv)] [--probabilities]\n"
                               "  DATA - reads standard input; without -o (or with -o -) CSV goes to standard output\n"
                               "  a classifier head: each row's class (with --probabilities, every class's\n"
                               "  probability); a linear head: its values\n";
    const char *out = NULL, *pos[2] = {NULL, NULL};
    int probs = 0;
    const cli_opt opts[] = {
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &out},
        {.name = "--probabilities", .kind = CLI_SET, .to = &probs},
        {.name = NULL},
    };
    const int npos = cli_parse(argc, argv, opts, HELP, pos, 2);
    if (npos != 2) die("needs MODEL and DATA (see ae predict --help)");
    if (!out || !strcmp(out, "-")) out = "-", stdout_is_data = 1; /* no -o: standard output */
    const named outs[] = {{"-o", out}};
    const named ins[] = {{"MODEL", pos[0]}, {"DATA", pos[1]}};
    check_outputs(outs, 1, ins, 2);
    ae_model *m = load_model(pos[0]);
    ae_head_kind kind;
    size_t outputs;
    if (ae_head_get(m, &kind, &outputs) != AE_OK) die("%s has no head: train one with ae head", pos[0]);
    if (probs && kind != AE_HEAD_SOFTMAX) die("--probabilities needs a classifier head; %s has a linear one", pos[0]);
    ae_data d = load_data(pos[1]);
    need_width(pos[1], d.cols, ae_input_dim(m));
    const size_t cols = kind == AE_HEAD_SOFTMAX && !probs ? 1 : outputs;
    float *y = malloc(d.rows * cols * sizeof(float));
    int32_t *labels = malloc(d.rows * sizeof(int32_t));
    if (!y || !labels) die("out of memory");
    if (cols == 1 && kind == AE_HEAD_SOFTMAX) {
        check(ae_head_classify(m, d.x, d.rows, labels), "predict");
        for (size_t i = 0; i < d.rows; i++) y[i] = (float)labels[i];
    } else {
        check(ae_head_predict(m, d.x, d.rows, y), "predict");
    }
    write_rows(out, y, d.rows, cols);
    fprintf(stderr, "wrote %s: %zu rows of %zu\n", out, d.rows, cols);
    free(labels);
    free(y);
    ae_data_free(&d);
    ae_free(m);
    return 0;
}
