/* io_conv: the config's conv and recurrent keys in the model file's config JSON (io_conv.c),
 * written only for a conv or recurrent model, so that every other model's file stays as it was:
 *   "input_shape": [channels, height, width],
 *   "conv": [{"channels": c, "kernel": k, "stride": s}, ...]  (the encoder's, first first)
 *   "rnn": "gru" | "lstm",  "seq": [steps, features] */
#ifndef AE_IO_CONV_H
#define AE_IO_CONV_H

#include <jansson.h>

#include "model.h"

/* Adds the keys to j when c has conv layers: 0, or -1 when an allocation failed. */
AE_HIDDEN int ae_conv_config_to_json(const ae_config *c, json_t *j);
/* Reads them (both NULL: no conv) into c: 1, or 0 when malformed (one without the other, a
 * value that is not a positive integer, an unknown key). ae_config_check judges the values. */
AE_HIDDEN int ae_conv_config_from_json(json_t *shape, json_t *conv, ae_config *c);
/* The same for the recurrent keys: written when c->rnn is set; read from rnn and seq (both
 * NULL: not recurrent): 1, or 0 when malformed. */
AE_HIDDEN int ae_rnn_config_to_json(const ae_config *c, json_t *j);
AE_HIDDEN int ae_rnn_config_from_json(json_t *rnn, json_t *seq, ae_config *c);

#endif
