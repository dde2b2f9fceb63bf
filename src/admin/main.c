/* main: the recsign admin CLI: picks the subcommand named by argv[1] (and
 * argv[2] for 'keys VERB'), parses its option table and positionals,
 * connects to the database and runs it. */
#include "commands.h"

#include "rs_config.h"
#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"
#include "rs_process.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_OPT_DB                                                                                \
    {                                                                                           \
        .name = "db", .env = "RECSIGN_DB_URL", .type = RS_OPT_STRING,                           \
        .help = "PostgreSQL URL, e.g. postgresql://user@host/dbname (required); several servers for failover (host=a,b)", .mask = rs_db_mask_conninfo \
    }

/* The default of --threads is the number of online cores, filled in at
 * start-up; the bounds apply to it as to any value. */
static char s_cores[16] = "1";

#define S_OPT_THREADS                                                                  \
    {                                                                                  \
        .name = "threads", .env = "RECSIGN_VERIFY_THREADS", .type = RS_OPT_INT,        \
        .fallback = s_cores, .min = 1, .max = 256,                                     \
        .help = "threads verifying signatures (default: the number of online cores)"   \
    }

#define S_OPT_ALGORITHM                                                                 \
    {                                                                                   \
        .name = "algorithm", .env = "RECSIGN_KEY_ALGORITHM", .type = RS_OPT_STRING,     \
        .fallback = "ed25519",                                                          \
        .help = "algorithm of the new keys: " RS_ALG_NAMES " (RSA is RSASSA-PSS)"       \
    }

#define S_OPT_MASTER_KEY(help_text)                                                     \
    {                                                                                   \
        .name = "master-key", .env = "RECSIGN_MASTER_KEY", .type = RS_OPT_STRING,       \
        .fallback = "recsign-master.key", .help = help_text                             \
    }

static rs_opt_t s_init_opts[] = {
    S_OPT_DB,
    S_OPT_MASTER_KEY("master key file sealing the secret keys; created (mode 0600) if absent; "
                     "used only with --keys"),
    { .name = "keys", .type = RS_OPT_INT, .fallback = "0", .min = 0, .max = 100000,
      .help = "new keys to add to the keyring (of --algorithm)" },
    S_OPT_ALGORITHM,
    { .name = "records", .type = RS_OPT_INT, .fallback = "0", .min = 0, .max = 100000000,
      .help = "new records with random payloads to add" },
    { .name = "payload-min", .type = RS_OPT_INT, .fallback = "16", .min = 0, .max = 1048576,
      .help = "smallest random payload, bytes" },
    { .name = "payload-max", .type = RS_OPT_INT, .fallback = "256", .min = 0, .max = 1048576,
      .help = "largest random payload, bytes" },
};

static rs_opt_t s_status_opts[] = { S_OPT_DB };
static rs_opt_t s_verify_opts[] = { S_OPT_DB, S_OPT_THREADS };
static rs_opt_t s_audit_opts[] = { S_OPT_DB, S_OPT_THREADS };
static rs_opt_t s_keys_add_opts[] = {
    S_OPT_DB,
    S_OPT_MASTER_KEY("master key file the keyring is sealed with; must exist and open the "
                     "keyring's existing keys"),
    S_OPT_ALGORITHM,
};
static rs_opt_t s_keys_retire_opts[] = { S_OPT_DB };
static rs_opt_t s_keys_list_opts[] = { S_OPT_DB };
static rs_opt_t s_keys_export_opts[] = {
    S_OPT_DB,
    { .name = "format", .type = RS_OPT_STRING, .fallback = "json",
      .help = "json: one document of every public key; pem: one file key-<id>.pem per key" },
    { .name = "out", .type = RS_OPT_STRING,
      .help = "json: the file to write (default standard output); pem: the directory to "
              "write into, created if absent (default the current directory)" },
};
static rs_opt_t s_dashboard_opts[] = {
    S_OPT_DB,
    { .name = "bind", .env = "RECSIGN_DASHBOARD_BIND", .type = RS_OPT_STRING,
      .fallback = "127.0.0.1:8080", .endpoint = RS_ENDPOINT_HTTP,
      .help = "HOST:PORT to serve the page on, e.g. 127.0.0.1:8080 or *:8080" },
    { .name = "refresh-ms", .env = "RECSIGN_DASHBOARD_REFRESH_MS", .type = RS_OPT_INT,
      .fallback = "1000", .min = 100, .max = 60000,
      .help = "how often the state is read from the database and sent to the page" },
    { .name = "chart-js", .env = "RECSIGN_DASHBOARD_CHART_JS", .type = RS_OPT_STRING,
      .fallback = "/usr/share/javascript/chart.js/chart.min.js",
      .help = "the chart library served to the page (Debian package libjs-chart.js)" },
};
static rs_opt_t s_certs_opts[] = {
    { .name = "dir", .env = "RECSIGN_CERTS_DIR", .type = RS_OPT_STRING, .required = true,
      .help = "certificate directory to create or complete (required)" },
    { .name = "worker", .type = RS_OPT_STRING, .fallback = "worker",
      .help = "name of the worker client certificate to make and allow" },
    { .name = "revoke", .type = RS_OPT_STRING,
      .help = "instead, remove this worker certificate from the allow-list" },
};
static rs_opt_t s_export_opts[] = {
    S_OPT_DB,
    { .name = "out", .type = RS_OPT_STRING, .fallback = "-",
      .help = "file to write the JSON lines to; '-' is standard output" },
};

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *name; /* "status", or "keys add" for a verb of 'keys' */
    rs_config_t cfg;
    /* Positional arguments taken: between pos_min and pos_max (0: none),
     * described for error messages by pos_what and an example. */
    int pos_min, pos_max;
    const char *pos_what, *example;
    int (*check)(rs_config_t *cfg, const admin_pos_t *pos); /* extra validation, or NULL */
    int (*run)(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn);
    bool needs_schema; /* refuse a database that 'init' has not migrated */
    bool offline;      /* needs no database: run with a NULL connection */
} s_command_t;

static s_command_t s_commands[] = {
    { "init",
      { "recsign init", "[options]",
        "Creates or migrates the recsign schema (safe to re-run and to run concurrently), then "
        "optionally adds keys (Ed25519 unless --algorithm says otherwise), their secrets sealed under the master key, and records "
        "with random payloads.",
        s_init_opts, S_COUNT(s_init_opts) },
      0, 0, NULL, NULL, cmd_init_check, cmd_init, false, false },
    { "status",
      { "recsign status", "[options]",
        "Shows signed and total records, live and retired keys, open leases, how often each "
        "key was leased and used, and the runs.",
        s_status_opts, S_COUNT(s_status_opts) },
      0, 0, NULL, NULL, NULL, cmd_status, true, false },
    { "verify",
      { "recsign verify", "[options]",
        "Checks every stored signature against its key's public key over the signed message. "
        "Exits 1 and lists the failing records when any fails.",
        s_verify_opts, S_COUNT(s_verify_opts) },
      0, 0, NULL, NULL, NULL, cmd_verify, true, false },
    { "audit",
      { "recsign audit", "[options]",
        "Proves rules 1-5 from the stored data, one line per rule. Exits 1 when any rule is "
        "violated.",
        s_audit_opts, S_COUNT(s_audit_opts) },
      0, 0, NULL, NULL, NULL, cmd_audit, true, false },
    { "keys add",
      { "recsign keys add", "N [options]",
        "Adds N new keys of --algorithm (1..100000; default Ed25519), their secrets sealed under "
        "the master key, and "
        "prints their ids, one per line. A running keycoord is notified and puts them in its "
        "queue.",
        s_keys_add_opts, S_COUNT(s_keys_add_opts) },
      1, 1, "the number of keys to add", "recsign keys add 5", cmd_keys_add_check,
      cmd_keys_add, true, false },
    { "keys retire",
      { "recsign keys retire", "ID [ID...] [options]",
        "Asks the keycoord to retire the keys with these ids: a free key leaves its queue at "
        "once, a leased one when its lease ends; neither is leased again. Changes nothing and "
        "exits 1 when an id names no key.",
        s_keys_retire_opts, S_COUNT(s_keys_retire_opts) },
      1, INT32_MAX, "the ids of the keys to retire", "recsign keys retire 3 7",
      cmd_keys_retire_check, cmd_keys_retire, true, false },
    { "keys list",
      { "recsign keys list", "[options]",
        "Lists every key: its state (new: not live yet; live; retiring: asked to retire; "
        "retired), when it was created, went live (keycoord clock), was asked to retire and "
        "retired (keycoord clock), its leases and its signatures.",
        s_keys_list_opts, S_COUNT(s_keys_list_opts) },
      0, 0, NULL, NULL, NULL, cmd_keys_list, true, false },
    { "keys export",
      { "recsign keys export", "[options]",
        "Writes every public key (retired ones too, for checking old signatures), as one JSON "
        "document or as one PEM file per key (its first line, outside the PEM block, says how "
        "the key signs, e.g. RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, and the "
        "OpenSSL command that verifies). Never a secret.",
        s_keys_export_opts, S_COUNT(s_keys_export_opts) },
      0, 0, NULL, NULL, cmd_keys_export_check, cmd_keys_export, true, false },
    { "export",
      { "recsign export", "[options]",
        "Writes every signed record as one JSON line: record, key and lease ids, payload, "
        "signed message, signature and public key (PEM), so that anyone can check it with "
        "OpenSSL alone. Exits 1 when a signature had to be left out (no record or key).",
        s_export_opts, S_COUNT(s_export_opts) },
      0, 0, NULL, NULL, NULL, cmd_export, true, false },
    { "dashboard",
      { "recsign dashboard", "[options]",
        "Serves a live page: progress (signed / total), records per second, every key with "
        "its use, state and holder (the LRU rotation), open leases, workers seen lately and "
        "recent events (expired leases, refused results). It updates itself (Server-Sent "
        "Events), works offline, and costs the database the same per refresh whatever the "
        "size of the tables. Runs until SIGINT or SIGTERM.",
        s_dashboard_opts, S_COUNT(s_dashboard_opts) },
      0, 0, NULL, NULL, cmd_dashboard_check, cmd_dashboard, true, false },
    { "certs",
      { "recsign certs", "[options]",
        "Makes the CurveZMQ certificates of a deployment: one for each of ventilator, keycoord "
        "and sink, and a client certificate for a worker, whose public part goes into the "
        "allow-list (DIR/allowed). Keeps what exists. --revoke NAME removes a worker from the "
        "allow-list; servers refuse it from its next message on, without a restart.",
        s_certs_opts, S_COUNT(s_certs_opts) },
      0, 0, NULL, NULL, NULL, cmd_certs, false, true },
};

#define S_COMMAND_LIST "init, status, verify, audit, keys, export, dashboard, certs"
#define S_KEYS_VERBS "add, retire, list, export"

static void s_usage(FILE *out, const char *prefix)
{
    if (prefix)
        fprintf(out, "usage: recsign keys VERB [options]\n\nManages the keyring.\n\nverbs:\n");
    else
        fprintf(out, "usage: recsign COMMAND [options]\n\nThe recsign admin tool.\n\ncommands:\n");
    for (size_t i = 0; i < S_COUNT(s_commands); i++) {
        const char *name = s_commands[i].name;
        if (prefix && strncmp(name, prefix, strlen(prefix)))
            continue;
        fprintf(out, "  %-12s %s\n", name, s_commands[i].cfg.summary);
    }
    fprintf(out, "\n'recsign %sCOMMAND --help' lists a command's options. Every command takes "
                 "--db URL (or RECSIGN_DB_URL).\n"
                 "Exit status: 0 success, 1 runtime error or failed check, 2 usage error.\n"
                 RS_LOG_LEVEL_HELP "\n",
            prefix ? prefix : "");
    /* Every variable any command reads, once: scripts clear this list. */
    fprintf(out, "env of the commands' options:");
    for (size_t i = 0; i < S_COUNT(s_commands); i++) {
        const rs_config_t *cfg = &s_commands[i].cfg;
        for (size_t k = 0; k < cfg->count; k++) {
            const char *env = cfg->opts[k].env;
            bool seen = !env;
            for (size_t j = 0; j <= i && !seen; j++)
                for (size_t m = 0; m < s_commands[j].cfg.count && !seen; m++)
                    if ((j < i || m < k) && s_commands[j].cfg.opts[m].env
                        && !strcmp(s_commands[j].cfg.opts[m].env, env))
                        seen = true;
            if (!seen)
                fprintf(out, " %s", env);
        }
    }
    fprintf(out, "\n");
}

static bool s_is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h") || !strcmp(arg, "help");
}

static s_command_t *s_find(const char *name)
{
    for (size_t i = 0; i < S_COUNT(s_commands); i++)
        if (!strcmp(name, s_commands[i].name))
            return &s_commands[i];
    return NULL;
}

/* Picks the command named by argv[1] (and argv[2] for 'keys VERB');
 * *first gets the index of its first argument. NULL when the caller
 * should exit with *rc (help printed, or a one-line usage error). */
static s_command_t *s_pick(int argc, char **argv, int *first, int *rc)
{
    *rc = RS_EXIT_USAGE;
    if (argc < 2) {
        fprintf(stderr, "recsign: error: no command given; expected one of " S_COMMAND_LIST
                        " (see recsign --help)\n");
        return NULL;
    }
    if (s_is_help(argv[1])) {
        s_usage(stdout, NULL);
        *rc = RS_EXIT_OK;
        return NULL;
    }
    char name[64];
    snprintf(name, sizeof name, "%s", argv[1]);
    *first = 2;
    if (!strcmp(argv[1], "keys")) {
        if (argc < 3) {
            fprintf(stderr, "recsign keys: error: no verb given; expected one of " S_KEYS_VERBS
                            " (see recsign keys --help)\n");
            return NULL;
        }
        if (s_is_help(argv[2])) {
            s_usage(stdout, "keys ");
            *rc = RS_EXIT_OK;
            return NULL;
        }
        snprintf(name, sizeof name, "keys %s", argv[2]);
        *first = 3;
    }
    s_command_t *cmd = strchr(argv[1], ' ') ? NULL : s_find(name);
    if (!cmd && *first == 3)
        fprintf(stderr, "recsign keys: error: unknown verb '%s'; expected one of " S_KEYS_VERBS
                        "\n", argv[2]);
    else if (!cmd)
        fprintf(stderr, "recsign: error: unknown command '%s'; expected one of " S_COMMAND_LIST
                        "\n", argv[1]);
    return cmd;
}

/* Checks the number of positionals against the command's. Returns 0, or
 * -1 after a one-line usage error. */
static int s_check_pos(const s_command_t *cmd, const admin_pos_t *pos)
{
    const char *program = cmd->cfg.program;
    if (pos->count > cmd->pos_max) {
        const char *extra = pos->items[cmd->pos_max];
        if (cmd->pos_max == 0)
            fprintf(stderr, "%s: error: unexpected argument '%s'; expected --flag options (see "
                            "--help)\n", program, extra);
        else
            fprintf(stderr, "%s: error: unexpected argument '%s'; expected %s, e.g. '%s'\n",
                    program, extra, cmd->pos_what, cmd->example);
        return -1;
    }
    if (pos->count < cmd->pos_min) {
        fprintf(stderr, "%s: error: missing %s; expected e.g. '%s'\n", program, cmd->pos_what,
                cmd->example);
        return -1;
    }
    return 0;
}

/* libpq prints notices (e.g. "relation already exists, skipping") to
 * stderr by default; they are debug detail here. */
static void s_notice(void *arg, const PGresult *res)
{
    (void) arg;
    rs_debug("server: %s", PQresultErrorMessage(res));
}

/* Reads the command's options and positionals. Returns -1 to run it,
 * else the exit code to leave with (0: help printed; 2: a usage error,
 * said in one line). */
static int s_configure(s_command_t *cmd, int argc, char **argv, char **flags, admin_pos_t *pos)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(s_cores, sizeof s_cores, "%ld", cores < 1 ? 1 : cores > 256 ? 256 : cores);
    rs_config_t *cfg = &cmd->cfg;
    int nflags = 0;
    admin_args_split(cfg, argc, argv, flags, &nflags, pos);
    int parsed = rs_config_parse(cfg, nflags, flags, 0);
    if (parsed == RS_CONFIG_HELP)
        return RS_EXIT_OK;
    if (parsed != 0 || s_check_pos(cmd, pos))
        return RS_EXIT_USAGE;
    if (cmd->offline) {
        if (!rs_config_str(cfg, "dir")) {
            fprintf(stderr, "%s: error: no directory given; expected --dir DIR\n", cfg->program);
            return RS_EXIT_USAGE;
        }
        return -1;
    }
    const char *url = rs_config_str(cfg, "db");
    if (!url || !*url) {
        fprintf(stderr, "%s: error: no database URL given; expected --db URL or RECSIGN_DB_URL, "
                        "e.g. postgresql://user@host/dbname\n", cfg->program);
        return RS_EXIT_USAGE;
    }
    if (cmd->check && cmd->check(cfg, pos))
        return RS_EXIT_USAGE;
    return -1;
}

int main(int argc, char **argv)
{
    rs_log_init("recsign");
    rs_process_ignore_hangup();
    int rc = RS_EXIT_USAGE, first = 2;
    s_command_t *cmd = s_pick(argc, argv, &first, &rc);
    if (!cmd)
        return rc;
    /* Room for every argument in either list. */
    int nargs = argc - first;
    char **flags = calloc((size_t) nargs + 1, sizeof *flags);
    char **items = calloc((size_t) nargs + 1, sizeof *items);
    if (!flags || !items) {
        free(flags);
        free(items);
        rs_error("out of memory for %d arguments", nargs);
        return RS_EXIT_RUNTIME;
    }
    admin_pos_t pos = { 0, items };
    rc = s_configure(cmd, nargs, argv + first, flags, &pos);
    if (rc >= 0)
        goto out;
    rs_config_t *cfg = &cmd->cfg;
    if (rs_log_enabled(RS_LOG_DEBUG))
        rs_config_log(cfg);
    rc = RS_EXIT_RUNTIME;
    if (rs_crypto_init()) {
        rs_error("cannot initialise libsodium or OpenSSL's secure heap");
        goto out;
    }
    if (cmd->offline) {
        rc = cmd->run(cfg, &pos, NULL) == 0 ? RS_EXIT_OK : RS_EXIT_RUNTIME;
        goto out;
    }
    char app[32], err[512];
    snprintf(app, sizeof app, "recsign-%s", cmd->name);
    for (char *c = app; *c; c++)
        *c = *c == ' ' ? '-' : *c;
    PGconn *conn = rs_db_connect(rs_config_str(cfg, "db"), app, err, sizeof err);
    if (!conn) {
        rs_error("%s", err);
        goto out;
    }
    PQsetNoticeReceiver(conn, s_notice, NULL);
    int ran = -1;
    if (cmd->needs_schema && rs_db_check_schema(conn, err, sizeof err))
        rs_error("%s", err);
    else
        ran = cmd->run(cfg, &pos, conn);
    PQfinish(conn);
    fflush(stdout);
    rc = ran == 0 ? RS_EXIT_OK : RS_EXIT_RUNTIME;
out:
    free(flags);
    free(items);
    return rc;
}
