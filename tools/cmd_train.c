/* ae train DATA -o MODEL [options]: the options, the model they describe, and the checks
 * made before any work; train_run.c does the training. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "cmd_train.h"
#include "commands.h"

#ifdef AE_HAVE_MPI
#include <ae_mpi.h>
#endif

static const char TRAIN_HELP[] =
    "usage: ae train DATA -o MODEL [options]\n"
    "model:   --hidden W[,W...]  --code K (default: from the data's width d: hidden min(256, d/2),\n"
    "         code min(32, d/4))  --hidden-act A  --code-act A  --output-act A (A: linear relu\n"
    "         leaky_relu sigmoid tanh softplus)  --tied  --variational  --batch-norm (after every hidden\n"
    "         layer)  --seed N\n"
    "conv:    --input-shape CxHxW (each row an image)  --conv C:K:S[,C:K:S...] (convolution layers:\n"
    "         channels, odd kernel, stride; mirrored by transposed ones), e.g. --input-shape 1x28x28\n"
    "         --conv 16:3:2,32:3:2 --code 64\n"
    "seq:     --seq TxF (each row T steps of F values, step-major)  --rnn gru|lstm (the cell; --hidden W\n"
    "         is its state's width, default 64), e.g. --seq 28x28 --rnn gru --hidden 128 --code 64\n"
    "scaling: --scale auto|none|minmax|zscore (auto: data already in the output's range is left\n"
    "         alone, else min-max for a sigmoid output, z-score for a linear one)\n"
    "train:   --epochs N, --batch N (default: batch min(128, rows / 8, at least 16), and epochs for\n"
    "         about 500 steps, at least 10)  --no-shuffle  --optimizer sgd|adam|adamw  --lr X\n"
    "         --momentum X  --nesterov  --beta1 X  --beta2 X  --eps X  --weight-decay X  --loss mse|bce\n"
    "         --noise none|gaussian|mask  --noise-level X  --dropout X  --sparsity-target X\n"
    "         --sparsity-weight X  --kl-weight X  --clip-norm X  --patience N  --val FILE\n"
    "         --val-split S (hold out this share of DATA's rows as validation rows)\n"
    "anomaly: --contamination C (the share of new normal rows to flag, e.g. 0.1: the threshold is\n"
    "         calibrated on rows the model did not learn: --val FILE or --val-split S when given,\n"
    "         else out-of-fold scores of 5 more models up to 20000 rows, a held-out fifth above)\n"
    "state:   --checkpoint FILE  --checkpoint-every N  --resume CHECKPOINT (same --hidden and --code,\n"
    "         if given)  --memory-limit GIB (default 4: refuse a model whose training would take\n"
    "         more; 0: no limit)\n"
    "threads: --threads N (at most N threads; 0, the default: decide)  --plan FILE (reuse the\n"
    "         parallel plan saved there for this model, batch and host, else save the one chosen;\n"
    "         default: the AE_PLAN environment variable)\n"
    "stream:  --stream: train from DATA (IDX, .npy or CSV, plain or gzip) in blocks read while the\n"
    "         block before trains: memory for two blocks, not the file (gzip and CSV: blocks in file\n"
    "         order, rows shuffled within each)  --buffer-rows N (rows a block; default about 32 MiB)\n"
    "         --checkpoint-blocks N (also a checkpoint every N blocks of an epoch, which --resume\n"
    "         goes on from at the next block: give the same DATA and --buffer-rows)\n"
    "mpi:     --mpi: data-parallel over the ranks of mpirun -np N ae train ... --mpi; each rank\n"
    "         reads its share of DATA (and of --val; with --stream, streams it); rank 0 reports and\n"
    "         writes MODEL\n"
    "output:  -o MODEL  --history FILE.csv (one line per epoch)  --plot FILE.png (loss curves,\n"
    "         drawn by gnuplot when it is installed)\n";

/* --hidden-act, --code-act, --output-act: an activation by its name in the model file. */
static void read_activation(const char *opt, const char *v, void *to) {
    if (ae_activation_parse(v, to) != AE_OK) die("%s: unknown value '%s'", opt, v);
}

static void read_seed(const char *opt, const char *v, void *to) {
    *(uint64_t *)to = (uint64_t)parse_long(opt, v, 0, 0x7fffffffL);
}

static void read_val_split(const char *opt, const char *v, void *to) {
    float *split = to;
    *split = parse_float(opt, v);
    if (!(*split >= 0.0f && *split <= 0.9f)) die("--val-split wants a share in [0, 0.9]");
}

static void read_contamination(const char *opt, const char *v, void *to) {
    double *share = to;
    *share = parse_float(opt, v);
    if (!(*share > 0.0 && *share <= 0.5)) die("--contamination wants a share in (0, 0.5]");
}

/* --threads and --plan are set in the library as they are met. */
static void read_threads(const char *opt, const char *v, void *to) {
    (void)to;
    check(ae_set_threads((int)parse_long(opt, v, 0, 1024)), "--threads");
}

static void read_plan(const char *opt, const char *v, void *to) {
    (void)opt, (void)to;
    check(ae_set_plan_file(v), "--plan");
}

/* --input-shape CxHxW: the image each row holds (channels, height, width). */
static void read_input_shape(const char *opt, const char *v, void *to) {
    ae_config *c = to;
    unsigned long s[3];
    char tail;
    if (sscanf(v, "%lux%lux%lu%c", &s[0], &s[1], &s[2], &tail) != 3 || !s[0] || !s[1] || !s[2] || s[0] > 4096 ||
        s[1] > 65536 || s[2] > 65536)
        die("%s wants CxHxW, e.g. 1x28x28, not '%s'", opt, v);
    for (int i = 0; i < 3; i++) c->input_shape[i] = s[i];
}

/* --seq TxF: the steps and the values a step of each row holds (step-major). */
static void read_seq(const char *opt, const char *v, void *to) {
    ae_config *c = to;
    unsigned long s[2];
    char tail;
    if (sscanf(v, "%lux%lu%c", &s[0], &s[1], &tail) != 2 || !s[0] || !s[1] || s[0] > 65536 || s[1] > (1UL << 24))
        die("%s wants TxF (steps x values a step), e.g. 28x28, not '%s'", opt, v);
    c->seq_len = s[0];
    c->seq_features = s[1];
}

static const char *const RNN_NAMES[] = {"none", "gru", "lstm", NULL};

/* --conv C:K:S[,C:K:S...]: convolution layers (output channels, odd kernel, stride), in order. */
static void read_conv(const char *opt, const char *v, void *to) {
    ae_config *c = to;
    c->n_conv = 0;
    for (const char *p = v; *p;) {
        unsigned long ch, k, st;
        int used = 0;
        if (c->n_conv == AE_MAX_CONV || sscanf(p, "%lu:%lu:%lu%n", &ch, &k, &st, &used) != 3 || !ch || !k || !st)
            die("%s wants up to %d layers C:K:S (channels, kernel, stride), e.g. 16:3:2,32:3:2, not '%s'", opt,
                AE_MAX_CONV, v);
        c->conv[c->n_conv++] = (ae_conv_spec){ch, k, st};
        p += used;
        if (*p == ',' && p[1])
            p++;
        else if (*p)
            die("%s: '%s' is not a list of C:K:S", opt, v);
    }
    if (!c->n_conv) die("%s: an empty list", opt);
}

/* --hidden W[,W...]: one to AE_MAX_HIDDEN widths, each an integer in [1, 2^24]; an empty
 * list or an empty item ("", "8,", "8,,4") is refused, not read as fewer layers. */
static void read_widths(const char *opt, const char *list, void *to) {
    ae_config *c = to;
    c->n_hidden = 0;
    for (const char *p = list;; p++) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item)
            die("%s wants widths W[,W...], each an integer in [1, %d], not '%s'", opt, 1 << 24, list);
        if (c->n_hidden == AE_MAX_HIDDEN) die("%s takes at most %d widths", opt, AE_MAX_HIDDEN);
        memcpy(item, p, len);
        item[len] = '\0';
        c->hidden[c->n_hidden++] = (size_t)parse_long(opt, item, 1, 1 << 24);
        if (!comma) break;
        p = comma;
    }
}

/* Widths from the data's width d when the user gave none: one hidden layer of min(256, d/2)
 * and a code of min(32, d/4), never wider than the input (784 gives the old 256 and 32). */
static void default_widths(ae_config *c, size_t d, int hidden_given, int code_given) {
    if (!code_given) c->code_dim = d / 4 < 1 ? 1 : d / 4 > 32 ? 32 : d / 4;
    if (!hidden_given && c->n_conv) { /* conv layers, then the code: no dense hidden layer */
        c->n_hidden = 0;
    } else if (!hidden_given && c->rnn != AE_RNN_NONE) { /* the cell's state */
        c->n_hidden = 1;
        c->hidden[0] = 64;
    } else if (!hidden_given) {
        size_t h = d / 2 > 256 ? 256 : d / 2;
        c->n_hidden = 1;
        c->hidden[0] = h > c->code_dim ? h : c->code_dim;
    }
}

/* A schedule for rows training rows when the user gave none: batches of min(128, rows / 8) (at
 * least 16, never more than the rows) and enough epochs for about 500 optimizer steps (at
 * least 10, at most 1000): a small table gets as many steps as a large one gets in 10 epochs. */
static void default_schedule(ae_train_opts *o, size_t rows, int epochs_given, int batch_given) {
    if (!batch_given) {
        size_t b = rows / 8 > 128 ? 128 : rows / 8;
        o->batch_size = b < 16 ? 16 : b;
    }
    if (o->batch_size > rows) o->batch_size = rows;
    if (!epochs_given) {
        const size_t steps = (rows + o->batch_size - 1) / o->batch_size, want = (500 + steps - 1) / steps;
        o->epochs = want < 10 ? 10 : want > 1000 ? 1000 : (int)want;
    }
}

#define KFOLDS 5 /* ae train --contamination on a table of up to 20000 rows */

/* ae train --resume: a checkpoint keeps its architecture; --hidden or --code that differ from
 * it are refused (they would be ignored). */
static void resume_matches(const char *path, const ae_config *have, const ae_config *want, int hidden_given,
                           int code_given) {
    char h[256] = "", w[256] = "";
    for (size_t i = 0; i < have->n_hidden; i++)
        snprintf(h + strlen(h), sizeof h - strlen(h), "%s%zu", i ? "," : "", have->hidden[i]);
    for (size_t i = 0; i < want->n_hidden; i++)
        snprintf(w + strlen(w), sizeof w - strlen(w), "%s%zu", i ? "," : "", want->hidden[i]);
    if (hidden_given && strcmp(h, w) != 0)
        die("--hidden %s differs from the checkpoint %s (hidden %s): a resumed run keeps its architecture; leave "
            "--hidden out, or train afresh without --resume",
            w, path, *h ? h : "none");
    if (code_given && want->code_dim != have->code_dim)
        die("--code %zu differs from the checkpoint %s (code %zu): a resumed run keeps its architecture; leave "
            "--code out, or train afresh without --resume",
            want->code_dim, path, have->code_dim);
}

/* The options into t; --scale, --optimizer, --loss and --noise go through ints (an enum's
 * size is the compiler's) and are copied into t->c and t->o afterwards. */
static void parse_train(train_job *t, int argc, char **argv) {
    ae_config *c = &t->c;
    ae_train_opts *o = &t->o;
    int scaling = c->scaling, optimizer = o->optimizer, loss = o->loss, noise = o->noise, rnn = c->rnn;
    /* the ranges ae_train accepts, refused here before any work, with the option's name */
    const cli_opt opts[] = {
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &t->out},
        {.name = "--hidden", .kind = CLI_CALL, .to = c, .call = read_widths, .given = &t->hidden_given},
        {.name = "--code", .kind = CLI_SIZE, .to = &c->code_dim, .lo = 1, .hi = 1 << 24, .given = &t->code_given},
        {.name = "--scale", .kind = CLI_CHOICE, .to = &scaling, .names = SCALING_NAMES},
        {.name = "--val-split",
         .kind = CLI_CALL,
         .to = &o->val_split,
         .call = read_val_split,
         .given = &t->split_given},
        {.name = "--contamination", .kind = CLI_CALL, .to = &t->contamination, .call = read_contamination},
        {.name = "--hidden-act", .kind = CLI_CALL, .to = &c->hidden_act, .call = read_activation},
        {.name = "--code-act", .kind = CLI_CALL, .to = &c->code_act, .call = read_activation},
        {.name = "--output-act", .kind = CLI_CALL, .to = &c->output_act, .call = read_activation},
        {.name = "--tied", .kind = CLI_SET, .to = &c->tied_weights},
        {.name = "--variational", .kind = CLI_SET, .to = &c->variational},
        {.name = "--batch-norm", .kind = CLI_SET, .to = &c->batch_norm},
        {.name = "--input-shape", .kind = CLI_CALL, .to = c, .call = read_input_shape},
        {.name = "--conv", .kind = CLI_CALL, .to = c, .call = read_conv},
        {.name = "--seq", .kind = CLI_CALL, .to = c, .call = read_seq},
        {.name = "--rnn", .kind = CLI_CHOICE, .to = &rnn, .names = RNN_NAMES},
        {.name = "--seed", .kind = CLI_CALL, .to = &c->seed, .call = read_seed},
        {.name = "--epochs", .kind = CLI_INT, .to = &o->epochs, .lo = 1, .hi = 1000000, .given = &t->epochs_given},
        {.name = "--batch", .kind = CLI_SIZE, .to = &o->batch_size, .lo = 1, .hi = 1 << 24, .given = &t->batch_given},
        {.name = "--no-shuffle", .kind = CLI_CLEAR, .to = &o->shuffle},
        {.name = "--optimizer", .kind = CLI_CHOICE, .to = &optimizer, .names = OPTIMIZER_NAMES},
        {.name = "--lr", .kind = CLI_NUMBER, .to = &o->learning_rate, .lo = 0, .hi = INFINITY, .open = CLI_LO_OPEN},
        {.name = "--momentum", .kind = CLI_NUMBER, .to = &o->momentum, .lo = 0, .hi = 1, .open = CLI_HI_OPEN},
        {.name = "--nesterov", .kind = CLI_SET, .to = &o->nesterov},
        {.name = "--beta1", .kind = CLI_NUMBER, .to = &o->beta1, .lo = 0, .hi = 1, .open = CLI_HI_OPEN},
        {.name = "--beta2", .kind = CLI_NUMBER, .to = &o->beta2, .lo = 0, .hi = 1, .open = CLI_HI_OPEN},
        {.name = "--eps", .kind = CLI_NUMBER, .to = &o->eps, .lo = 0, .hi = INFINITY, .open = CLI_LO_OPEN},
        {.name = "--weight-decay", .kind = CLI_NUMBER, .to = &o->weight_decay, .lo = 0, .hi = 1e6},
        {.name = "--loss", .kind = CLI_CHOICE, .to = &loss, .names = LOSS_NAMES},
        {.name = "--noise", .kind = CLI_CHOICE, .to = &noise, .names = NOISE_NAMES},
        {.name = "--noise-level", .kind = CLI_NUMBER, .to = &o->noise_level, .lo = 0, .hi = 1e6},
        {.name = "--dropout", .kind = CLI_NUMBER, .to = &o->dropout, .lo = 0, .hi = 1, .open = CLI_HI_OPEN},
        {.name = "--sparsity-target",
         .kind = CLI_NUMBER,
         .to = &o->sparsity_target,
         .lo = 0,
         .hi = 1,
         .open = CLI_LO_OPEN | CLI_HI_OPEN},
        {.name = "--sparsity-weight", .kind = CLI_NUMBER, .to = &o->sparsity_weight, .lo = 0, .hi = 1e6},
        {.name = "--kl-weight", .kind = CLI_NUMBER, .to = &o->kl_weight, .lo = 0, .hi = 1e6},
        {.name = "--clip-norm", .kind = CLI_NUMBER, .to = &o->clip_norm, .lo = 0, .hi = INFINITY},
        {.name = "--memory-limit", .kind = CLI_NUMBER, .to = &t->memory_gib, .lo = 0, .hi = 1e9},
        {.name = "--patience", .kind = CLI_INT, .to = &o->patience, .lo = 0, .hi = 1000000},
        {.name = "--val", .kind = CLI_TEXT, .to = &t->val},
        {.name = "--checkpoint", .kind = CLI_TEXT, .to = &o->checkpoint_path},
        {.name = "--checkpoint-every", .kind = CLI_INT, .to = &o->checkpoint_every, .lo = 1, .hi = 1000000},
        {.name = "--resume", .kind = CLI_TEXT, .to = &t->resume},
        {.name = "--threads", .kind = CLI_CALL, .call = read_threads},
        {.name = "--plan", .kind = CLI_CALL, .call = read_plan},
        {.name = "--history", .kind = CLI_TEXT, .to = &t->history},
        {.name = "--plot", .kind = CLI_TEXT, .to = &t->plot},
        {.name = "--mpi", .kind = CLI_SET, .to = &t->mpi},
        {.name = "--stream", .kind = CLI_SET, .to = &t->stream},
        {.name = "--checkpoint-blocks", .kind = CLI_INT, .to = &t->o.checkpoint_every_blocks, .lo = 1, .hi = 1000000},
        {.name = "--buffer-rows", .kind = CLI_SIZE, .to = &t->buffer_rows, .lo = 1, .hi = (size_t)1 << 31},
        {.name = NULL},
    };
    cli_parse(argc, argv, opts, TRAIN_HELP, &t->data, 1);
    c->scaling = (ae_scaling)scaling;
    c->rnn = (ae_rnn_cell)rnn;
    o->optimizer = (ae_optimizer)optimizer;
    o->loss = (ae_loss)loss;
    o->noise = (ae_noise)noise;
}

/* Every output is checked before the data is read. The checkpoint may be the -o model (it is
 * replaced by the final model) or the --resume file (it is rewritten with the newer state);
 * nothing else may be an input or another output. */
static void check_train_outputs(train_job *t) {
    ae_train_opts *o = &t->o;
    if (o->checkpoint_every_blocks && !t->stream) die("--checkpoint-blocks applies with --stream");
    if ((o->checkpoint_every || o->checkpoint_every_blocks) && !o->checkpoint_path) o->checkpoint_path = t->out;
    const char *ckpt = o->checkpoint_path;
    if (ckpt && (same_file(ckpt, t->out) || (t->resume && same_file(ckpt, t->resume)))) ckpt = NULL;
    const named outs[] = {{"-o", t->out}, {"--checkpoint", ckpt}, {"--history", t->history}, {"--plot", t->plot}};
    const named ins[] = {{"DATA", t->data}, {"--val", t->val}, {"--resume", t->resume}};
    check_outputs(outs, 4, ins, 3);
    if (o->checkpoint_path && !ckpt) {
        int rc = ae_output_check(o->checkpoint_path);
        if (rc != AE_OK) die("cannot write --checkpoint %s: %s%s", o->checkpoint_path, ae_strerror(rc), detail());
    }
}

/* ae train --mpi: this rank's share of the rows (the file is never read whole). */
static ae_data load_shard(const char *path) {
    work_begins();
    ae_data d = {NULL, 0, 0};
    if (data_flags_given) die("--columns, --drop, --label, --delimiter and --header do not apply with --mpi");
#ifdef AE_HAVE_MPI
    int rc = ae_mpi_data_load_shard(path, MPI_COMM_WORLD, &d, NULL, NULL);
    const char *said = ae_last_error(), *sep = *said ? ": " : "";
    if (rc == AE_EIO) die("cannot read %s: %s%s%s", path, ae_strerror(rc), sep, said);
    if (rc != AE_OK) die("%s: no share of its rows for this rank: %s%s%s", path, ae_strerror(rc), sep, said);
#else
    (void)path;
#endif
    return d;
}

/* ae train --stream: the file's shape from its header (text: one pass over it); its rows are
 * read while training (with --mpi each rank streams its own share). */
static ae_data stream_shape(train_job *t) {
    if (data_flags_given) die("--columns, --drop, --label, --delimiter and --header do not apply with --stream");
    if (t->split_given || t->contamination > 0.0)
        die("--stream takes validation rows as --val FILE; set a threshold afterwards with ae threshold");
    work_begins();
    ae_data d = {NULL, 0, 0};
    const int rc = ae_data_info(t->data, &d.rows, &d.cols);
    if (rc != AE_OK) die("cannot read %s: %s%s", t->data, ae_strerror(rc), detail());
    return d;
}

/* A fresh model from the options and the data's width, or the --resume checkpoint's. */
static ae_model *make_model(train_job *t, const ae_data *d) {
    ae_model *m;
    if (t->resume) {
        int rc = ae_checkpoint_load(&m, t->resume);
        if (rc != AE_OK) die("cannot resume from %s: %s%s", t->resume, ae_strerror(rc), detail());
        ae_config rc_cfg;
        check(ae_get_config(m, &rc_cfg), "config");
        resume_matches(t->resume, &rc_cfg, &t->c, t->hidden_given, t->code_given);
        t->o.resume = 1;
    } else {
        t->c.input_dim = d->cols;
        default_widths(&t->c, d->cols, t->hidden_given, t->code_given);
        check(ae_create(&m, &t->c), "cannot build the model");
    }
    need_width(t->data, d->cols, ae_input_dim(m));
    return m;
}

static ae_data load_validation(train_job *t, const ae_model *m) {
    ae_data vd = {NULL, 0, 0};
    if (!t->val) return vd;
    if (t->split_given && t->o.val_split > 0.0f) die("give --val FILE or --val-split S, not both");
    vd = t->mpi ? load_shard(t->val) : load_data(t->val);
    need_width(t->val, vd.cols, ae_input_dim(m));
    t->o.val_x = vd.x;
    t->o.val_n = vd.rows;
    return vd;
}

/* --contamination: the threshold is calibrated on rows the model did not learn: a threshold
 * from the training rows themselves would flag far more than C of new normal rows. Given
 * validation rows or a split, ae_train calibrates on them; else a large table holds out 20%
 * of its rows, a small one (where 20% is too few for a steady quantile) uses K folds, after
 * training. */
static void plan_threshold(train_job *t, size_t rows) {
    ae_train_opts *o = &t->o;
    if (t->contamination <= 0.0) return;
    if (t->mpi) die("--contamination is not for --mpi: set the threshold afterwards with ae threshold");
    o->threshold = AE_THRESHOLD_CONTAMINATION;
    o->threshold_param = t->contamination;
    if (!t->val && !t->split_given && rows > 20000)
        o->val_split = 0.2f;
    else if (!t->val && !t->split_given)
        o->threshold_folds = KFOLDS;
    if (o->threshold_folds && rows < 2 * KFOLDS)
        die("--contamination needs at least %d rows to calibrate on, %s has %zu", 2 * KFOLDS, t->data, rows);
    if (o->threshold_folds)
        fprintf(stderr,
                "threshold: after training, %d models on %d folds of the rows score the rows they did "
                "not learn\n",
                KFOLDS, KFOLDS);
}

/* The rows trained on and held out, and the schedule from them. */
static void plan_schedule(train_job *t, size_t rows) {
    size_t all_rows = rows;
#ifdef AE_HAVE_MPI
    if (t->mpi && !t->stream) { /* every rank picks the same schedule: from the rows of all ranks */
        unsigned long long mine = rows, sum = 0;
        MPI_Allreduce(&mine, &sum, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        all_rows = (size_t)sum;
    }
#endif
    t->held = (size_t)floor((double)all_rows * t->o.val_split);
    t->train_rows = all_rows - t->held;
    if (t->train_rows < 1 || (t->o.val_split > 0.0f && t->held < 1))
        die("--val-split %g of %zu rows leaves no training or no validation rows", (double)t->o.val_split, all_rows);
    default_schedule(&t->o, t->train_rows, t->epochs_given, t->batch_given);
}

int cmd_train(int argc, char **argv) {
    train_job t = {.c = ae_config_default(), .o = ae_train_opts_default(), .memory_gib = -1.0f};
    parse_train(&t, argc, argv);
    if (!t.data || !t.out) die("needs DATA and -o MODEL (see ae train --help)");
    if (t.o.noise == AE_NOISE_MASK && t.o.noise_level >= 1.0f)
        die("--noise-level wants a share in [0, 1) with --noise mask, not %g", (double)t.o.noise_level);
    check_train_outputs(&t);
    if (t.memory_gib >= 0.0f)
        check(ae_set_memory_limit((size_t)((double)t.memory_gib * 1073741824.0)), "--memory-limit");
    if (t.mpi) {
#ifdef AE_HAVE_MPI
        MPI_Init(NULL, NULL);
        MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
#else
        die("--mpi: this ae was built without MPI (cmake -DAE_WITH_MPI=ON)");
#endif
    }
    ae_data d = t.stream ? stream_shape(&t) : t.mpi ? load_shard(t.data) : load_data(t.data);
    ae_model *m = make_model(&t, &d);
    ae_data vd = load_validation(&t, m);
    plan_threshold(&t, d.rows);
    plan_schedule(&t, d.rows);
    describe_training(&t, m);
    char tmp_history[64] = "";
    progress p = {NULL, t.o.epochs, isatty(2), now(), now(), 0.0, t.o.batch_size < d.rows ? t.o.batch_size : d.rows,
                  0,    0};
    open_history(&t, &p, tmp_history);
    const int epochs_before = ae_epochs_done(m);
    const int rc = run_training(&t, m, &d, &p);
    finish_training(&t, m, rc, epochs_before, d.rows, vd.rows, &p, tmp_history);
    ae_free(m);
    ae_data_free(&d);
    ae_data_free(&vd);
#ifdef AE_HAVE_MPI
    if (t.mpi) MPI_Finalize();
#endif
    return rc == AE_OK ? 0 : 1;
}
