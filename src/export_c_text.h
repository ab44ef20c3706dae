/* export_c_text: the fixed C text of the exported header (export_c_text.c). */
#ifndef AE_EXPORT_C_TEXT_H
#define AE_EXPORT_C_TEXT_H

#include "tensor.h"

AE_HIDDEN extern const char ae_xt_math[], ae_xt_float[], ae_xt_float_head[], ae_xt_int8[], ae_xt_int8_head[],
    ae_xt_api[], ae_xt_flag[], ae_xt_predict[];

#endif
