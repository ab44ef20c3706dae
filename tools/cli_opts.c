/* cli_opts: the one option parser of the ae command (see cli_opts.h). */
#include "cli_opts.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli_io.h"

const char *const OPTIMIZER_NAMES[] = {"sgd", "adam", "adamw", NULL};
const char *const LOSS_NAMES[] = {"mse", "bce", NULL};
const char *const NOISE_NAMES[] = {"none", "gaussian", "mask", NULL};
const char *const SCALING_NAMES[] = {"auto", "none", "minmax", "zscore", NULL};

long parse_long(const char *opt, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) die("%s wants an integer in [%ld, %ld], not '%s'", opt, lo, hi, v);
    return x;
}

float parse_float(const char *opt, const char *v) {
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (!*v || *end || errno || !isfinite(x)) die("%s wants a number, not '%s'", opt, v);
    return x;
}

/* A number in an interval, refused up front with the interval named. */
float parse_in(const char *opt, const char *v, float lo, float hi, int open) {
    float x = parse_float(opt, v);
    const int lo_ok = open & CLI_LO_OPEN ? x > lo : x >= lo, hi_ok = open & CLI_HI_OPEN ? x < hi : x <= hi;
    if (lo_ok && hi_ok) return x;
    if (isinf(hi)) die("%s wants a number %s %g, not '%s'", opt, open & CLI_LO_OPEN ? ">" : ">=", (double)lo, v);
    die("%s wants a number in %c%g, %g%c, not '%s'", opt, open & CLI_LO_OPEN ? '(' : '[', (double)lo, (double)hi,
        open & CLI_HI_OPEN ? ')' : ']', v);
}

int parse_choice(const char *opt, const char *v, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0) return i;
    die("%s: unknown value '%s'", opt, v);
}

static const cli_opt *find_opt(const cli_opt *opts, const char *word) {
    for (; opts && opts->name; opts++)
        if (!strcmp(word, opts->name) || (opts->alias && !strcmp(word, opts->alias))) return opts;
    return NULL;
}

static int takes_value(const cli_opt *o) { return o->kind != CLI_SET && o->kind != CLI_CLEAR; }

/* Reads value (NULL for a flag) as the row says and stores it; opt is the option as written. */
static void apply(const cli_opt *o, const char *opt, const char *value) {
    if (o->given) *o->given = 1;
    switch (o->kind) {
    case CLI_SET: *(int *)o->to = 1; break;
    case CLI_CLEAR: *(int *)o->to = 0; break;
    case CLI_TEXT: *(const char **)o->to = value; break;
    case CLI_INT: *(int *)o->to = (int)parse_long(opt, value, (long)o->lo, (long)o->hi); break;
    case CLI_SIZE: *(size_t *)o->to = (size_t)parse_long(opt, value, (long)o->lo, (long)o->hi); break;
    case CLI_NUMBER: *(float *)o->to = parse_in(opt, value, (float)o->lo, (float)o->hi, o->open); break;
    case CLI_CHOICE: *(int *)o->to = parse_choice(opt, value, o->names); break;
    case CLI_CALL: o->call(opt, value, o->to); break;
    }
}

/* The loop under cli_parse and cli_take. help NULL: take mode, where every word the table
 * does not name is kept in argv (help, unknown options and positionals are the later
 * parser's). Returns the positionals' count, in take mode the options taken. */
static int scan(int *argc, char **argv, const cli_opt *opts, const char *help, const char **pos, int max_pos) {
    int kept = 0, taken = 0, npos = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        const cli_opt *o = find_opt(opts, a);
        if (o) {
            if (takes_value(o) && i + 1 >= *argc) die("%s needs a value", a);
            apply(o, a, takes_value(o) ? argv[++i] : ""); /* "": no value (a flag) */
            taken++;
        } else if (!help) {
            argv[kept++] = argv[i];
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(help);
        } else if (a[0] == '-' && a[1]) { /* "-" alone is standard input */
            die("unknown option %s (see ae %s --help)", a, command_name);
        } else if (npos < max_pos) {
            pos[npos++] = a;
        } else {
            die("unexpected argument %s", a);
        }
    }
    if (help) return npos;
    *argc = kept;
    return taken;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, const char *help, const char **pos, int max_pos) {
    return scan(&argc, argv, opts, help, pos, max_pos);
}

int cli_take(int *argc, char **argv, const cli_opt *opts) { return scan(argc, argv, opts, NULL, NULL, 0); }
