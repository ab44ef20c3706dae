/* cli_opts: the one option parser of the ae command. A subcommand describes its options in a
 * table of cli_opt rows (a name, what kind of value it takes and where that value goes);
 * cli_parse walks argv once against the table, and cli_take takes a table's options out of
 * argv for a later parser (the data flags, shared by every command that reads rows). Values
 * are checked and stored as they are met, so the first bad argument is the one reported. */
#ifndef AE_TOOLS_CLI_OPTS_H
#define AE_TOOLS_CLI_OPTS_H

typedef enum {
    CLI_SET, /* no value: *(int *)to = 1 */
    CLI_CLEAR, /* no value: *(int *)to = 0 (--no-shuffle, --no-header) */
    CLI_TEXT, /* the value as given: *(const char **)to */
    CLI_INT, /* an integer in [lo, hi]: *(int *)to */
    CLI_SIZE, /* an integer in [lo, hi]: *(size_t *)to */
    CLI_NUMBER, /* a number in [lo, hi] (ends left out as `open` says): *(float *)to */
    CLI_CHOICE, /* one of names: its index, *(int *)to */
    CLI_CALL /* call(opt, value, to): a value with a reading of its own */
} cli_kind;

/* Which ends of a CLI_NUMBER's interval are left out; hi INFINITY: no upper bound. */
enum { CLI_CLOSED = 0, CLI_LO_OPEN = 1, CLI_HI_OPEN = 2 };

typedef struct cli_opt {
    const char *name; /* "--epochs"; NULL ends a table */
    const char *alias; /* a second spelling ("--output" for "-o"), or NULL */
    cli_kind kind;
    void *to; /* where the value goes, of the type the kind says */
    double lo, hi;
    int open; /* CLI_NUMBER: CLI_LO_OPEN | CLI_HI_OPEN */
    const char *const *names; /* CLI_CHOICE: NULL-terminated */
    void (*call)(const char *opt, const char *value, void *to); /* CLI_CALL */
    int *given; /* when not NULL, set to 1 when the option is met */
} cli_opt;

/* argv[0..argc) against the table: -h or --help prints help and exits 0; an option the table
 * lacks (but "-", standard input) is a usage error; other words are positional, into pos, at
 * most max_pos of them. Returns how many there were. "needs a value" names the option as
 * written. */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char *help, const char **pos, int max_pos);

/* Takes the table's options (and their values) out of argv[0..*argc), keeping every other word
 * in order and lowering *argc. Returns how many options it took. */
int cli_take(int *argc, char **argv, const cli_opt *opts);

/* The readings behind the kinds, for a value that a command reads after parsing. Each dies
 * with a usage line naming opt when v is not what it wants. */
long parse_long(const char *opt, const char *v, long lo, long hi);
float parse_float(const char *opt, const char *v);
float parse_in(const char *opt, const char *v, float lo, float hi, int open);
int parse_choice(const char *opt, const char *v, const char *const *names);

/* The choices of the enum options (index = enum value), NULL-terminated. */
extern const char *const OPTIMIZER_NAMES[], *const LOSS_NAMES[], *const NOISE_NAMES[], *const SCALING_NAMES[];

#endif
