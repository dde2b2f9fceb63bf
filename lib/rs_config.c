/* rs_config: see rs_config.h. */
#include "rs_config.h"
#include "rs_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_parse_int(const char *text, long long *out)
{
    if (!text || !*text)
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int s_parse_bool(const char *text, bool *out)
{
    if (!strcmp(text, "1") || !strcasecmp(text, "true") || !strcasecmp(text, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(text, "0") || !strcasecmp(text, "false") || !strcasecmp(text, "no") || !*text) {
        *out = false;
        return 0;
    }
    return -1;
}

/* Sets opt from text coming from `source` (a flag or a variable name). */
static int s_assign(rs_config_t *self, rs_opt_t *opt, const char *text, const char *source)
{
    if (opt->type == RS_OPT_STRING) {
        opt->str_value = opt->empty_is_off && !*text ? NULL : text;
        return 0;
    }
    if (opt->type == RS_OPT_FLAG) {
        bool b;
        if (s_parse_bool(text, &b)) {
            fprintf(stderr, "%s: error: %s is '%s'; expected 1, 0, true or false\n",
                    self->program, source, text);
            return -1;
        }
        opt->int_value = b;
        return 0;
    }
    long long v;
    if (s_parse_int(text, &v)) {
        fprintf(stderr, "%s: error: %s is '%s'; expected an integer from %lld to %lld\n",
                self->program, source, text, opt->min, opt->max);
        return -1;
    }
    if (v < opt->min || v > opt->max) {
        fprintf(stderr, "%s: error: %s is %lld; expected an integer from %lld to %lld\n",
                self->program, source, v, opt->min, opt->max);
        return -1;
    }
    opt->int_value = v;
    return 0;
}

static void s_print_help(rs_config_t *self)
{
    printf("usage: %s %s\n\n%s\n\noptions (flag, environment variable, default):\n",
           self->program, self->usage, self->summary);
    for (size_t i = 0; i < self->count; i++) {
        rs_opt_t *o = &self->opts[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s", o->name,
                 o->type == RS_OPT_INT ? " N" : o->type == RS_OPT_STRING ? " TEXT" : "");
        printf("  %-24s %s\n", flag, o->help);
        printf("  %-24s env %s", "", o->env ? o->env : "-");
        if (o->fallback)
            printf(", default %s", o->fallback);
        if (o->type == RS_OPT_INT)
            printf(", range %lld..%lld", o->min, o->max);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "print this help and exit");
    printf("\n%s\n", RS_LOG_LEVEL_HELP);
}

/* A secret on the command line can be read by every user of the host (ps,
 * /proc/PID/cmdline): say so once, and where it belongs instead. */
static void s_warn_secret_flags(rs_config_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        rs_opt_t *o = &self->opts[i];
        char shown[512];
        if (o->mask && o->from_flag && o->str_value && o->mask(o->str_value, shown, sizeof shown) > 0)
            fprintf(stderr, "%s: warning: --%s holds a password, which every user of this host can read (ps); give it in %s, a ~/.pgpass file or a pg_service.conf service instead\n",
                    self->program, o->name, o->env ? o->env : "the environment");
    }
}

int rs_config_parse(rs_config_t *self, int argc, char **argv, int first)
{
    /* --help whatever else is given: a bad variable in the environment
     * must not hide the help that says what it should be. */
    for (int i = first; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_print_help(self);
            return RS_CONFIG_HELP;
        }
    /* Defaults first, then the environment, then flags. */
    for (size_t i = 0; i < self->count; i++) {
        rs_opt_t *o = &self->opts[i];
        o->set = false;
        o->from_flag = false;
        o->str_value = NULL;
        o->int_value = 0;
        if (o->fallback && s_assign(self, o, o->fallback, "the default"))
            return -1;
    }
    for (size_t i = 0; i < self->count; i++) {
        rs_opt_t *o = &self->opts[i];
        const char *text = o->env ? getenv(o->env) : NULL;
        if (!text)
            continue;
        if (s_assign(self, o, text, o->env))
            return -1;
        o->set = true;
    }
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            s_print_help(self);
            return RS_CONFIG_HELP;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "%s: error: unexpected argument '%s'; expected --flag options (see --help)\n",
                    self->program, arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t) (eq - name) : strlen(name);
        rs_opt_t *opt = NULL;
        for (size_t k = 0; k < self->count; k++)
            if (strlen(self->opts[k].name) == name_len && !strncmp(self->opts[k].name, name, name_len))
                opt = &self->opts[k];
        if (!opt) {
            fprintf(stderr, "%s: error: unknown flag '--%.*s'; see --help for the flags it takes\n",
                    self->program, (int) name_len, name);
            return -1;
        }
        const char *value;
        if (eq)
            value = eq + 1;
        else if (opt->type == RS_OPT_FLAG)
            value = "1";
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            fprintf(stderr, "%s: error: flag '--%s' needs a value; see --help\n", self->program,
                    opt->name);
            return -1;
        }
        char source[80];
        snprintf(source, sizeof source, "--%s", opt->name);
        if (s_assign(self, opt, value, source))
            return -1;
        opt->set = true;
        opt->from_flag = true;
    }
    s_warn_secret_flags(self);
    return 0;
}

rs_opt_t *rs_config_opt(rs_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (!strcmp(self->opts[i].name, name))
            return &self->opts[i];
    fprintf(stderr, "%s: internal error: no option named '%s'\n", self->program, name);
    abort();
}

const char *rs_config_source(const rs_opt_t *opt, char *buf, size_t size)
{
    if (opt->set && !opt->from_flag && opt->env)
        snprintf(buf, size, "%s", opt->env);
    else
        snprintf(buf, size, "--%s", opt->name);
    return buf;
}

long long rs_config_int(rs_config_t *self, const char *name)
{
    return rs_config_opt(self, name)->int_value;
}

const char *rs_config_str(rs_config_t *self, const char *name)
{
    return rs_config_opt(self, name)->str_value;
}

bool rs_config_flag(rs_config_t *self, const char *name)
{
    return rs_config_opt(self, name)->int_value != 0;
}

void rs_config_log(rs_config_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        rs_opt_t *o = &self->opts[i];
        if (o->type == RS_OPT_STRING) {
            char shown[512];
            if (o->mask && o->str_value)
                o->mask(o->str_value, shown, sizeof shown);
            else
                snprintf(shown, sizeof shown, "%s", o->str_value ? o->str_value : "");
            rs_info("config %s = %s", o->name, shown[0] ? shown : "(none)");
        }
        else if (o->type == RS_OPT_FLAG)
            rs_info("config %s = %s", o->name, o->int_value ? "on" : "off");
        else
            rs_info("config %s = %lld", o->name, o->int_value);
    }
}
