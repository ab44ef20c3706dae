/* ae_csv_save: CSV that reads back to the same floats, one line per row, written atomically
 * (the disk-full walk is in test_faults). */
#define _GNU_SOURCE /* mkdtemp */
#include "test_util.h"

#include <string.h>

#include <ae.h>

static char dir[64];

static int make_dir(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ae_csv_save_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, const char *name) { snprintf(out, 256, "%s/%s", dir, name); }

static char *slurp_text(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* Every float, from the smallest subnormal to the largest, reads back bit for bit. */
static void test_round_trip_is_exact(void **state) {
    (void)state;
    enum { R = 50, C = 7 };
    static float x[R * C];
    test_fill(x, R * C, 17, -1000, 1000);
    x[0] = 1.40129846e-45f; /* smallest subnormal */
    x[1] = 3.40282347e+38f; /* largest float */
    x[2] = -1.17549435e-38f; /* smallest normal, negative */
    x[3] = 0.1f;
    x[4] = 1.0f / 3.0f;
    x[5] = -0.0f;
    x[6] = 16777217.0f;
    char p[256];
    path_of(p, "x.csv");
    assert_int_equal(ae_csv_save(p, x, R, C), AE_OK);
    ae_data d;
    assert_int_equal(ae_data_load(p, &d), AE_OK);
    assert_int_equal(d.rows, R);
    assert_int_equal(d.cols, C);
    for (size_t i = 0; i < R * C; i++)
        if (x[i] != 0.0f) assert_memory_equal(&x[i], &d.x[i], sizeof(float)); /* -0 may read as 0 */
    ae_data_free(&d);
}

/* Values separated by commas, one line per row, each line ended by a newline. */
static void test_layout(void **state) {
    (void)state;
    const float x[6] = {1.0f, 0.5f, -2.0f, 0.25f, 1e-3f, 1e20f};
    char p[256];
    path_of(p, "layout.csv");
    assert_int_equal(ae_csv_save(p, x, 2, 3), AE_OK);
    assert_string_equal(slurp_text(p), "1,0.5,-2\n0.25,0.00100000005,1.00000002e+20\n");
    assert_int_equal(ae_csv_save(p, x, 6, 1), AE_OK); /* one column: no comma */
    assert_string_equal(slurp_text(p), "1\n0.5\n-2\n0.25\n0.00100000005\n1.00000002e+20\n");
}

static void test_bad_arguments_refused(void **state) {
    (void)state;
    const float x[2] = {1, 2};
    char p[256];
    path_of(p, "bad.csv");
    assert_int_equal(ae_csv_save(NULL, x, 1, 2), AE_EINVAL);
    assert_int_equal(ae_csv_save("", x, 1, 2), AE_EINVAL);
    assert_int_equal(ae_csv_save(p, NULL, 1, 2), AE_EINVAL);
    assert_int_equal(ae_csv_save(p, x, 0, 2), AE_EINVAL);
    assert_int_equal(ae_csv_save(p, x, 1, 0), AE_EINVAL);
    assert_int_equal(ae_csv_save(p, x, (size_t)1 << 40, (size_t)1 << 40), AE_EINVAL); /* overflow */
    path_of(p, "no/dir/x.csv");
    assert_int_equal(ae_csv_save(p, x, 1, 2), AE_EIO);
    assert_non_null(strstr(ae_last_error(), "No such file or directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_exact),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_bad_arguments_refused),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
