/* io_meta_pos: a mid-epoch checkpoint's stream position (ae_stream_pos) in the checkpoint's
 * JSON state, written and read back exactly (io_meta_pos.c). */
#ifndef AE_IO_META_POS_H
#define AE_IO_META_POS_H

#include <jansson.h>

#include "model.h"

/* The position as a JSON object of decimal strings (64-bit integers; the sums as their
 * IEEE bits, so that they come back bit for bit); NULL on allocation failure. */
AE_HIDDEN json_t *ae_pos_json(const ae_stream_pos *p);
/* Reads it back and checks it (a block count, a place within it, an odd RNG stream):
 * AE_OK or AE_EFORMAT. */
AE_HIDDEN int ae_pos_from_json(json_t *j, ae_stream_pos *p);

#endif
