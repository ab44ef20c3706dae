/* libae: dense autoencoders in C11 over OpenBLAS.
 *
 * Intended usage
 *  1. ae_config c = ae_config_default();      set input_dim, n_hidden, hidden[], code_dim, ...
 *  2. ae_create(&m, &c);                       build the model, weights initialised from c.seed
 *  3. ae_data_load(path, &d);                  optional: read IDX (.gz), .npy or CSV into floats
 *  4. ae_train_opts o = ae_train_opts_default(); set epochs, optimizer, validation, callback
 *  5. ae_train(m, x, n, &o);                   fit on n rows of input_dim floats
 *  6. ae_encode(m, x, n, code);                rows -> codes      [n x input_dim] -> [n x code_dim]
 *  7. ae_decode(m, code, n, out);              codes -> rows      [n x code_dim] -> [n x input_dim]
 *  8. ae_reconstruct(m, x, n, out);            decode(encode(x))
 *  9. ae_score(m, x, n, err);                  per-row mean squared reconstruction error
 * 10. ae_save(m, path); ae_load(&m2, path);    safetensors model file, CRC-checked, atomic save
 * 11. ae_checkpoint_save / ae_checkpoint_load; training state, resume with opts.resume = 1
 * 12. ae_blas_get_info(); ae_set_threads(n);   OpenBLAS's core (and its slow fallback), threads
 * 13. ae_free(m); ae_data_free(&d);            release
 * Anomalies: ae_score_features (which inputs are off), ae_threshold_calibrate on normal rows,
 * then ae_flag (0/1 per row); the threshold is saved with the model.
 * Time series: ae_windows_cut (a long series into overlapping windows, one a row), then
 * ae_windows_to_points / ae_window_steps_to_points (window scores back to each time point).
 * Pretraining: ae_pretrain_layerwise (greedy, one layer at a time, then end to end).
 * Classifier on the code: ae_head_create, ae_head_train (encoder frozen or fine-tuned),
 * ae_head_predict / ae_head_classify / ae_head_evaluate; the head is saved with the model.
 * Data-parallel training over MPI: ae_mpi.h (the AE_WITH_MPI build), with ae_data_load_range
 * reading each process's share of the rows.
 *
 * Every function that can fail returns AE_OK (0) or a negative AE_E* status; ae_strerror()
 * names it. The library never prints, never exits and never aborts on bad input.
 * All data is row-major float. Inference functions taking a const ae_model * may be called
 * from several threads at once. */
#ifndef AE_H
#define AE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define AE_API __attribute__((visibility("default")))
#else
#define AE_API
#endif

#define AE_VERSION_MAJOR 0
#define AE_VERSION_MINOR 1
#define AE_VERSION_PATCH 0
#define AE_VERSION_STRING "0.1.0"

typedef struct ae_model ae_model; /* opaque */

/* Status codes. */
enum {
    AE_OK = 0,
    AE_EINVAL = -1, /* bad argument: NULL, zero or absurd size, option out of range */
    AE_ENOMEM = -2, /* an allocation failed */
    AE_EIO = -3, /* a read, write, flush or rename failed */
    AE_EFORMAT = -4, /* a file is malformed, truncated or fails its checksum */
    AE_ENONFINITE = -5, /* input data holds NaN or Inf */
    AE_EDIVERGED = -6, /* training produced a non-finite loss */
    AE_ERANGE = -7 /* with input scaling off, training rows lie outside the output
                           activation's range: the model could not learn them */
};
/* A static English sentence for a status code; never NULL. */
AE_API const char *ae_strerror(int status);
/* What the latest failing libae call on this thread said beyond its status code: the file,
 * line and column, the dtype found, the option and its allowed range, the row and column of a
 * NaN, the system's reason for an I/O failure. "" when it said nothing more. Public functions
 * reset it when they start, so it always belongs to the latest call; never NULL, thread-local,
 * valid until the thread's next libae call. */
AE_API const char *ae_last_error(void);
/* The library's version string at run time, e.g. "0.1.0". */
AE_API const char *ae_version(void);

typedef enum {
    AE_ACT_LINEAR,
    AE_ACT_RELU,
    AE_ACT_LEAKY_RELU,
    AE_ACT_SIGMOID,
    AE_ACT_TANH,
    AE_ACT_SOFTPLUS
} ae_activation;
/* An activation's name as the model file and the ae command spell it ("linear", "relu",
 * "leaky_relu", "sigmoid", "tanh"); NULL for a value outside the enum. */
AE_API const char *ae_activation_name(ae_activation act);
/* The activation named name: AE_OK, or AE_EINVAL for a name that is none. */
AE_API int ae_activation_parse(const char *name, ae_activation *out);
typedef enum { AE_LOSS_MSE, AE_LOSS_BCE } ae_loss; /* BCE needs a sigmoid output (computed from logits) */
typedef enum { AE_OPT_SGD, AE_OPT_ADAM, AE_OPT_ADAMW } ae_optimizer;
typedef enum { AE_NOISE_NONE, AE_NOISE_GAUSSIAN, AE_NOISE_MASK } ae_noise;

/* Input scaling, part of the model: statistics fitted on the training rows (the first ae_train
 * of a model, or ae_scaling_fit), saved in the model file, and applied inside every call that
 * takes rows (train, validation, encode, reconstruct, score, flag, thresholds, head, pretrain,
 * MPI). Rows that come out (decode, reconstruct, sample) are in the user's units again; scores
 * and code are in scaled units, so that a feature in millimetres does not drown one in metres.
 * x' = (x - offset) / scale per column; a constant column gets scale 1. */
typedef enum {
    AE_SCALE_AUTO, /* rows already inside the output activation's range (sigmoid, ReLU: [0, 1];
                        tanh, linear, leaky ReLU: [-1, 1]) stay untouched, bit for bit; otherwise
                        min-max into [0, 1] for a sigmoid or ReLU output, into [-1, 1] for tanh,
                        z-score for a linear or leaky ReLU one */
    AE_SCALE_NONE, /* rows as given; ae_train refuses rows outside a bounded output's range
                        (sigmoid [0, 1], tanh [-1, 1], ReLU >= 0) with AE_ERANGE */
    AE_SCALE_MINMAX, /* each column's training min and max onto the output's range ([-1, 1] for
                        tanh, else [0, 1]) */
    AE_SCALE_ZSCORE /* each column to mean 0 and standard deviation 1 (population) */
} ae_scaling;

#define AE_MAX_HIDDEN 8
#define AE_MAX_CONV 8
/* A convolution layer of the encoder (see ae_config.conv): output channels (1 .. 4096), an odd
 * kernel size (1 .. 15) and a stride (1 .. 8). */
typedef struct ae_conv_spec {
    size_t channels, kernel, stride;
} ae_conv_spec;
/* The recurrent cell of a sequence autoencoder (ae_config.rnn). */
typedef enum {
    AE_RNN_NONE, /* not a sequence model */
    AE_RNN_GRU, /* torch.nn.GRU's cell: gates r, z, n */
    AE_RNN_LSTM /* torch.nn.LSTM's cell: gates i, f, g, o */
} ae_rnn_cell;
typedef struct ae_config {
    size_t input_dim; /* d */
    size_t n_hidden; /* encoder layers between input and code; decoder mirrors */
    size_t hidden[AE_MAX_HIDDEN]; /* their widths, outermost first */
    size_t code_dim; /* k */
    ae_activation hidden_act; /* default AE_ACT_RELU */
    ae_activation code_act; /* default AE_ACT_LINEAR */
    ae_activation output_act; /* default AE_ACT_SIGMOID */
    int tied_weights; /* decoder weight i = encoder weight i^T (own biases) */
    int variational; /* code is (mu, logvar); training samples z */
    uint64_t seed; /* initialisation, shuffling, noise, dropout, sampling */
    ae_scaling scaling; /* input scaling (default AE_SCALE_AUTO) */
    int batch_norm; /* 1: batch normalisation after every hidden layer, before its
                                     activation (torch.nn.BatchNorm1d: eps 1e-5, momentum
                                     0.1): batch statistics in training, running statistics
                                     (saved with the model) in inference and validation.
                                     Default 0. Not with tied weights or layer-wise
                                     pretraining */
    /* A convolutional encoder (n_conv > 0): each input row is an image of input_shape
     * (channels, height, width; NCHW, so input_dim must be their product), and conv[0 ..
     * n_conv) are convolutions applied first (torch.nn.Conv2d: square odd kernel, stride,
     * padding kernel / 2, so each output side is ceil(side / stride)), each followed by
     * hidden_act. Their output, flattened, feeds the dense hidden layers and the code as
     * above. The decoder mirrors it: the dense layers back to the last convolution's flattened
     * size (hidden_act), then transposed convolutions (torch.nn.ConvTranspose2d, with the
     * output padding that restores each exact shape), hidden_act after each but the last,
     * which ends in output_act. Model file tensors: encoder.<i>.weight [out, in, k, k] for a
     * convolution, decoder.<j>.weight [in, out, k, k] for a transposed one (PyTorch's
     * layouts), biases [out]. A conv model's layers, dense ones included, start as PyTorch's
     * modules do: weights and biases uniform in +-1 / sqrt(fan_in) (kaiming_uniform with
     * a = sqrt(5)); a dense model keeps He / Glorot weights and zero biases. Refused (AE_EINVAL, with the reason in ae_last_error): with
     * tied_weights or batch_norm, an even kernel, input_dim not the shape's product;
     * ae_pretrain_layerwise refuses a conv model. Default: n_conv 0 and input_shape all 0, a
     * dense model. */
    size_t input_shape[3];
    size_t n_conv; /* 0 .. AE_MAX_CONV */
    ae_conv_spec conv[AE_MAX_CONV];
    /* A recurrent sequence autoencoder (rnn not AE_RNN_NONE): each input row is seq_len steps
     * of seq_features values, step-major (value f of step t at t * seq_features + f, so
     * input_dim must be seq_len x seq_features). The encoder is one recurrent layer of width
     * hidden[0] (n_hidden must be 1) run over the steps from a zero state; its last hidden
     * state goes through the dense code layer (code_act). The decoder feeds the code, repeated
     * at every step, through a recurrent layer of the same width, then one dense layer shared
     * by all steps (torch.nn.Linear on each step's hidden state) back to seq_features values
     * with output_act. The cells are PyTorch's (torch.nn.GRU, torch.nn.LSTM: same gate order
     * and equations); hidden_act is not used by them. Model file tensors of a recurrent layer:
     * weight [G, in + width] = [weight_ih | weight_hh] (PyTorch's two matrices side by side,
     * G = 3 width for a GRU, 4 width for an LSTM) and bias [2, G] = [bias_ih ; bias_hh].
     * Dropout applies to the encoder's last state and to the decoder's states; a VAE's
     * mu/logvar head is the dense code layer. Refused (AE_EINVAL, with the reason): n_hidden
     * other than 1, input_dim not seq_len x seq_features, with conv layers, tied_weights or
     * batch_norm; ae_pretrain_layerwise refuses a recurrent model. Default: AE_RNN_NONE,
     * seq_len and seq_features 0. */
    ae_rnn_cell rnn;
    size_t seq_len, seq_features;
} ae_config;
/* input_dim 0 (must be set), no hidden layer, code_dim 0 (must be set), ReLU hidden, linear
 * code, sigmoid output, seed 42, automatic input scaling, no convolution, no recurrent cell. */
AE_API ae_config ae_config_default(void);

/* How an anomaly threshold is chosen from the scores of rows known to be normal. */
typedef enum {
    AE_THRESHOLD_NONE, /* no threshold set */
    AE_THRESHOLD_QUANTILE, /* param q in [0, 1]: the q-quantile of the scores, interpolated
                              linearly between order statistics (NumPy's default) */
    AE_THRESHOLD_MEAN_STD, /* param k >= 0: mean + k * standard deviation (population) */
    AE_THRESHOLD_MANUAL, /* set by ae_threshold_set */
    AE_THRESHOLD_CONTAMINATION /* param c in (0, 0.5]: the share of new normal rows to flag
                              (PyOD's contamination): the (1 - c)-quantile of the scores */
} ae_threshold_method;

typedef struct ae_epoch_stats {
    int epoch; /* 1-based */
    double train_loss; /* sample-weighted mean of the epoch's batch losses: the sum of the
                          three parts below */
    double train_recon; /* reconstruction part (MSE or BCE, a mean over elements) */
    double train_kl; /* VAE: kl_weight * KL(q(z|x) || N(0, I)) per row / input_dim */
    double train_sparsity; /* sparsity_weight * the sparsity penalty */
    double val_loss; /* NAN when no validation data */
    double seconds; /* wall time of the epoch, validation included */
    size_t samples; /* rows trained this epoch */
    int diverged; /* 1: the loss or the weights became NaN or Inf at step `step` (1-based,
                          within this epoch); ae_train restores the weights the epoch began with
                          and returns AE_EDIVERGED after this last call of on_epoch */
    size_t step;
    int layer; /* ae_pretrain_layerwise: the encoder layer (1-based) whose one-layer
                          autoencoder is training; 0 for end-to-end training */
} ae_epoch_stats;

typedef struct ae_train_opts {
    /* -- the schedule -- */
    int epochs;
    size_t batch_size;
    int shuffle; /* 0: rows in order */
    /* -- the optimizer -- */
    ae_optimizer optimizer;
    float learning_rate, momentum, beta1, beta2, eps, weight_decay;
    int nesterov;
    float clip_norm; /* > 0: scale the gradient down to this global L2
                                               norm when it is longer; 0 off */
    /* -- the loss and what training adds to it -- */
    ae_loss loss;
    ae_noise noise; /* denoising: corrupt inputs, reconstruct clean */
    float noise_level; /* GAUSSIAN: standard deviation (clipped to [0,1]
                                               with a sigmoid output); MASK: share set to 0 */
    float dropout; /* on hidden layers, training only (inverted) */
    float sparsity_target, sparsity_weight; /* sigmoid code: weight * sum_j KL(rho || mean
                                               activation j); other codes: weight * L1 of the
                                               code activations, a mean over rows */
    float kl_weight; /* VAE: weight of KL(q(z|x) || N(0, I)); with 1
                                               and BCE, the loss is the negative ELBO per row
                                               divided by input_dim */
    /* -- validation and early stopping -- */
    const float *val_x;
    size_t val_n; /* optional validation rows */
    float val_split; /* in [0, 0.9]: this share of the training rows is
                                               held out (evenly spaced: every 1/val_split-th
                                               row, so sorted data splits fairly) as validation
                                               rows for val_loss, early stopping and the
                                               threshold; not with val_x */
    int patience; /* early stopping on val loss (train loss without
                                               validation data); best weights restored; 0 off */
    /* -- checkpoints and resuming -- */
    int resume; /* 1: continue from the model's training state
                                               (optimizer moments, step, epochs done, RNG),
                                               e.g. after ae_checkpoint_load, up to `epochs`
                                               epochs in all; 0: start afresh */
    const char *checkpoint_path; /* with checkpoint_every > 0: ae_checkpoint_save */
    int checkpoint_every; /* here after every that many epochs. ae_train
                                               checks first that the path can be written
                                               (ae_output_check); a save that still fails
                                               stops training with its status, the path and
                                               the reason in ae_last_error, the model holding
                                               the last whole epoch's weights (save it) */
    /* -- progress -- */
    int (*on_epoch)(const ae_epoch_stats *s, void *user); /* non-zero stops training */
    /* Optional, after every step: the epoch, the batch just done (1-based) of how many, and
     * that batch's loss. For progress bars; keep it cheap (it runs inside the training loop). */
    void (*on_batch)(int epoch, size_t batch, size_t batches, double loss, void *user);
    void *user;
    /* -- the anomaly threshold, calibrated after training -- */
    ae_threshold_method threshold; /* not NONE: after training, calibrate the model's
                                               anomaly threshold (ae_threshold_calibrate) on the
                                               validation rows (held out or val_x), else on the
                                               training rows; one process only */
    double threshold_param; /* its parameter (quantile, k or contamination) */
    int threshold_folds; /* > 1, with threshold and no validation rows:
                                               calibrate on out-of-fold scores instead: after
                                               training, that many models of the same config
                                               and options each learn all rows but every
                                               k-th and score those, so every row gets the
                                               score of a model that did not learn it; for
                                               small tables, where a held-out share is too
                                               few rows for a steady quantile (costs that
                                               many trainings more) */
    int checkpoint_every_blocks; /* ae_train_stream, one process: with
                                               checkpoint_path, also a checkpoint after every
                                               that many blocks of an epoch (not its last),
                                               which records the place: resume = 1 from it
                                               goes on at the next block, bit for bit (see
                                               ae_train_stream); 0: none. ae_train ignores it */
} ae_train_opts;
/* 10 epochs, batch 128, shuffled, Adam 1e-3 (0.9, 0.999, 1e-8), MSE, no noise, dropout or
 * sparsity penalty (sparsity_target 0.05 once a weight is set), kl_weight 1. */
AE_API ae_train_opts ae_train_opts_default(void);

/* Build a model; *out is NULL on failure. AE_ENOMEM (before allocating anything) when the
 * estimate of what training it takes exceeds the memory limit; see ae_set_memory_limit. */
AE_API int ae_create(ae_model **out, const ae_config *cfg);
/* The memory limit ae_create holds a config to, in bytes: default AE_MEMORY_LIMIT_DEFAULT
 * (4 GiB); 0 means none. The estimate is 4 bytes times 6 floats per parameter (weights,
 * gradients, Adam's two moments, the epoch's starting weights, the best epoch's) plus a batch of
 * 128 rows through every layer (activations, the two backward buffers, input and corrupted
 * input). Loading a model file (whose weights the file holds) is not limited. Set it before
 * creating models, not while another thread creates one. ae_memory_limit() returns it. */
#define AE_MEMORY_LIMIT_DEFAULT ((size_t)4 << 30)
AE_API int ae_set_memory_limit(size_t bytes);
AE_API size_t ae_memory_limit(void);
/* Release a model; NULL is a no-op. */
AE_API void ae_free(ae_model *m);
/* Fit on x [n x input_dim]; opts NULL means ae_train_opts_default(). Every step checks the loss
 * and the weights: on NaN or Inf it restores the weights the epoch began with (or the best
 * epoch's, with early stopping) and returns AE_EDIVERGED. */
AE_API int ae_train(ae_model *m, const float *x, size_t n, const ae_train_opts *opts);
/* Incremental training (scikit-learn's partial_fit), for rows that arrive over time: each call
 * trains on the rows given now, once each, in the order given, and keeps what the next call
 * needs: the optimizer's state and step count (continued when opts match the model's, as after
 * ae_train; started afresh otherwise), the input scaling (fitted on the first call's rows when
 * the model has none), and the rows that do not fill a whole batch of opts->batch_size, held in
 * the model until the next call completes their batch. ae_train_partial_flush trains those
 * held rows as a last, shorter batch. Several calls and a flush give the bits of one ae_train
 * epoch over the concatenated rows with shuffle off (under the same thread plan: one thread,
 * or ae_set_plan). epochs and shuffle are not used; val_x, val_split, patience, checkpoints,
 * resume and a threshold are refused (AE_EINVAL); a call's batch_size must stay that of the
 * rows held. on_batch is called after each step, on_epoch once per call (the call's rows).
 * AE_EDIVERGED restores the weights and held rows the call began with. Held rows are not saved
 * in model files: flush before saving. */
AE_API int ae_train_partial(ae_model *m, const float *x, size_t n, const ae_train_opts *opts);
AE_API int ae_train_partial_flush(ae_model *m, const ae_train_opts *opts);
/* Rows held for the next batch (0 when none). */
AE_API size_t ae_train_partial_held(const ae_model *m);
/* Training from a data file larger than memory: ae_train's epochs over the rows of an IDX,
 * .npy or CSV text file (plain or gzip), read in blocks of buffer_rows rows (rounded down to
 * whole batches; 0: about 32 MiB) while the block before trains, on a reader thread. Memory:
 * the model, its optimizer state and two blocks, not the file. Shuffling depends on whether
 * the file can seek:
 *  - a plain IDX or .npy file: the blocks' order is shuffled each epoch and the rows within
 *    each block (a shuffle buffer of one block), not the whole file; with one block this is
 *    ae_train's full shuffle and its bits;
 *  - a gzip or text file cannot seek: it is read front to back with one open stream (one
 *    inflate state; an epoch costs one pass over the file) and its blocks come in file order
 *    every epoch, the rows shuffled within each block. A batch is then a random draw from its
 *    own block's rows (as above), but the blocks' order is the same every epoch, where a full
 *    shuffle would mix every row with every other: a file sorted by time or class stays sorted
 *    at the scale of a block. Shuffle such a file once beforehand, or give bigger blocks.
 *    Without shuffling both kinds give the same bits for the same rows.
 * A text file is read by ae_data_load's CSV rules with the default ae_csv_opts (delimiter and
 * header detected, pandas' index column dropped): the same rows as ae_data_load. It is read
 * through once at the start (its rows counted, every line checked: a refusal names the line),
 * then once an epoch, with a buffer of whole lines; a gzip'd text is not held to
 * ae_data_max_inflate (nothing is held whole).
 * Input scaling is fitted on the first block when the model has none. Validation rows come as
 * val_x (in memory); val_split and a threshold are refused (calibrate after, on rows at hand).
 * Checkpoints work per epoch and, with checkpoint_every_blocks, also within one: such a
 * checkpoint records the place (blocks done, the RNG state at the epoch's start that gave its
 * block order, the epoch's loss sums and steps), and resume = 1 from it with the same file and
 * buffer_rows goes on at the next block, ending with the uninterrupted run's weights bit for
 * bit (a checkpoint of other blocks is refused, as is ae_train on it; the resumed epoch's
 * seconds count from the resume, and a divergence in it restores the weights of the resume).
 * A file that changes or is cut short mid-epoch (a line that becomes malformed included)
 * stops training with the reason (AE_EIO or AE_EFORMAT), the model holding the last whole
 * epoch's weights and the last checkpoint left as it was. */
AE_API int ae_train_stream(ae_model *m, const char *path, const ae_train_opts *opts, size_t buffer_rows);
/* x [n x input_dim] -> code [n x code_dim] (a VAE returns mu). */
AE_API int ae_encode(const ae_model *m, const float *x, size_t n, float *code);
/* code [n x code_dim] -> out [n x input_dim]. */
AE_API int ae_decode(const ae_model *m, const float *code, size_t n, float *out);
/* x [n x input_dim] -> out [n x input_dim]; out may not alias x. */
AE_API int ae_reconstruct(const ae_model *m, const float *x, size_t n, float *out);
/* err[i] = mean over columns of (reconstruction - x)^2 for row i. */
AE_API int ae_score(const ae_model *m, const float *x, size_t n, float *err);
/* n draws from N(0, I) decoded to out [n x input_dim]; VAE only, advances the model's RNG. */
AE_API int ae_sample(ae_model *m, size_t n, float *out);
/* Write the model to path as safetensors (temporary file, flush, fsync, rename). Every file
 * writer of libae (ae_save, ae_checkpoint_save, ae_npy_save, ae_csv_save) writes this way:
 * - a failed or interrupted save leaves the file that was there untouched;
 * - a symbolic link is written through: the file it points to is replaced, the link stays;
 * - an existing file keeps its permission bits; a new one gets 0666 less the umask;
 * - temporaries `<file>.tmp.XXXXXX` of the same file left by a save that died (kill -9) are
 *   removed first (a live save holds a lock on its own, which is never touched);
 * - a failure is AE_EIO with the path and the system's reason in ae_last_error ("No such file
 *   or directory", "Permission denied", "No space left on device", "Is a directory"). */
AE_API int ae_save(const ae_model *m, const char *path);
/* Whether path can be written by those writers, checked before long work: its folder exists
 * and is a folder a file can be created in (proved by creating and removing a temporary),
 * and path, if it exists, is a regular file (not a folder). Creates nothing that stays.
 * AE_OK, or AE_EIO with the path and the reason in ae_last_error. */
AE_API int ae_output_check(const char *path);
/* Read a model written by ae_save; every size, offset and both checksums (of the data, and of
 * every metadata key: config, scaling, threshold, head, training state) are validated first.
 * Files written before the metadata checksum existed still load. */
AE_API int ae_load(ae_model **out, const char *path);
/* The same from len bytes in memory. */
AE_API int ae_load_buffer(ae_model **out, const void *buf, size_t len);
/* A checkpoint: the model file plus the training state (optimizer moments and step, epochs
 * done, RNG state), so that ae_train with resume = 1 continues bit for bit as if never
 * stopped (same OpenBLAS core type and thread count). AE_EINVAL before any training. */
AE_API int ae_checkpoint_save(const ae_model *m, const char *path);
/* Loads a checkpoint (ae_load reads one too, state included). */
AE_API int ae_checkpoint_load(ae_model **out, const char *path);
/* Epochs completed by the model's training so far (0 for a new model). */
AE_API int ae_epochs_done(const ae_model *m);
AE_API size_t ae_input_dim(const ae_model *m); /* 0 for NULL */
AE_API size_t ae_code_dim(const ae_model *m); /* 0 for NULL */
/* The config the model was built with; cfg must not be NULL. */
AE_API int ae_get_config(const ae_model *m, ae_config *cfg);
/* Restarts the model's random stream (shuffling, noise, dropout, sampling, a new head's
 * weights) from seed, as ae_create does from cfg.seed; the weights and the config stay. For
 * runs that differ only in their randomness, e.g. from one loaded model. */
AE_API int ae_reseed(ae_model *m, uint64_t seed);
/* Number of trainable floats. */
AE_API size_t ae_param_count(const ae_model *m);
/* Fits the model's input scaling (cfg.scaling) on x [n x input_dim] now, replacing what it had,
 * instead of on the first ae_train's rows: e.g. on all the data when training sees a part. */
AE_API int ae_scaling_fit(ae_model *m, const float *x, size_t n);
/* The scaling in use: *mode is AE_SCALE_NONE (identity; also before it is fitted, then
 * *fitted is 0), AE_SCALE_MINMAX or AE_SCALE_ZSCORE; offset and scale [input_dim] receive the
 * statistics (zeros and ones for the identity). Any output pointer may be NULL. */
AE_API int ae_scaling_get(const ae_model *m, ae_scaling *mode, int *fitted, float *offset, float *scale);

/* ---- Anomaly detection ----
 * err [n x input_dim]: err[i*d + j] = (reconstruction_ij - x_ij)^2; each row's mean is
 * ae_score's err[i] (up to float rounding). */
AE_API int ae_score_features(const ae_model *m, const float *x, size_t n, float *err);

/* The threshold of scores[0..n) (e.g. from ae_score on rows known to be normal). */
AE_API int ae_threshold_from_scores(const float *scores, size_t n, ae_threshold_method method, double param,
                                    float *threshold);
/* Scores x [n x input_dim] with ae_score and keeps the threshold (and its method and param) in
 * the model, where ae_flag uses it and ae_save stores it; *threshold gets it when not NULL. */
AE_API int ae_threshold_calibrate(ae_model *m, const float *x, size_t n, ae_threshold_method method, double param,
                                  float *threshold);
/* Keeps a threshold of the caller's choice (method AE_THRESHOLD_MANUAL). */
AE_API int ae_threshold_set(ae_model *m, float threshold);
/* As ae_threshold_calibrate, from scores [n] the caller computed: e.g. the out-of-fold scores
 * of models trained on the other folds (what `ae train --contamination` does on small data). */
AE_API int ae_threshold_calibrate_scores(ae_model *m, const float *scores, size_t n, ae_threshold_method method,
                                         double param, float *threshold);
/* The model's threshold; AE_EINVAL when none was set. method and param may be NULL. */
AE_API int ae_threshold_get(const ae_model *m, float *threshold, ae_threshold_method *method, double *param);
/* flags[i] = 1 when row i's score is above the model's threshold, else 0; AE_EINVAL without a
 * threshold. scores, when not NULL, receives ae_score's values [n]. */
AE_API int ae_flag(const ae_model *m, const float *x, size_t n, unsigned char *flags, float *scores);

/* ---- Time series: windows of a long series, and scores back per time point ----
 * A series x [n x f] holds one time point a row (f channels). A window of len steps starting
 * at point s is the row x[s .. s + len) flattened step-major: value j of step t at t * f + j,
 * the row layout of a sequence model (ae_config.seq_len = len, seq_features = f) and of a
 * dense model of input_dim len * f alike. Windows start at 0, stride, 2 stride, ... while they
 * fit: k = (n - len) / stride + 1 of them. The tail, the points after the last of these
 * windows' ends (when (n - len) is not a multiple of stride), is handled as spec.tail says:
 *  - AE_TAIL_END (0, the default): one more window, [n - len, n), aligned to the series' end,
 *    so that the last point is covered (it overlaps the window before it more than stride
 *    says);
 *  - AE_TAIL_DROP: no more window; the tail's points are covered by no window.
 * A series shorter than one window (n < len) is refused (AE_EINVAL). With stride > len the
 * points between windows are covered by none either. Every size and product is checked
 * (AE_EINVAL with the reason in ae_last_error); nothing is allocated. */
typedef enum { AE_TAIL_END = 0, AE_TAIL_DROP = 1 } ae_window_tail;
typedef struct ae_window_spec {
    size_t len; /* steps per window, >= 1 */
    size_t stride; /* steps from one window's start to the next one's, >= 1 */
    ae_window_tail tail;
} ae_window_spec;
/* *count = the windows a series of n points gives. */
AE_API int ae_window_count(size_t n, const ae_window_spec *spec, size_t *count);
/* starts[i] = the first point of window i, for the count windows of a series of n points
 * (count must be ae_window_count's), strictly increasing. */
AE_API int ae_window_starts(size_t n, const ae_window_spec *spec, size_t *starts, size_t count);
/* Cuts x [n x f] into out [count x (len * f)], window i = x[starts[i] .. + len) step-major;
 * count must be ae_window_count's. */
AE_API int ae_windows_cut(const float *x, size_t n, size_t f, const ae_window_spec *spec, float *out, size_t count);
/* Window scores back to time points: scores [count] (one per window, e.g. ae_score of the
 * windows) -> worst [n], the maximum, and mean [n], the mean of the scores of the windows
 * covering each point. A point no window covers (a dropped tail, a gap when stride > len)
 * gets NaN in both: it was not scored. Either output may be NULL, not both. Scores must be
 * finite (AE_ENONFINITE with the window's index). */
AE_API int ae_windows_to_points(const float *scores, size_t count, size_t n, const ae_window_spec *spec, float *worst,
                                float *mean);
/* Per-step errors of windows: err [count x (len * f)] (ae_score_features of the windows) ->
 * step_err [count x len], the MEAN over the step's f values, so that the mean of a window's
 * len step errors is its ae_score (up to float rounding). */
AE_API int ae_window_step_errors(const float *err, size_t count, size_t len, size_t f, float *step_err);
/* Per-step errors back to time points: step_err [count x len] -> worst [n] and mean [n] over
 * the windows covering each point, each window giving the error of the step that lies on the
 * point (window i's step t lies on point starts[i] + t). Uncovered points, NULL outputs and
 * non-finite values as ae_windows_to_points. */
AE_API int ae_window_steps_to_points(const float *step_err, size_t count, size_t n, const ae_window_spec *spec,
                                     float *worst, float *mean);

/* ---- Greedy layer-wise pretraining ----
 * Trains a one-layer autoencoder per encoder layer: the first on x, each next one on the codes
 * of the one before (with the matching encoder and mirrored decoder activations; the first
 * uses opts->loss, deeper ones MSE; opts' noise corrupts each one's input: denoising
 * pretraining), epochs_per_layer epochs each, then copies every layer into m and trains the
 * whole model end to end with ae_train(m, x, n, opts). opts->on_epoch sees stats.layer.
 * Validation rows, early stopping and checkpoints apply to the end-to-end stage only.
 * Not for a VAE (AE_EINVAL). Peak extra memory: two code matrices [n x widest layer]. */
AE_API int ae_pretrain_layerwise(ae_model *m, const float *x, size_t n, const ae_train_opts *opts,
                                 int epochs_per_layer);

/* ---- A supervised head on the code ----
 * SOFTMAX: class probabilities, cross-entropy loss, labels are class indices 0..outputs-1;
 * LINEAR: outputs values, MSE loss against targets (regression). One dense layer on the code
 * (a VAE's mu). */
typedef enum { AE_HEAD_SOFTMAX, AE_HEAD_LINEAR } ae_head_kind;
/* Attaches a new head (replacing any), Glorot-uniform from the model's RNG, biases 0. */
AE_API int ae_head_create(ae_model *m, ae_head_kind kind, size_t outputs);
/* The head's kind and width; AE_EINVAL when the model has none. */
AE_API int ae_head_get(const ae_model *m, ae_head_kind *kind, size_t *outputs);
/* Trains the head (and, unless freeze_encoder is 1, the encoder) on x [n x input_dim] against
 * y: SOFTMAX y [n] class indices as floats (what ae_data_load gives for an IDX label file);
 * LINEAR y [n x outputs]. freeze_encoder 1 trains the head alone on the fixed codes; 0
 * fine-tunes the encoder too. Uses opts' epochs, batch, shuffle, optimizer, learning rate,
 * weight decay, clip_norm, val_split (rows and their targets held out for val_loss and early
 * stopping), patience (on the validation loss, else the training loss), on_epoch and
 * on_batch; noise, dropout, sparsity, val_x, checkpoints, resume and a threshold are refused
 * (AE_EINVAL). The decoder is never touched; the autoencoder's optimizer state is dropped
 * when the encoder is trained. */
AE_API int ae_head_train(ae_model *m, const float *x, size_t n, const float *y, int freeze_encoder,
                         const ae_train_opts *opts);
/* out [n x outputs]: class probabilities (SOFTMAX) or values (LINEAR). */
AE_API int ae_head_predict(const ae_model *m, const float *x, size_t n, float *out);
/* SOFTMAX only: labels[i] = the most probable class of row i. */
AE_API int ae_head_classify(const ae_model *m, const float *x, size_t n, int32_t *labels);
/* Mean loss (cross-entropy or MSE, as trained) and, for SOFTMAX, the share of rows classified
 * correctly (NAN for LINEAR); either pointer may be NULL. */
AE_API int ae_head_evaluate(const ae_model *m, const float *x, size_t n, const float *y, double *loss,
                            double *accuracy);

/* OpenBLAS, behind every matrix product. OpenBLAS 0.3.21 misdetects some recent CPUs as
 * "Prescott" and then runs its products 4-5x slower; fallback says so, and suggested_core is
 * the value of OPENBLAS_CORETYPE that gives this CPU its real kernels (OpenBLAS reads it once,
 * when the program starts: set it in the environment, or re-execute the program with it). */
typedef struct ae_blas_info {
    const char *core; /* openblas_get_corename(), e.g. "SkylakeX" */
    int threads; /* OpenBLAS's thread pool */
    int fallback; /* 1: the CPU has AVX2 or AVX-512, the core in use neither */
    const char *suggested_core; /* "SkylakeX", "Haswell", or NULL (no better choice known) */
} ae_blas_info;
AE_API ae_blas_info ae_blas_get_info(void);
/* Threads for training. n >= 1: libae trains with at most n threads and sets OpenBLAS's count
 * to n; n = 0: decide for me, with at most OpenBLAS's count (OPENBLAS_NUM_THREADS, else the
 * CPUs), leaving it as it is; the default. Either way each ae_train chooses a plan (below).
 * Call it between, not during, other libae calls. AE_EINVAL for n < 0.
 *
 * Training's plan, chosen once per ae_train call for its model and batch, then fixed:
 *  - AE_PLAN_ONE: everything on the calling thread, OpenBLAS on one thread.
 *  - AE_PLAN_ROWS: each step's pass cut into fixed row chunks and weight-gradient slices that
 *    libae's own threads take as they come free (a thread another process slows delays only
 *    the chunk it holds; waiting threads spin briefly, then sleep), each a one-thread OpenBLAS
 *    product; the optimizer step in slices too. The chunk boundaries depend on the batch and
 *    the plan's chunk count alone, and the loss parts are added in chunk order: the same bits
 *    whichever thread ran which chunk. The KL sparsity penalty of a sigmoid code needs the
 *    whole batch: it runs as one chunk.
 *  - AE_PLAN_COLS: as ROWS, but each product cut by its output's columns (each thread packs
 *    only its slice of the weights, for the whole batch: better for large layers); plain
 *    configurations only (no dropout, VAE or sparsity: those train as ROWS would).
 *  - AE_PLAN_BLAS: the pass on the calling thread, each product on OpenBLAS's threads.
 * How it is chosen: a model whose step is small (under 4 MFLOP of products, or fewer than 4
 * batch rows a thread) trains on one thread; a large one (from 50 MFLOP a step) has ROWS,
 * COLS and BLAS timed on a pass each over its first rows, when that fits in 2% of an epoch;
 * the rest train on ROWS. ae_set_plan forces a kind; a plan file (ae_set_plan_file, or the
 * environment variable AE_PLAN) made for the same model, batch, thread count and host is
 * used as it is, without timing, and any other is refused (ae_plan_info.note says why), then
 * replaced by the fresh plan. A ROWS or COLS run measures its steps with and without its
 * workers now and then and keeps the faster (on a machine where another process holds a
 * core, the calling thread alone): the bits are the same either way. Random draws (noise,
 * dropout, a VAE's eps) are made on the calling thread in one stream under every plan. Same
 * plan (kind and chunk count), core type and thread count: bitwise-identical training;
 * across plans results differ by float rounding.
 *
 * OpenBLAS 0.3.21 has one thread count for the whole process, and a product's bits depend on
 * it. ONE, ROWS and COLS need one-thread products: while OpenBLAS has more threads, they set
 * its count to 1 for the length of each pass, under a lock that every libae product OpenBLAS
 * could thread waits on. So inference (ae_encode, ...) running beside training gives the same
 * bits as alone; it may wait for the pass in progress. Other OpenBLAS calls of the program
 * (not libae's) made during a pass run on one thread. Passes of several trainings run from
 * threads of your own take turns under that lock: call ae_set_threads(1) first (OpenBLAS on
 * one thread, no lock taken) to train them side by side. */
AE_API int ae_set_threads(int n);

typedef enum {
    AE_PLAN_AUTO = 0, /* choose (the default) */
    AE_PLAN_ONE = 1,
    AE_PLAN_ROWS = 2,
    AE_PLAN_BLAS = 3,
    AE_PLAN_COLS = 4
} ae_plan_kind;
#define AE_PLAN_KINDS 5
/* Forces the plan of later ae_train calls (AE_PLAN_AUTO: choose again). AE_EINVAL otherwise. */
AE_API int ae_set_plan(ae_plan_kind kind);
/* The plan file of later ae_train calls (copied; NULL: the AE_PLAN environment variable, or
 * none). A missing file is created with the plan chosen. AE_EINVAL for a path over 4095
 * bytes. */
AE_API int ae_set_plan_file(const char *path);
/* The plan of this thread's latest ae_train call. */
typedef struct ae_plan_info {
    ae_plan_kind kind;
    int threads; /* threads it trains on */
    int chunks; /* ROWS: row chunks a step; COLS: column slices a product */
    const char *source; /* chosen by: "ae_set_plan", "the plan file", "the thread count"
                             * (one thread allowed), "the cost model" or "timings" */
    double step_flops; /* GEMM flops of a full batch's step */
    double pass_seconds[AE_PLAN_KINDS]; /* a timed pass by kind; 0 where not timed */
    double plan_seconds; /* spent choosing (timing included) */
    char note[256]; /* a plan file refused, created or not written; "" */
} ae_plan_info;
/* AE_OK and *out, or AE_EINVAL when this thread has trained nothing. */
AE_API int ae_plan_last(ae_plan_info *out);
/* "auto", "one", "rows", "blas" or "cols" ("?" for anything else). */
AE_API const char *ae_plan_name(ae_plan_kind kind);
/* One line for people: the plan, its threads and chunks, where it came from, the timings;
 * at most n - 1 bytes and a NUL. Returns the line's full length. */
AE_API size_t ae_plan_describe(const ae_plan_info *info, char *buf, size_t n);

/* Data files. rows x cols floats, row-major, owned by the struct. */
typedef struct ae_data {
    float *x;
    size_t rows, cols;
} ae_data;
/* Read a data file, format by content: IDX (unsigned-byte images become [0,1] floats; other
 * IDX types keep their values; first dimension = rows, the rest flattened), NumPy .npy
 * (<f4, <f8, |u1, C order; 1-D becomes one column), or delimited text read as
 * ae_data_load_csv does with ae_csv_opts_default(): every column a feature, the delimiter and
 * a header line detected, a pandas index column dropped. Any of them may be gzip-compressed
 * (a gzip'd IDX or .npy file may inflate to what its header declares, text to
 * ae_data_max_inflate() bytes). *out is zeroed on failure; ae_last_error() says what was
 * refused: the file, the line and column, the dtype or type code, the system's reason. */
AE_API int ae_data_load(const char *path, ae_data *out);
/* The same from a buffer in memory (buf need not be NUL-terminated). */
AE_API int ae_data_parse(const void *buf, size_t len, ae_data *out);

/* Delimited text as people have it (CSV, ';' with decimal commas, tab, blanks).
 * Lines end in LF, CRLF or a bare CR; blank lines are skipped; a field may be "quoted" ("" is a
 * quote inside), on one line. A number is decimal: [+-]digits[.digits][e[+-]digits], or nan,
 * inf, infinity (any case, signed), which keep their values (ae_train then refuses them with
 * AE_ENONFINITE). Hex (0x10), hex floats, nan(...) and anything else are not numbers; a
 * finite literal beyond float's range (1e39) is refused as such. With ';' as the delimiter a
 * ',' is a decimal point ("1,5;2,5" is 1.5 and 2.5; one mark per number). Refusals are
 * AE_EFORMAT with the line and column in ae_last_error(): ragged lines, empty fields, text in
 * a feature column. Options that name what the file lacks (a column, a label) are AE_EINVAL. */
typedef struct ae_csv_opts {
    char delimiter; /* 0 detect (the first of ';', tab, ',' found on every one of the first
                             64 non-blank lines, else the first of them on the first line, else
                             blanks); ' ' runs of spaces and tabs; or the byte to split on */
    int header; /* -1 detect (the first line holds a field that is not a number, among
                             the columns kept; a column named in columns/drop/label means 1),
                             0 none, 1 the first line names the columns */
    const char *columns; /* NULL all; else the columns to keep, in this order: comma-separated
                             header names or 1-based numbers and ranges ("2-5,7,price"); a name
                             is matched first, then a number */
    const char *drop; /* the same form: columns to leave out (their fields are not read) */
    const char *label; /* NULL, or one column (name or number) returned apart in labels and
                             never a feature: numbers stay as they are; if any value is text, every
                             distinct text becomes a class index 0..C-1 in byte order (strcmp) */
    int index_column; /* -1 detect: the first header name is empty and the first column
                             holds 0, 1, ..., rows-1 (what pandas' to_csv writes) or 1..rows
                             (R's write.csv): dropped; 0 keep; 1 drop the first column */
    size_t max_inflate; /* bytes a gzip'd text file may inflate to; 0: ae_data_max_inflate() */
    char *label_names; /* optional, written: a text label's class names in class order, each
                             NUL-terminated, then an empty one ("" for numeric labels); names
                             that do not fit label_names_cap bytes are left out */
    size_t label_names_cap;
} ae_csv_opts;
/* delimiter 0, header -1, all columns, no label, index_column -1, max_inflate 0, no names. */
AE_API ae_csv_opts ae_csv_opts_default(void);
/* Text with options (NULL: the defaults) into out [rows x features] and, when opts->label is
 * set, labels [rows x 1] (labels may be NULL otherwise, and is then zeroed if given). An IDX
 * or .npy file is read as ae_data_load reads it when no column, drop or label option is set
 * (AE_EINVAL otherwise). Both are zeroed on failure. */
AE_API int ae_data_load_csv(const char *path, const ae_csv_opts *opts, ae_data *out, ae_data *labels);
/* The same from a buffer in memory. */
AE_API int ae_data_parse_csv(const void *buf, size_t len, const ae_csv_opts *opts, ae_data *out, ae_data *labels);
/* How many bytes a gzip'd text file may inflate to, for every thread (a 900 KB file can
 * inflate to gigabytes). Default AE_DATA_MAX_INFLATE (512 MiB, a CSV of some 50 million
 * numbers); bytes 0 restores it. An IDX or .npy file inflates to what its header declares. */
#define AE_DATA_MAX_INFLATE ((size_t)512 << 20)
AE_API int ae_data_set_max_inflate(size_t bytes);
AE_API size_t ae_data_max_inflate(void);
AE_API void ae_data_free(ae_data *d);
/* The shape of the rows a data file holds (what ae_data_load would give) from its header only,
 * without reading the data: IDX and .npy, plain or gzip (inflating only the header); a text
 * file is read through once, a buffer of lines at a time, every line checked as ae_data_load
 * checks it (not held whole; a gzip'd text is not held to ae_data_max_inflate). */
AE_API int ae_data_info(const char *path, size_t *rows, size_t *cols);
/* Rows [first, first + count) of a data file, converted as ae_data_load does, reading only
 * those rows' bytes from an IDX or .npy file (a gzip file is inflated as a stream up to the
 * last row, keeping only the range; a text file is parsed whole, then cut). The range must lie
 * inside the file's rows (AE_EINVAL otherwise). For data-parallel training: each process loads
 * its own share of the rows. */
AE_API int ae_data_load_range(const char *path, size_t first, size_t count, ae_data *out);
/* Write rows x cols floats as a NumPy .npy file (<f4, C order), atomically. */
AE_API int ae_npy_save(const char *path, const float *x, size_t rows, size_t cols);
/* Write rows x cols floats as CSV: one line per row, values separated by commas, each with 9
 * significant digits (reads back to the same float), atomically as ae_save. */
AE_API int ae_csv_save(const char *path, const float *x, size_t rows, size_t cols);

/* ---- Export as C source: one dependency-free header for a microcontroller ----
 * ae_export_c writes a C99 header that runs the model's inference with no library: the
 * weights as static const arrays, nothing allocated, no header included (its own exp and
 * tanh; float or int8). NAME (opts.name) prefixes everything it defines: NAME_INPUT_DIM,
 * NAME_CODE_DIM, NAME_WORK_FLOATS (macros upper-case NAME), NAME_encode, NAME_reconstruct,
 * NAME_score (the per-row MSE in scaled units, as ae_score), NAME_flag when the model holds a
 * threshold, NAME_predict (and NAME_classify for softmax) when it has a head, and _buf variants
 * taking the caller's work buffer; the header's comment documents them. Carried over: input
 * scaling, batch norm (folded into the preceding dense layer, running statistics), a VAE
 * (encode gives mu), tied weights, the head, every activation.
 * int8: post-training quantisation calibrated on calib_x: int8 weights per output channel
 * (symmetric), int32 biases, int8 activations per tensor (asymmetric, a zero point), fixed-
 * point requantisation; the output layer (and the head) ends in float. The file is written
 * atomically: on failure it is absent or, if it existed, untouched. */
typedef struct ae_export_report {
    size_t weight_bytes; /* bytes of the header's static const parameter arrays */
    size_t work_floats; /* NAME_WORK_FLOATS: the scratch one call needs, in floats */
    size_t calib_rows; /* int8: the calibration rows scored (0 for float) */
    double score_error; /* int8: mean |int8 score - float score| / mean float score over the
                              calibration rows (the float score is ae_score's); 0 for float */
    double score_max_error; /* int8: max |int8 score - float score| over those rows */
} ae_export_report;

typedef struct ae_export_opts {
    const char *name; /* a C identifier (letters, digits, '_', not a keyword, <= 48 chars) */
    int int8; /* 0: float weights and arithmetic; 1: int8 (needs calib_x) */
    const float *calib_x; /* int8: calibration rows [calib_n x input_dim], in the user's units
                              (normal rows the model has not been trained on) */
    size_t calib_n;
    ae_export_report *report; /* optional, written on success */
} ae_export_opts;
/* name "model", float, no calibration rows, no report. */
AE_API ae_export_opts ae_export_opts_default(void);
/* Writes the header to path (NULL opts: the defaults). AE_EINVAL with a detail for a bad
 * name, a missing or non-finite calibration set; AE_EIO for an unwritable path. */
AE_API int ae_export_c(const ae_model *m, const char *path, const ae_export_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* AE_H */
