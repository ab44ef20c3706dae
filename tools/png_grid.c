#include "png_grid.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>

#define GAP 2 /* pixels of black between images */

int png_grid_write(const char *path, const float *images, size_t grid_rows, size_t grid_cols, size_t h, size_t w) {
    const size_t width = grid_cols * (w + GAP) + GAP, height = grid_rows * (h + GAP) + GAP;
    unsigned char *pix = calloc(width * height, 1);
    if (!pix) {
        fprintf(stderr, "png_grid: out of memory\n");
        return -1;
    }
    for (size_t gr = 0; gr < grid_rows; gr++)
        for (size_t gc = 0; gc < grid_cols; gc++) {
            const float *img = images + (gr * grid_cols + gc) * h * w;
            for (size_t y = 0; y < h; y++)
                for (size_t x = 0; x < w; x++) {
                    float v = img[y * w + x];
                    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                    pix[(GAP + gr * (h + GAP) + y) * width + GAP + gc * (w + GAP) + x] =
                        (unsigned char)(v * 255.0f + 0.5f);
                }
        }
    png_image image = {0};
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = PNG_FORMAT_GRAY;
    int ok = png_image_write_to_file(&image, path, 0, pix, (png_int_32)width, NULL);
    free(pix);
    if (!ok) {
        fprintf(stderr, "png_grid: cannot write %s: %s\n", path, image.message);
        return -1;
    }
    return 0;
}
