/* Command-line options: each command's options as a table whose entries
 * carry their own help, the parser over it, and the usage text made from
 * it (so an option and its help are written once, side by side). */
#ifndef CLN_OPTIONS_H
#define CLN_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
    OPT_FLAG,    /* bool *: set when given */
    OPT_COUNT,   /* long *: a whole number in [lo, hi] */
    OPT_TEXT,    /* const char **: the value as given */
    OPT_NETWORK, /* cln_network *: inception_v3 or fid */
    OPT_CONV,    /* cln_conv_algo *: auto, gemm, tiled, direct or winograd */
} opt_kind;

typedef struct {
    const char *name; /* without the leading dashes */
    opt_kind kind;
    void *target;
    long lo, hi;       /* an OPT_COUNT's range */
    const char *value; /* the value's name in the help ("FILE"); NULL for a flag */
    const char *help;  /* what it does: lines separated by \n */
} opt_spec;

typedef struct {
    const char *name;     /* "infer" */
    const char *synopsis; /* after "usage: clinception ": lines separated by \n */
    const char *about;    /* what the command does: paragraphs, each line ending in \n */
    const opt_spec *specs;
    int count;
} command;

/* Prints the usage: synopsis, about, then every option with its help and
 * -h, --help. */
void print_usage(FILE *out, const command *c);

/* Parses argv against the command's options and --help. Returns -1 to go on,
 * with the first argument that is not an option at optind, or the exit code:
 * 0 after --help, 2 after a usage error (message and usage printed). */
int parse_options(const command *c, int argc, char **argv);

/* Prints "clinception NAME: MESSAGE", a blank line and the usage on stderr;
 * returns 2, the exit status of a usage error. */
int usage_error(const command *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* No arguments may follow the options (a usage error if one does). */
bool no_arguments_left(const command *c, int argc, char **argv);

#endif
