/* The options' parser and usage text (options.h), over getopt_long. */
#define _POSIX_C_SOURCE 200809L
#include "options.h"

#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTIONS 48
#define HELP_COLUMN 21 /* where each option's help starts */

const char *const conv_names[CLN_CONV_ALGO_COUNT] = {"auto", "gemm", "tiled", "direct", "winograd"};

/* One option's lines: "  --name VALUE", its help from HELP_COLUMN (on the
 * next line when the name is wider), each further line of help indented. */
static void print_option(FILE *out, const char *name, const char *help) {
    int at = fprintf(out, "  %s", name);
    for (const char *line = help; line && *line;) {
        const size_t len = strcspn(line, "\n");
        if (at >= HELP_COLUMN) {
            fputc('\n', out);
            at = 0;
        }
        fprintf(out, "%*s%.*s\n", HELP_COLUMN - at, "", (int)len, line);
        at = 0;
        line += len + (line[len] == '\n');
    }
}

void print_usage(FILE *out, const command *c) {
    fprintf(out, "usage: clinception ");
    const int indent = (int)strlen("usage: clinception ");
    for (const char *line = c->synopsis; *line;) {
        const size_t len = strcspn(line, "\n");
        /* a line of its own form starts under "clinception", the rest under the command */
        const int at = line == c->synopsis                               ? 0
                       : strncmp(line, "clinception ", 12) == 0 ? indent - 12
                                                                  : indent;
        fprintf(out, "%*s%.*s\n", at, "", (int)len, line);
        line += len + (line[len] == '\n');
    }
    fprintf(out, "\n%s\n", c->about);
    for (int i = 0; i < c->count; i++) {
        const opt_spec *o = &c->specs[i];
        char name[64];
        snprintf(name, sizeof name, "--%s%s%s", o->name, o->value ? " " : "",
                 o->value ? o->value : "");
        print_option(out, name, o->help);
    }
    print_option(out, "-h, --help", "show this text");
}

int usage_error(const command *c, const char *fmt, ...) {
    fprintf(stderr, "clinception %s: ", c->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    print_usage(stderr, c);
    return 2;
}

/* Sets the option's target from its value; false (message printed) for a
 * bad one. */
static bool set_option(const command *c, const opt_spec *o, const char *text) {
    switch (o->kind) {
    case OPT_FLAG:
        *(bool *)o->target = true;
        return true;
    case OPT_TEXT:
        *(const char **)o->target = text;
        return true;
    case OPT_COUNT: {
        char *end;
        errno = 0;
        const long v = strtol(text, &end, 10);
        if (errno || end == text || *end || v < o->lo || v > o->hi) {
            fprintf(stderr, "clinception %s: --%s takes a whole number from %ld to %ld, not '%s'\n",
                    c->name, o->name, o->lo, o->hi, text);
            return false;
        }
        *(long *)o->target = v;
        return true;
    }
    case OPT_NETWORK:
        if (cln_network_from_name(text, (cln_network *)o->target, NULL) == CLN_OK) return true;
        fprintf(stderr, "clinception %s: --%s takes inception_v3 or fid, not '%s'\n", c->name,
                o->name, text);
        return false;
    case OPT_CONV:
        for (int i = 0; i < CLN_CONV_ALGO_COUNT; i++)
            if (strcmp(text, conv_names[i]) == 0) {
                *(cln_conv_algo *)o->target = (cln_conv_algo)i;
                return true;
            }
        fprintf(stderr,
                "clinception %s: --%s takes auto, gemm, tiled, direct or winograd, not '%s'\n",
                c->name, o->name, text);
        return false;
    }
    return false;
}

int parse_options(const command *c, int argc, char **argv) {
    struct option options[MAX_OPTIONS + 2];
    int n = 0;
    for (int i = 0; i < c->count && n < MAX_OPTIONS; i++)
        options[n++] = (struct option){c->specs[i].name,
                                       c->specs[i].kind == OPT_FLAG ? no_argument
                                                                    : required_argument,
                                       NULL, 256 + i};
    options[n++] = (struct option){"help", no_argument, NULL, 'h'};
    options[n] = (struct option){NULL, 0, NULL, 0};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h') {
            print_usage(stdout, c);
            return 0;
        }
        if (opt < 256 || opt >= 256 + c->count)
            return usage_error(c, "unknown option or missing value '%s'", argv[optind - 1]);
        if (!set_option(c, &c->specs[opt - 256], optarg)) return 2;
    }
    return -1;
}

bool no_arguments_left(const command *c, int argc, char **argv) {
    if (optind < argc) {
        usage_error(c, "unexpected argument '%s'", argv[optind]);
        return false;
    }
    return true;
}
