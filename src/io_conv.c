/* io_conv: the conv and recurrent keys of the model file's config (io_conv.h). */
#include <string.h>

#include "io_conv.h"

int ae_conv_config_to_json(const ae_config *c, json_t *j) {
    if (!c->n_conv) return 0;
    json_t *shape = json_pack("[I, I, I]", (json_int_t)c->input_shape[0], (json_int_t)c->input_shape[1],
                              (json_int_t)c->input_shape[2]);
    json_t *conv = json_array();
    int ok = shape && conv;
    for (size_t i = 0; ok && i < c->n_conv; i++)
        ok = json_array_append_new(conv, json_pack("{s:I, s:I, s:I}", "channels", (json_int_t)c->conv[i].channels,
                                                   "kernel", (json_int_t)c->conv[i].kernel, "stride",
                                                   (json_int_t)c->conv[i].stride)) == 0;
    ok = ok && json_object_set(j, "input_shape", shape) == 0 && json_object_set(j, "conv", conv) == 0;
    json_decref(shape);
    json_decref(conv);
    return ok ? 0 : -1;
}

/* A JSON integer in [1, max]. */
static int positive(json_t *v, json_int_t max, size_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) return 0;
    *out = (size_t)json_integer_value(v);
    return 1;
}

int ae_conv_config_from_json(json_t *shape, json_t *conv, ae_config *c) {
    if (!shape && !conv) return 1;
    if (!json_is_array(shape) || json_array_size(shape) != 3 || !json_is_array(conv) || json_array_size(conv) < 1 ||
        json_array_size(conv) > AE_MAX_CONV)
        return 0;
    for (size_t d = 0; d < 3; d++)
        if (!positive(json_array_get(shape, d), (json_int_t)1 << 24, &c->input_shape[d])) return 0;
    c->n_conv = json_array_size(conv);
    for (size_t i = 0; i < c->n_conv; i++) {
        json_t *v = json_array_get(conv, i), *ch = NULL, *k = NULL, *s = NULL;
        if (json_unpack(v, "{s:o, s:o, s:o !}", "channels", &ch, "kernel", &k, "stride", &s) != 0 ||
            !positive(ch, 1 << 24, &c->conv[i].channels) || !positive(k, 1 << 24, &c->conv[i].kernel) ||
            !positive(s, 1 << 24, &c->conv[i].stride))
            return 0;
    }
    return 1;
}

int ae_rnn_config_to_json(const ae_config *c, json_t *j) {
    if (c->rnn == AE_RNN_NONE) return 0;
    json_t *seq = json_pack("[I, I]", (json_int_t)c->seq_len, (json_int_t)c->seq_features);
    const int ok = seq && json_object_set_new(j, "rnn", json_string(c->rnn == AE_RNN_LSTM ? "lstm" : "gru")) == 0 &&
                   json_object_set(j, "seq", seq) == 0;
    json_decref(seq);
    return ok ? 0 : -1;
}

int ae_rnn_config_from_json(json_t *rnn, json_t *seq, ae_config *c) {
    if (!rnn && !seq) return 1;
    if (!json_is_string(rnn) || !json_is_array(seq) || json_array_size(seq) != 2) return 0;
    const char *cell = json_string_value(rnn);
    if (strcmp(cell, "gru") == 0)
        c->rnn = AE_RNN_GRU;
    else if (strcmp(cell, "lstm") == 0)
        c->rnn = AE_RNN_LSTM;
    else
        return 0;
    return positive(json_array_get(seq, 0), (json_int_t)1 << 24, &c->seq_len) &&
           positive(json_array_get(seq, 1), (json_int_t)1 << 24, &c->seq_features);
}
