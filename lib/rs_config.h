/* rs_config: a process's configuration as one table of options, each with
 * a flag, an environment variable, a default and bounds. Flags win over the
 * environment, the environment over the default; everything is validated
 * before the process starts work. */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    RS_OPT_INT,    /* integer within [min, max] */
    RS_OPT_STRING, /* text; a NULL default means "no value" */
    RS_OPT_FLAG,   /* boolean switch: present or not; env accepts 1/0/true/false */
} rs_opt_type_t;

/* What an option's text is checked as before the process starts: a ZeroMQ
 * endpoint to bind or connect, a comma-separated list of endpoints to
 * connect (rs_endpoints), or an HTTP HOST:PORT to bind. */
enum {
    RS_ENDPOINT_NONE = 0,
    RS_ENDPOINT_BIND = 1,
    RS_ENDPOINT_CONNECT = 2,
    RS_ENDPOINT_HTTP = 3,
    RS_ENDPOINT_CONNECT_LIST = 4,
};

/* Writes `in` into out (out_size bytes, NUL-terminated) with its secrets
 * masked; returns how many secrets it masked, or -1 when `in` could not
 * be read (out then shows none of it). */
typedef int(rs_opt_mask_fn)(const char *in, char *out, size_t out_size);

typedef struct {
    const char *name;     /* flag name without the leading dashes */
    const char *env;      /* environment variable, or NULL */
    rs_opt_type_t type;
    const char *fallback; /* default, as text; NULL for none */
    long long min, max;   /* bounds for RS_OPT_INT */
    const char *help;
    rs_opt_mask_fn *mask; /* a value that may hold a secret: printed only through this, and a
                             secret given as a flag (visible in ps) is warned about once */
    bool required;        /* RS_OPT_STRING that must be given */
    int endpoint;         /* RS_ENDPOINT_*: checked before the process starts */
    bool empty_is_off;    /* RS_OPT_STRING: an empty value (flag or environment) unsets it,
                             so that --name '' turns off what the environment turned on */
    /* Filled in by rs_config_parse: */
    long long int_value;
    const char *str_value;
    bool set;             /* given by flag or environment */
    bool from_flag;       /* given by flag (on the command line) */
} rs_opt_t;

typedef struct {
    const char *program; /* e.g. "recsign-sink" */
    const char *usage;   /* one line after the program name, e.g. "[options]" */
    const char *summary; /* what the program does, one paragraph */
    rs_opt_t *opts;
    size_t count;
} rs_config_t;

/* Exit codes shared by every recsign program. */
/* RS_EXIT_REFUSED: the ventilator's run ended with every record signed
 * but some that cannot be (named in its last line and in records_refused). */
enum { RS_EXIT_OK = 0, RS_EXIT_RUNTIME = 1, RS_EXIT_USAGE = 2, RS_EXIT_REFUSED = 3 };

/* Parses argv[first..argc) against the table. Returns 0 when the process
 * should run, RS_CONFIG_HELP when --help was printed (exit 0), or -1 after
 * printing a one-line usage error to stderr (exit 2). Positional arguments
 * are refused. */
#define RS_CONFIG_HELP 1
int rs_config_parse(rs_config_t *self, int argc, char **argv, int first)
    __attribute__((warn_unused_result));

/* Looks an option up by name; aborts on a name not in the table (a
 * programming error, not an input error). */
rs_opt_t *rs_config_opt(rs_config_t *self, const char *name);
long long rs_config_int(rs_config_t *self, const char *name);
/* Where an option's value came from, for an error about it: its
 * environment variable when it was set there (and not by flag), else
 * "--name" (the flag, or its default). Written into buf, which it returns. */
const char *rs_config_source(const rs_opt_t *opt, char *buf, size_t size);
const char *rs_config_str(rs_config_t *self, const char *name);
bool rs_config_flag(rs_config_t *self, const char *name);

/* Logs every option's effective value once, secrets masked. */
void rs_config_log(rs_config_t *self);

#endif
