/* conv: what the two convolution kinds share (conv_common.c): im2col and col2im over one
 * NCHW image, the per-channel bias and activation, the bias gradient. Both kinds initialise
 * as PyTorch does (ae_layer_init_torch, layers/kinds.c).
 * Geometry: a square kernel k (odd), stride s, padding p = k / 2, so that the small side of a
 * convolution is ceil(big / s) pixels per dimension. */
#ifndef AE_LAYERS_CONV_H
#define AE_LAYERS_CONV_H

#include "../layer.h"
#include "../pool.h"

/* One image's geometry as im2col sees it: the big image C x H x W, the small grid OH x OW. */
typedef struct ae_conv_geom {
    size_t c, h, w, oh, ow, k, s;
} ae_conv_geom;

/* cols [(c k k) x (oh ow)]: row (ci k + ki) k + kj, column y ow + x, holds
 * img[ci, y s - p + ki, x s - p + kj], 0 outside the image. */
AE_HIDDEN void ae_im2col(const ae_conv_geom *g, const float *img, float *cols);
/* The adjoint: img [c x h x w] = 0, then every entry of cols added back where im2col took it. */
AE_HIDDEN void ae_col2im(const ae_conv_geom *g, const float *cols, float *img);
/* y[i, ch, :] += b[ch] over rows images of channels x pixels, then (with_act) act. */
AE_HIDDEN void ae_conv_bias_act(const ae_layer *l, float *y, size_t rows, size_t channels, size_t pixels, int with_act);
/* db[c0, c1) = the sums of dZ over rows images' pixels of each channel. */
AE_HIDDEN void ae_conv_grad_bias(const ae_layer *l, const float *dz, size_t rows, size_t pixels, size_t c0, size_t c1);
#endif
