/* libFuzzer target: ae_data_info and ae_data_load_range against ae_data_load, on a file. The
 * first input byte says how the rest is stored: 0 as is, 1 gzip'd, 2 gzip'd as two members
 * (split in the middle); others as is. Aborts when they disagree:
 *   - ae_data_load succeeds: info gives its shape, and ranges (the whole one, the first and
 *     last rows, the two halves) give its rows bit for bit; a range past the end is AE_EINVAL;
 *   - it fails: info fails the same way, or a range of all the rows info declares does
 *     (it reads to the end of the file, so it refuses what ae_data_load refuses). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ae.h"
#include "fuzz_file.h"

static void expect_rows(const char *path, const ae_data *all, size_t first, size_t count) {
    ae_data d;
    check(ae_data_load_range(path, first, count, &d) == AE_OK);
    check(d.rows == count && d.cols == all->cols);
    check(memcmp(d.x, all->x + first * all->cols, count * all->cols * sizeof(float)) == 0);
    ae_data_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/ae_fuzz_range_%ld", (long)getpid());
    write_file(path, data + 1, size - 1, data[0]);

    ae_data all, d;
    size_t rows = 0, cols = 0;
    int rc = ae_data_load(path, &all), rc_info = ae_data_info(path, &rows, &cols);
    if (rc == AE_OK) {
        check(rc_info == AE_OK && rows == all.rows && cols == all.cols);
        size_t half = rows / 2;
        expect_rows(path, &all, 0, rows);
        expect_rows(path, &all, 0, 1);
        expect_rows(path, &all, rows - 1, 1);
        if (half > 0) {
            expect_rows(path, &all, 0, half);
            expect_rows(path, &all, half, rows - half);
        }
        check(ae_data_load_range(path, rows, 1, &d) == AE_EINVAL && d.x == NULL);
        ae_data_free(&all);
    } else if (rc_info == AE_OK) {
        check(rows > 0 && cols > 0);
        check(ae_data_load_range(path, 0, rows, &d) == rc && d.x == NULL);
    } else {
        check(rc_info == rc && rows == 0 && cols == 0);
        check(ae_data_load_range(path, 0, 1, &d) == rc && d.x == NULL);
    }
    unlink(path);
    return 0;
}
