/* libae over MPI: data-parallel training across processes and machines (built with
 * -DAE_WITH_MPI=ON; link ae::ae_mpi, which brings MPI::MPI_C). A separate header so that ae.h
 * stays free of MPI.
 *
 *   MPI_Init(&argc, &argv);
 *   ae_data shard; size_t first, total;
 *   ae_mpi_data_load_shard("train-images-idx3-ubyte.gz", MPI_COMM_WORLD, &shard, &first, &total);
 *   ae_model *m; ae_create(&m, &cfg);                       same config and seed on every rank
 *   ae_train_mpi(m, shard.x, shard.rows, &opts, MPI_COMM_WORLD, NULL);
 *   if (rank == 0) ae_save(m, "model.safetensors");        every rank holds the same model
 *
 * Every rank holds the whole model and a shard of the rows: rank r holds global rows
 * [first_r, first_r + n_r), ranks in order. Each step takes the global batch of opts.batch_size
 * rows from one permutation of the global row indices (the same on every rank, from the seed),
 * each rank computes the gradient of the rows of that batch it holds, one MPI_Allreduce sums
 * the gradient block, and every rank applies the same optimizer step: the same training as
 * ae_train on all the rows, up to the order of float sums. */
#ifndef AE_MPI_H
#define AE_MPI_H

#include <mpi.h>

#include "ae.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the gradient reductions of one ae_train_mpi call cost on this rank. */
typedef struct ae_mpi_stats {
    double allreduce_seconds; /* wall time inside the gradient MPI_Allreduce calls */
    size_t allreduce_calls; /* one per step */
    size_t gradient_bytes; /* bytes reduced per call */
    double train_seconds; /* wall time of the whole training call, all epochs */
} ae_mpi_stats;

/* Collective over comm: every rank calls it with its shard x [n x input_dim] (n >= 1), a model
 * of the same layers (kinds, sizes, activations, conv geometry) and the same options, else
 * every rank returns AE_EINVAL. Rank 0's weights, RNG state (and, with resume, its optimizer state) are
 * broadcast first, so the ranks start identical. Only rank 0 calls on_epoch and on_batch
 * (with the figures of the whole batch and epoch: train_loss is the global mean) and writes
 * checkpoints; its on_epoch's stop, early stopping, divergence and every failure are decided
 * once for all: every rank returns the same status (a rank with bad input makes all return
 * its error). val_x/val_n are each rank's share of the validation rows (any may have none).
 * Noise, dropout and a VAE's code draw from a stream per rank (seeded from the shared RNG each
 * epoch); the sigmoid-code KL sparsity penalty, a function of the whole batch, is refused
 * (AE_EINVAL) with more than one rank. stats may be NULL. Transport failures: AE_EIO. */
AE_API int ae_train_mpi(ae_model *m, const float *x, size_t n, const ae_train_opts *opts, MPI_Comm comm,
                        ae_mpi_stats *stats);

/* Collective: ae_train_stream with each rank streaming its own contiguous share of path's rows
 * (split as ae_mpi_data_load_shard splits them), in blocks of buffer_rows (the same on every
 * rank, like the options): no rank reads another's rows (a gzip or text file is read from its
 * start up to the end of the rank's share each epoch: it cannot seek). Block b of an epoch is
 * every rank's block b together, in rank order (a shorter share's last block may be empty);
 * each step takes the global batch from one permutation of that block's rows, the same on
 * every rank, and runs as in ae_train_mpi (each rank its rows of the batch, one
 * MPI_Allreduce). The blocks come in an order shuffled from the shared RNG (in file order for
 * gzip and text). Scaling is fitted on every rank's first block together. With one rank this
 * is ae_train_stream, bit for bit; with more, ae_train_stream over the rows in the order the
 * ranks' blocks interleave, up to the order of float sums. Only rank 0 reports and writes
 * checkpoints; every rank returns the same status (a read that fails on one rank stops all). */
AE_API int ae_train_mpi_stream(ae_model *m, const char *path, const ae_train_opts *opts, size_t buffer_rows,
                               MPI_Comm comm, ae_mpi_stats *stats);

/* Collective: loads this rank's share of a data file's rows (ae_data_info, then
 * ae_data_load_range: an IDX or .npy file is never read whole). Rows are split as evenly as
 * possible in rank order; first and total (either may be NULL) get this shard's first global
 * row and the file's row count. Every rank returns the same status; *out is zeroed on failure. */
AE_API int ae_mpi_data_load_shard(const char *path, MPI_Comm comm, ae_data *out, size_t *first, size_t *total);

#ifdef __cplusplus
}
#endif
#endif /* AE_MPI_H */
