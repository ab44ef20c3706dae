/* Writes rows of 8-bit grayscale images, values in [0,1], as one PNG grid (libpng). */
#ifndef AE_TOOLS_PNG_GRID_H
#define AE_TOOLS_PNG_GRID_H

#include <stddef.h>

/* images: grid_rows * grid_cols images of h x w floats, row-major, image after image.
 * Returns 0 on success, -1 (with a message on stderr) on failure. */
int png_grid_write(const char *path, const float *images, size_t grid_rows, size_t grid_cols, size_t h, size_t w);

#endif
