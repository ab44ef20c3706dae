/* io_meta: the __metadata__ of the model file's JSON header (io_model.c holds the container
 * around it): written from a model on save, read and checked into an ae_meta on load. Also
 * jansson's allocation hooks, which every JSON call of the model file goes through. */
#ifndef AE_IO_META_H
#define AE_IO_META_H

#include <jansson.h>

#include "model.h"

/* What a file's metadata says, checked, before the model is built from it. */
typedef struct ae_meta {
    ae_config cfg; /* cfg.scaling: the scaling mode asked for */
    unsigned long data_crc; /* CRC-32 of the data section */
    ae_head_kind head_kind;
    size_t head_outputs; /* 0: no head */
    ae_threshold_state threshold;
    ae_scaling scale_applied; /* the mode the scaling resolved to */
    int scale_fitted;
    json_t *checkpoint; /* the training state's value, borrowed from the header; NULL: none */
} ae_meta;

/* Call before any jansson work: installs the allocator once and clears the failure flag. */
AE_HIDDEN void ae_json_begin(void);
/* Whether jansson lost an allocation since ae_json_begin (its errors cannot say so). */
AE_HIDDEN int ae_json_alloc_failed(void);
/* json_dumps, checked against lost allocations and read back; NULL on failure, else free(). */
AE_HIDDEN char *ae_json_dump(const json_t *j, size_t flags);
/* A non-negative JSON integer no larger than max, into *out; 0 when it is not one. */
AE_HIDDEN int ae_json_size(json_t *v, uint64_t max, uint64_t *out);

/* The sealed metadata object for m (with its training state when state is set) and the data
 * section's CRC-32; a new reference, NULL on allocation failure. */
AE_HIDDEN json_t *ae_meta_json(const ae_model *m, int state, unsigned long data_crc);
/* Reads and checks the header's __metadata__ into *out: AE_OK, AE_EFORMAT (the reason in
 * ae_last_error, or none where the caller gives the generic one) or AE_ENOMEM. */
AE_HIDDEN int ae_meta_read(json_t *root, ae_meta *out);
/* A checkpoint's training state (meta->checkpoint) into the built model m, allocating its
 * optimizer state; AE_OK at once for a plain model file. */
AE_HIDDEN int ae_meta_state_apply(const ae_meta *meta, json_t *root, ae_model *m);
/* Scaling statistics read from a file: finite offsets, finite positive scales. */
AE_HIDDEN int ae_meta_scaler_ok(const ae_scaler *s);

#endif
