/* conv: what the two convolution kinds share (conv_common.c): im2col and col2im over NCHW
 * images, the gathers between NCHW rows and channel-major matrices, the per-channel bias and
 * activation, the bias gradient. Both kinds initialise as PyTorch does (ae_layer_init_torch,
 * layers/kinds.c).
 * Geometry: a square kernel k (odd), stride s, padding p = k / 2, so that the small side of a
 * convolution is ceil(big / s) pixels per dimension.
 * Batching: the kinds lay a call's n images side by side, so that each product is one sgemm
 * over all of them: im2col's columns of image j are columns [j P, (j + 1) P) of a [K x n P]
 * matrix (ld n P), and a channel-major matrix [channels x n P] holds channel c of image j at
 * row c, columns [j P, (j + 1) P). */
#ifndef AE_LAYERS_CONV_H
#define AE_LAYERS_CONV_H

#include "../layer.h"
#include "../pool.h"

/* One image's geometry as im2col sees it: the big image C x H x W, the small grid OH x OW. */
typedef struct ae_conv_geom {
    size_t c, h, w, oh, ow, k, s;
} ae_conv_geom;

/* cols [(c k k) x (oh ow)], rows ld floats apart: row (ci k + ki) k + kj, column y ow + x,
 * holds img[ci, y s - p + ki, x s - p + kj], 0 outside the image. planes: ae_conv_planes(g)
 * floats of workspace (stride 1: none). */
AE_HIDDEN void ae_im2col(const ae_conv_geom *g, const float *img, float *cols, size_t ld, float *planes);
/* The adjoint: img [c x h x w] = 0, then every entry of cols (rows ld apart) added back where
 * im2col took it. planes: as for ae_im2col. */
AE_HIDDEN void ae_col2im(const ae_conv_geom *g, const float *cols, size_t ld, float *img, float *planes);
/* Workspace floats of ae_im2col and ae_col2im: the image's s^2 phase planes of oh x ow each
 * (conv_common.c), 0 for stride 1. */
AE_HIDDEN size_t ae_conv_planes(const ae_conv_geom *g);
/* dst [(c1 - c0) x n P] (channel-major, see above) = channels [c0, c1) of n NCHW images of
 * `pixels` pixels a channel, image i at src + i ld_src; with sums, sums[c - c0] += the sum
 * of channel c over the n images (image by image, in a fixed order). */
AE_HIDDEN void ae_conv_gather(const float *src, size_t n, size_t ld_src, size_t c0, size_t c1, size_t pixels,
                              float *dst, float *sums);
/* The inverse: n NCHW images (image i at dst + i ld_dst) from src [channels x n P], plus
 * bias[c] on channel c when bias is not NULL. */
AE_HIDDEN void ae_conv_scatter(const float *src, size_t n, size_t channels, size_t pixels, const float *bias,
                               float *dst, size_t ld_dst);
/* Images a product takes at once: as many as keep about AE_CONV_GROUP floats of columns
 * (`per_image` each) in cache, at least 1. Measured on the network (one thread, batch
 * 128, the fastest of 15 blocks of 20 passes, two rounds): 16384 floats (64 KiB) fastest of
 * groups of one image, 8192, 16384, 32768, 65536 and 262144 floats; one image a product about
 * 7% slower, 65536 floats or more about a fifth slower (columns of megabytes). */
#define AE_CONV_GROUP 16384
AE_HIDDEN size_t ae_conv_group(size_t per_image);
/* Test hook: groups of `floats` floats of columns instead (0: AE_CONV_GROUP again). */
AE_HIDDEN void ae_conv_test_group(size_t floats);
/* y[i, ch, :] += b[ch] over rows images of channels x pixels, then (with_act) act. */
AE_HIDDEN void ae_conv_bias_act(const ae_layer *l, float *y, size_t rows, size_t channels, size_t pixels, int with_act);
/* db[c0, c1) = the sums of dZ over rows images' pixels of each channel. */
AE_HIDDEN void ae_conv_grad_bias(const ae_layer *l, const float *dz, size_t rows, size_t pixels, size_t c0, size_t c1);
/* The sum of v[0, n), in eight interleaved partial sums (so that it vectorises), added in a
 * fixed order. */
AE_HIDDEN float ae_conv_sum(const float *v, size_t n);
#endif
