/* libFuzzer target: a data file read in order (io_seq: what ae_train_stream reads gzip and
 * text files with) against ae_data_load. The first input byte says how the rest is stored
 * (0 as is, 1 gzip'd, 2 gzip'd as two members), the second how many rows a block holds
 * (1 + b % 64). Aborts when they disagree:
 *   - ae_data_load succeeds: the stream opens with its shape and gives its rows bit for bit,
 *     block by block, twice (the second time after opening the file again, as an epoch does);
 *   - it fails: opening the stream fails with the same status, or (a gzip IDX or .npy, whose
 *     opening reads only the header) reading every row does. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ae.h"
#include "fuzz_file.h"
#include "io_seq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > (1 << 20)) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/ae_fuzz_stream_%ld", (long)getpid());
    write_file(path, data + 2, size - 2, data[0] % 3);
    const size_t block = 1 + (size_t)data[1] % 64;
    ae_data all;
    ae_seq q;
    const int rc = ae_data_load(path, &all), rq = ae_seq_open(&q, path);
    if (rc == AE_OK) {
        check(rq == AE_OK && q.rows == all.rows && q.cols == all.cols);
        float *x = malloc(block * all.cols * sizeof(float));
        check(x != NULL);
        for (int pass = 0; pass < 2; pass++)
            for (size_t r = 0; r < all.rows; r += block) {
                const size_t k = all.rows - r < block ? all.rows - r : block;
                check(ae_seq_read(&q, r, k, x) == AE_OK);
                check(memcmp(x, all.x + r * all.cols, k * all.cols * sizeof(float)) == 0);
            }
        free(x);
        ae_data_free(&all);
    } else if (rq == AE_OK && block * q.cols <= ((size_t)1 << 22)) {
        /* gzip IDX or .npy: opening reads the header only (a header of huge rows is left:
         * the caller sizes the buffer, which ae_train_stream does from the model) */
        check(!q.text && q.s.gz);
        float *x = malloc(block * q.cols * sizeof(float));
        check(x != NULL);
        int rr = AE_OK;
        for (size_t r = 0; r < q.rows && rr == AE_OK; r += block)
            rr = ae_seq_read(&q, r, q.rows - r < block ? q.rows - r : block, x);
        check(rr == rc); /* reading to the end refuses what ae_data_load refuses */
        free(x);
    } else if (rq != AE_OK) {
        check(rq == rc);
    }
    ae_seq_close(&q);
    unlink(path);
    return 0;
}
