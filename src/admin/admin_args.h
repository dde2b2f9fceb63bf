/* admin_args: the positional arguments of an admin subcommand (the N of
 * 'keys add N', the ids of 'keys retire ID...'), told apart from its
 * --flags so that rs_config_parse, which refuses positionals, gets only
 * the flags. Positionals may come before, between or after the flags. */
#ifndef ADMIN_ARGS_H
#define ADMIN_ARGS_H

#include "rs_config.h"
#include "rs_signer.h"

/* A command's positional arguments in command-line order; the strings
 * are borrowed from argv. */
typedef struct {
    int count;
    char **items;
} admin_pos_t;

/* Splits argv[0..argc) by cfg's option table: an argument starting with
 * "--" is a flag, and so is the argument after a flag that takes a value
 * (an RS_OPT_INT or RS_OPT_STRING flag written without '='); "-h" is a
 * flag; everything after a bare "--" is positional; the rest is
 * positional. flags and pos->items must each have room for argc entries;
 * *nflags gets the number of flags. Never fails: unknown flags are left
 * for rs_config_parse to refuse. */
void admin_args_split(const rs_config_t *cfg, int argc, char **argv, char **flags, int *nflags,
                      admin_pos_t *pos);

/* Parses a positional integer in [min, max] into *out. Returns 0, or -1
 * when text is not a decimal integer in range. */
int admin_args_int(const char *text, long long min, long long max, long long *out)
    __attribute__((warn_unused_result));

/* Reads --algorithm of cfg into *alg. Returns 0, or -1 after a one-line
 * usage error on stderr naming where the value came from (--algorithm or
 * RECSIGN_KEY_ALGORITHM) and the algorithms expected. */
int admin_args_algorithm(rs_config_t *cfg, rs_alg_t *alg) __attribute__((warn_unused_result));

#endif
