/* io_meta_pos: see io_meta_pos.h. 64-bit values travel as decimal strings, as the RNG state
 * does in the rest of the state (JSON numbers are doubles to many readers). */
#define _POSIX_C_SOURCE 200809L
#include "io_meta_pos.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { POS_FIELDS = 10 };
static const char *const names[POS_FIELDS] = {"blocks_done", "n_blocks",  "block_rows", "rows",   "steps",
                                              "order_state", "order_inc", "sum_recon",  "sum_kl", "sum_sparsity"};

static void to_words(const ae_stream_pos *p, uint64_t w[POS_FIELDS]) {
    w[0] = p->blocks_done;
    w[1] = p->n_blocks;
    w[2] = p->block_rows;
    w[3] = p->rows;
    w[4] = p->steps;
    w[5] = p->order_state;
    w[6] = p->order_inc;
    for (int i = 0; i < 3; i++) memcpy(&w[7 + i], &p->sums[i], sizeof(double));
}

json_t *ae_pos_json(const ae_stream_pos *p) {
    uint64_t w[POS_FIELDS];
    to_words(p, w);
    json_t *j = json_object();
    for (int i = 0; j && i < POS_FIELDS; i++) {
        char v[24];
        snprintf(v, sizeof v, "%llu", (unsigned long long)w[i]);
        if (json_object_set_new(j, names[i], json_string(v)) != 0) {
            json_decref(j);
            return NULL;
        }
    }
    return j;
}

int ae_pos_from_json(json_t *j, ae_stream_pos *p) {
    uint64_t w[POS_FIELDS];
    if (!json_is_object(j) || json_object_size(j) != POS_FIELDS) return AE_EFORMAT;
    for (int i = 0; i < POS_FIELDS; i++) {
        const char *v = json_string_value(json_object_get(j, names[i]));
        char *end;
        errno = 0;
        if (!v || !*v || v[0] == '-') return AE_EFORMAT;
        const unsigned long long x = strtoull(v, &end, 10);
        if (*end || errno != 0) return AE_EFORMAT;
        w[i] = (uint64_t)x;
    }
    memset(p, 0, sizeof *p);
    p->blocks_done = (size_t)w[0];
    p->n_blocks = (size_t)w[1];
    p->block_rows = (size_t)w[2];
    p->rows = (size_t)w[3];
    p->steps = (size_t)w[4];
    p->order_state = w[5];
    p->order_inc = w[6];
    for (int i = 0; i < 3; i++) memcpy(&p->sums[i], &w[7 + i], sizeof(double));
    const int ok = p->blocks_done >= 1 && p->blocks_done < p->n_blocks && p->block_rows > 0 && p->rows > 0 &&
                   (p->order_inc & 1) && (uint64_t)p->n_blocks == w[1] && (uint64_t)p->rows == w[3];
    return ok ? AE_OK : AE_EFORMAT;
}
