/* admin_args: see admin_args.h. */
#include "admin_args.h"

#include <stdio.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Whether "--name" (no '=') is a flag of cfg that takes the next
 * argument as its value. */
static bool s_takes_value(const rs_config_t *cfg, const char *arg)
{
    const char *name = arg + 2;
    if (strchr(name, '='))
        return false;
    for (size_t i = 0; i < cfg->count; i++)
        if (!strcmp(cfg->opts[i].name, name))
            return cfg->opts[i].type != RS_OPT_FLAG;
    return false;
}

void admin_args_split(const rs_config_t *cfg, int argc, char **argv, char **flags, int *nflags,
                      admin_pos_t *pos)
{
    int nf = 0, np = 0;
    bool rest_positional = false;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        if (rest_positional) {
            pos->items[np++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            rest_positional = true;
            continue;
        }
        if (!strcmp(arg, "-h")) {
            flags[nf++] = arg;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            pos->items[np++] = arg;
            continue;
        }
        flags[nf++] = arg;
        if (s_takes_value(cfg, arg) && i + 1 < argc)
            flags[nf++] = argv[++i];
    }
    *nflags = nf;
    pos->count = np;
}

int admin_args_int(const char *text, long long min, long long max, long long *out)
{
    if (!text || !*text)
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int admin_args_algorithm(rs_config_t *cfg, rs_alg_t *alg)
{
    const rs_opt_t *opt = rs_config_opt(cfg, "algorithm");
    if (rs_alg_parse(alg, opt->str_value) == 0)
        return 0;
    char src[80];
    fprintf(stderr, "%s: error: %s is '%s'; expected one of " RS_ALG_NAMES "\n", cfg->program,
            rs_config_source(opt, src, sizeof src), opt->str_value ? opt->str_value : "");
    return -1;
}
