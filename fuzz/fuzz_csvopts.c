/* libFuzzer target: ae_data_parse_csv with options. The input is three option bytes (the
 * delimiter, 0 meaning detect; header and index_column as byte % 3 - 1), then three
 * NUL-terminated strings (columns, drop, label; empty means NULL), then the text. The class
 * names go to a buffer of 0..24 bytes (the third byte / 3). Aborts when a success breaks its
 * promises (labels exactly when a label is set, one per row) or the names overrun or are not
 * NUL-terminated. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ae.h"

/* The next NUL-terminated string at data[*pos..size), or NULL for an empty one; *ok = 0 when
 * there is no NUL. */
static const char *take(const uint8_t *data, size_t size, size_t *pos, int *ok) {
    const uint8_t *nul = *pos < size ? memchr(data + *pos, 0, size - *pos) : NULL;
    if (!nul) {
        *ok = 0;
        return NULL;
    }
    const char *s = (const char *)data + *pos;
    *pos = (size_t)(nul - data) + 1;
    return *s ? s : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    ae_csv_opts o = ae_csv_opts_default();
    o.delimiter = (char)data[0];
    o.header = data[1] % 3 - 1;
    o.index_column = data[2] % 3 - 1;
    size_t pos = 3;
    int ok = 1;
    o.columns = take(data, size, &pos, &ok);
    o.drop = take(data, size, &pos, &ok);
    o.label = take(data, size, &pos, &ok);
    if (!ok) return 0;
    char names[24]; /* small, so that names are cut short too */
    memset(names, 'x', sizeof names);
    o.label_names = names;
    o.label_names_cap = (size_t)(data[2] / 3) % (sizeof names + 1); /* 0..24 */
    ae_data d, y;
    int rc = ae_data_parse_csv(data + pos, size - pos, &o, &d, &y);
    if (o.label_names_cap > 0 && !memchr(names, 0, o.label_names_cap)) abort();
    for (size_t i = o.label_names_cap; i < sizeof names; i++)
        if (names[i] != 'x') abort(); /* nothing written past the capacity */
    if (rc == AE_OK) {
        if (d.rows == 0 || d.cols == 0 || !d.x) abort();
        if (o.label ? y.rows != d.rows || y.cols != 1 || !y.x : y.x != NULL) abort();
        volatile float sum = 0.0f;
        for (size_t i = 0; i < d.rows * d.cols; i++) sum += d.x[i];
        for (size_t i = 0; i < y.rows; i++) sum += y.x[i];
        (void)sum;
    } else if (d.x || y.x) {
        abort();
    }
    ae_data_free(&d);
    ae_data_free(&y);
    return 0;
}
