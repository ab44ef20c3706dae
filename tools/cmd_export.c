/* ae export-c MODEL -o FILE.h --name NAME [--int8 --calibrate DATA]: the model as one
 * dependency-free C99 header (ae_export_c), float or int8 calibrated on DATA's rows. */
#include <stdio.h>
#include <string.h>

#include "cli_io.h"
#include "cli_opts.h"
#include "commands.h"

int cmd_export_c(int argc, char **argv) {
    static const char HELP[] =
        "usage: ae export-c MODEL -o FILE.h --name NAME [--int8 --calibrate DATA]\n"
        "  writes the model as one C99 header that needs nothing but itself: NAME_encode,\n"
        "  NAME_reconstruct, NAME_score (and NAME_flag with a threshold, NAME_predict with a head)\n"
        "  --name NAME     the functions' prefix, a C identifier (default: model)\n"
        "  --int8          int8 weights and activations, calibrated on --calibrate DATA's rows\n"
        "  --calibrate DATA  rows the model is meant for (normal rows), for --int8\n";
    const char *out = NULL, *name = "model", *calib = NULL, *pos[1];
    int int8 = 0;
    const cli_opt opts[] = {
        {.name = "-o", .alias = "--output", .kind = CLI_TEXT, .to = &out},
        {.name = "--name", .kind = CLI_TEXT, .to = &name},
        {.name = "--int8", .kind = CLI_SET, .to = &int8},
        {.name = "--calibrate", .kind = CLI_TEXT, .to = &calib},
        {.name = NULL},
    };
    if (cli_parse(argc, argv, opts, HELP, pos, 1) != 1 || !out)
        die("needs MODEL and -o FILE.h (see ae export-c --help)");
    if (int8 && !calib) die("--int8 needs --calibrate DATA: the rows its activations' ranges are taken from");
    if (calib && !int8) die("--calibrate is for --int8");
    const named outs[] = {{"-o", out}}, ins[] = {{"MODEL", pos[0]}, {"--calibrate", calib}};
    check_outputs(outs, 1, ins, 2);
    ae_model *m = load_model(pos[0]);
    ae_data cal = {NULL, 0, 0};
    ae_export_report rep;
    memset(&rep, 0, sizeof rep);
    ae_export_opts o = ae_export_opts_default();
    o.name = name;
    o.report = &rep;
    if (int8) {
        cal = load_data(calib);
        need_width(calib, cal.cols, ae_input_dim(m));
        o.int8 = 1;
        o.calib_x = cal.x;
        o.calib_n = cal.rows;
    }
    const int rc = ae_export_c(m, out, &o);
    if (rc != AE_OK) die("cannot export %s: %s%s", pos[0], ae_strerror(rc), detail());
    if (int8)
        report("wrote %s: int8, %zu weight bytes, %zu floats of scratch; score error %.3g of the mean float score "
               "(largest %.3g) on %zu calibration rows\n",
               out, rep.weight_bytes, rep.work_floats, rep.score_error, rep.score_max_error, rep.calib_rows);
    else
        report("wrote %s: float, %zu weight bytes, %zu floats of scratch\n", out, rep.weight_bytes, rep.work_floats);
    ae_data_free(&cal);
    ae_free(m);
    return 0;
}
