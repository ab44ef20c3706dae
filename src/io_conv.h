/* io_conv: the config's conv keys in the model file's config JSON (io_conv.c), written only
 * for a conv model, so that every other model's file stays as it was:
 *   "input_shape": [channels, height, width],
 *   "conv": [{"channels": c, "kernel": k, "stride": s}, ...]  (the encoder's, first first) */
#ifndef AE_IO_CONV_H
#define AE_IO_CONV_H

#include <jansson.h>

#include "model.h"

/* Adds the keys to j when c has conv layers: 0, or -1 when an allocation failed. */
AE_HIDDEN int ae_conv_config_to_json(const ae_config *c, json_t *j);
/* Reads them (both NULL: no conv) into c: 1, or 0 when malformed (one without the other, a
 * value that is not a positive integer, an unknown key). ae_config_check judges the values. */
AE_HIDDEN int ae_conv_config_from_json(json_t *shape, json_t *conv, ae_config *c);

#endif
