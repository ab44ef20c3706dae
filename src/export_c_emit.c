/* export_c_emit: writes the exported header, atomically (io_file): its comment, macros, the
 * parameter arrays, the layer table, then the fixed text (export_c_text.c) with the name put in. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "export_c.h"
#include "export_c_text.h"
#include "io_file.h"

typedef struct emitter {
    ae_atomic_file f;
    const char *name;
    char upper[64];
    size_t bytes; /* the parameter arrays' */
    int nonfinite; /* a float array held a NaN or infinity */
} emitter;

static void put(emitter *e, const char *s, size_t n) { ae_atomic_write(&e->f, s, n); }

/* t with $n replaced by the name and $N by the name upper-cased. */
static void text(emitter *e, const char *t) {
    for (const char *d; (d = strchr(t, '$')) != NULL; t = d + 2) {
        put(e, t, (size_t)(d - t));
        const char *sub = d[1] == 'N' ? e->upper : e->name;
        put(e, sub, strlen(sub));
    }
    put(e, t, strlen(t));
}

static void textf(emitter *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void textf(emitter *e, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    text(e, buf);
}

/* A float literal that reads back to v: nine significant digits, a '.' or exponent, 'f'. */
static int float_lit(char *buf, size_t size, float v) {
    int n = snprintf(buf, size, "%.9g", (double)v);
    if (!strpbrk(buf, ".eEn")) n += snprintf(buf + n, size - (size_t)n, ".0");
    return n + snprintf(buf + n, size - (size_t)n, "f");
}

enum { T_FLOAT, T_SCHAR, T_UCHAR, T_INT };
static const char *const type_name[] = {"float", "signed char", "unsigned char", "int"};
static const size_t type_bytes[] = {4, 1, 1, 4};

/* static const TYPE NAME_id[n] = {...}; counted in the weight bytes. */
static void array(emitter *e, int type, const char *id, const void *v, size_t n) {
    textf(e, "static const %s $n_%s[%zu] = {\n", type_name[type], id, n);
    char line[320];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        char *p = line + used;
        const size_t room = sizeof line - used;
        if (type == T_FLOAT) {
            const float f = ((const float *)v)[i];
            e->nonfinite |= !(f - f == 0.0f);
            used += (size_t)float_lit(p, room, f);
        } else if (type == T_SCHAR) {
            used += (size_t)snprintf(p, room, "%d", ((const signed char *)v)[i]);
        } else if (type == T_UCHAR) {
            used += (size_t)snprintf(p, room, "%u", ((const unsigned char *)v)[i]);
        } else {
            used += (size_t)snprintf(p, room, "%d", ((const int *)v)[i]);
        }
        line[used++] = i + 1 < n ? ',' : '\n';
        if (used > 200 || i + 1 == n) {
            put(e, line, used);
            used = 0;
        }
    }
    text(e, "};\n");
    e->bytes += n * type_bytes[type];
}

static void comment(emitter *e, const ae_xmodel *xm) {
    textf(e, "/* $n: an autoencoder exported by libae %s (ae_export_c), %s weights and arithmetic.\n * Layers: %zu",
          AE_VERSION_STRING, xm->q ? "int8 (float at the output layer)" : "float32", xm->d);
    for (size_t l = 0; l < xm->n; l++)
        textf(e, " -> %zu %s%s", xm->layer[l].out, ae_activation_name(xm->layer[l].act),
              l + 1 == xm->n_enc ? " (code)" : "");
    textf(e, ";%s%s%s\n", xm->offset ? " input scaling;" : "", xm->has_threshold ? " a threshold;" : "",
          xm->head.out ? (xm->head_kind == AE_HEAD_SOFTMAX ? " a softmax head;" : " a linear head;") : "");
    text(e, " *\n"
            " * Use: #include this file in one .c file of the program (its arrays and functions are\n"
            " * static). Rows are $N_INPUT_DIM floats in the units the model was trained on.\n"
            " *   void  $n_encode(const float *x, float *code);    code [$N_CODE_DIM] (a VAE: mu)\n"
            " *   void  $n_reconstruct(const float *x, float *out); out [$N_INPUT_DIM]\n"
            " *   float $n_score(const float *x);  mean squared reconstruction error in scaled units\n"
            " *                                     (libae's ae_score)\n");
    if (xm->has_threshold) text(e, " *   int   $n_flag(const float *x);   1: score above $N_THRESHOLD (ae_flag)\n");
    if (xm->head.out)
        text(e, " *   void  $n_predict(const float *x, float *out); out [$N_HEAD_OUTPUTS] (ae_head_predict)\n"
                " *   int   $n_classify(const float *x);            the largest output's index\n");
    text(e, " * Memory: nothing is allocated; the parameters are static const (flash). The functions above\n"
            " * share one static scratch buffer, $n_work_, of $N_WORK_FLOATS floats: they are not\n"
            " * reentrant (one call at a time: not from two threads, nor from an interrupt that may\n"
            " * preempt another call). Each has a _buf variant taking the caller's scratch instead,\n"
            " * float work[$N_WORK_FLOATS] ($n_encode_buf(x, code, work), $n_score_buf(x, work), ...):\n"
            " * calls with distinct buffers may run at once. The stack use is a few words.\n"
            " * Portability: C99, no header included (exp and tanh are computed here in float\n"
            " * operations), int of 32 bits, IEEE single precision evaluated as such (FLT_EVAL_METHOD 0).\n"
            " * Compile with -ffp-contract=off for the same bits on every such target. */\n");
}

static void macros(emitter *e, const ae_xmodel *xm) {
    char f[48];
    textf(e, "#ifndef $N_EXPORT_H_\n#define $N_EXPORT_H_\n\n#define $N_INPUT_DIM %zu\n#define $N_CODE_DIM %zu\n", xm->d,
          xm->k);
    textf(e, "#define $N_N_LAYERS %zu\n#define $N_N_ENC %zu\n#define $N_MAX_WIDTH %zu\n#define $N_WORK_FLOATS %zu\n",
          xm->n, xm->n_enc, xm->maxw, ae_xmodel_work_floats(xm));
    textf(e, "#define $N_INT8 %d\n", xm->q);
    if (xm->has_threshold) {
        float_lit(f, sizeof f, xm->threshold);
        textf(e, "#define $N_THRESHOLD %s\n", f);
    }
    if (xm->head.out)
        textf(e, "#define $N_HEAD_OUTPUTS %zu\n#define $N_HEAD_SOFTMAX %d\n", xm->head.out,
              xm->head_kind == AE_HEAD_SOFTMAX);
    if (xm->q) {
        float_lit(f, sizeof f, xm->in_inv);
        textf(e, "#define $N_IN_ZP %d\n#define $N_IN_INV %s\n#define $N_CODE_ZP %d\n", xm->in_zp, f, xm->code_zp);
        float_lit(f, sizeof f, xm->code_s);
        textf(e, "#define $N_CODE_SCALE %s\n", f);
    }
    text(e, "\n");
}

/* The float layer table's arrays and entry of layer L, named by tag ("0", "head"). */
static void float_layer(emitter *e, const ae_xmodel *xm, const ae_xlayer *L, const char *tag, char *entry,
                        size_t size) {
    char id[32];
    if (!L->shared) {
        snprintf(id, sizeof id, "w%s_", tag);
        array(e, T_FLOAT, id, L->w, L->in * L->out);
    }
    snprintf(id, sizeof id, "b%s_", tag);
    array(e, T_FLOAT, id, L->b, L->out);
    char w[32];
    snprintf(w, sizeof w, "w%s_", tag);
    if (L->shared) snprintf(w, sizeof w, "w%zu_", L->src);
    snprintf(entry, size, "{%zu, %zu, %d, %d, $n_%s, $n_b%s_}", L->in, L->out, (int)L->act, L->shared, w, tag);
    (void)xm;
}

static void int8_layer(emitter *e, const ae_xlayer *L, const ae_qlayer *Q, const char *tag, char *entry, size_t size) {
    char id[32], m[32] = "0", sh[32] = "0", lut[32] = "0", fs[32] = "0";
    snprintf(id, sizeof id, "w%s_", tag);
    array(e, T_SCHAR, id, Q->w, L->in * L->out);
    snprintf(id, sizeof id, "b%s_", tag);
    array(e, T_INT, id, Q->b, L->out);
    if (Q->mode != 2) {
        snprintf(m, sizeof m, "$n_m%s_", tag);
        array(e, T_INT, m + 3, Q->m, L->out);
        snprintf(sh, sizeof sh, "$n_sh%s_", tag);
        array(e, T_UCHAR, sh + 3, Q->sh, L->out);
    } else {
        snprintf(fs, sizeof fs, "$n_fs%s_", tag);
        array(e, T_FLOAT, fs + 3, Q->fs, L->out);
    }
    if (Q->mode == 1) {
        snprintf(lut, sizeof lut, "$n_lut%s_", tag);
        array(e, T_SCHAR, lut + 3, Q->lut, 256);
    }
    snprintf(entry, size, "{%zu, %zu, %d, %d, %d, %d, $n_w%s_, $n_b%s_, %s, %s, %s, %s}", L->in, L->out, Q->mode, Q->lo,
             Q->zp, (int)L->act, tag, tag, m, sh, lut, fs);
}

static void layers(emitter *e, const ae_xmodel *xm) {
    if (xm->q)
        text(e,
             "typedef struct { int in, out, mode, lo, zp, act; const signed char *w; const int *b, *m;\n"
             "                 const unsigned char *sh; const signed char *lut; const float *fs; } $n_qlayer_t_;\n\n");
    else
        text(e, "typedef struct { int in, out, act, tr; const float *w, *b; } $n_layer_t_;\n\n");
    char entry[AE_MAX_LAYERS][256], head[256], tag[24];
    for (size_t l = 0; l < xm->n; l++) {
        snprintf(tag, sizeof tag, "%zu", l);
        if (xm->q)
            int8_layer(e, &xm->layer[l], &xm->ql[l], tag, entry[l], sizeof entry[l]);
        else
            float_layer(e, xm, &xm->layer[l], tag, entry[l], sizeof entry[l]);
    }
    if (xm->head.out) {
        if (xm->q)
            int8_layer(e, &xm->head, &xm->qhead, "h", head, sizeof head);
        else
            float_layer(e, xm, &xm->head, "h", head, sizeof head);
    }
    const char *t = xm->q ? "$n_qlayer_t_" : "$n_layer_t_";
    textf(e, "\nstatic const %s $n_layers_[$N_N_LAYERS] = {\n", t);
    for (size_t l = 0; l < xm->n; l++) textf(e, "    %s%s\n", entry[l], l + 1 < xm->n ? "," : "");
    text(e, "};\n");
    if (xm->head.out) textf(e, "static const %s $n_head_ = %s;\n", t, head);
    text(e, "\n");
}

static void scaling(emitter *e, const ae_xmodel *xm) {
    if (!xm->offset) {
        text(e, "/* The model has no input scaling. */\n"
                "static inline float $n_in_(const float *x, int j) { return x[j]; }\n"
                "static inline float $n_out_(float y, int j) { (void)j; return y; }\n\n");
        return;
    }
    array(e, T_FLOAT, "offset_", xm->offset, xm->d);
    array(e, T_FLOAT, "scale_", xm->scale, xm->d);
    text(e, "/* Input scaling: x' = (x - offset) / scale going in; y * scale + offset coming out. */\n"
            "static inline float $n_in_(const float *x, int j) { return (x[j] - $n_offset_[j]) / $n_scale_[j]; }\n"
            "static inline float $n_out_(float y, int j) { return y * $n_scale_[j] + $n_offset_[j]; }\n\n");
}

int ae_export_emit(const ae_xmodel *xm, const char *path, const char *name, size_t *weight_bytes) {
    emitter e;
    memset(&e, 0, sizeof e);
    e.name = name;
    for (size_t i = 0; name[i] && i + 1 < sizeof e.upper; i++)
        e.upper[i] = name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 'a' + 'A') : name[i];
    int rc = ae_atomic_open(&e.f, path);
    if (rc != AE_OK) return rc;
    comment(&e, xm);
    macros(&e, xm);
    layers(&e, xm);
    scaling(&e, xm);
    text(&e, ae_xt_math);
    text(&e, xm->q ? ae_xt_int8 : ae_xt_float);
    if (xm->head.out) text(&e, xm->q ? ae_xt_int8_head : ae_xt_float_head);
    text(&e, ae_xt_api);
    if (xm->has_threshold) text(&e, ae_xt_flag);
    if (xm->head.out) text(&e, ae_xt_predict);
    text(&e, "#endif\n");
    if (e.nonfinite) { /* a folded batch norm overflowed: leave no header */
        e.f.ok = 0;
        (void)ae_atomic_close(&e.f);
        return ae_fail(AE_ENONFINITE, "ae_export_c: a weight is not finite after folding batch norm");
    }
    rc = ae_atomic_close(&e.f);
    if (rc == AE_OK) *weight_bytes = e.bytes;
    return rc;
}
