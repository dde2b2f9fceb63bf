/* main: the recsign admin CLI: picks the subcommand named by argv[1],
 * parses its option table, connects to the database and runs it. */
#include "commands.h"

#include "rs_config.h"
#include "rs_crypto.h"
#include "rs_db.h"
#include "rs_log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define S_OPT_DB                                                                                \
    {                                                                                           \
        .name = "db", .env = "RECSIGN_DB_URL", .type = RS_OPT_STRING,                           \
        .help = "PostgreSQL URL, e.g. postgresql://user@host/dbname (required)", .secret = true \
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

static rs_opt_t s_init_opts[] = {
    S_OPT_DB,
    { .name = "master-key", .env = "RECSIGN_MASTER_KEY", .type = RS_OPT_STRING,
      .fallback = "recsign-master.key",
      .help = "master key file sealing the secret keys; created (mode 0600) if absent; "
              "used only with --keys" },
    { .name = "keys", .type = RS_OPT_INT, .fallback = "0", .min = 0, .max = 100000,
      .help = "new Ed25519 keys to add to the keyring" },
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

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *name;
    rs_config_t cfg;
    int (*check)(rs_config_t *cfg); /* extra validation, or NULL */
    int (*run)(rs_config_t *cfg, PGconn *conn);
    bool needs_schema; /* refuse a database that 'init' has not migrated */
} s_command_t;

static s_command_t s_commands[] = {
    { "init",
      { "recsign init", "[options]",
        "Creates or migrates the recsign schema (safe to re-run and to run concurrently), then "
        "optionally adds Ed25519 keys, their secrets sealed under the master key, and records "
        "with random payloads.",
        s_init_opts, S_COUNT(s_init_opts) },
      cmd_init_check, cmd_init, false },
    { "status",
      { "recsign status", "[options]",
        "Shows signed and total records, open leases, how often each key was leased and used, "
        "and the runs.",
        s_status_opts, S_COUNT(s_status_opts) },
      NULL, cmd_status, true },
    { "verify",
      { "recsign verify", "[options]",
        "Checks every stored signature against its key's public key over the signed message. "
        "Exits 1 and lists the failing records when any fails.",
        s_verify_opts, S_COUNT(s_verify_opts) },
      NULL, cmd_verify, true },
    { "audit",
      { "recsign audit", "[options]",
        "Proves rules 1-5 from the stored data, one line per rule. Exits 1 when any rule is "
        "violated.",
        s_audit_opts, S_COUNT(s_audit_opts) },
      NULL, cmd_audit, true },
};

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: recsign COMMAND [options]\n\n"
            "The recsign admin tool.\n\ncommands:\n");
    for (size_t i = 0; i < S_COUNT(s_commands); i++)
        fprintf(out, "  %-8s %s\n", s_commands[i].name, s_commands[i].cfg.summary);
    fprintf(out, "\n'recsign COMMAND --help' lists a command's options. Every command takes "
                 "--db URL (or RECSIGN_DB_URL).\n"
                 "Exit status: 0 success, 1 runtime error or failed check, 2 usage error.\n");
}

/* libpq prints notices (e.g. "relation already exists, skipping") to
 * stderr by default; they are debug detail here. */
static void s_notice(void *arg, const char *message)
{
    (void) arg;
    rs_debug("server: %s", message);
}

int main(int argc, char **argv)
{
    rs_log_init("recsign");
    if (argc < 2) {
        fprintf(stderr, "recsign: error: no command given; expected one of init, status, verify, "
                        "audit (see recsign --help)\n");
        return RS_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        s_usage(stdout);
        return RS_EXIT_OK;
    }
    s_command_t *cmd = NULL;
    for (size_t i = 0; i < S_COUNT(s_commands); i++)
        if (!strcmp(argv[1], s_commands[i].name))
            cmd = &s_commands[i];
    if (!cmd) {
        fprintf(stderr, "recsign: error: unknown command '%s'; expected one of init, status, "
                        "verify, audit\n", argv[1]);
        return RS_EXIT_USAGE;
    }

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(s_cores, sizeof s_cores, "%ld", cores < 1 ? 1 : cores > 256 ? 256 : cores);
    rs_config_t *cfg = &cmd->cfg;
    int parsed = rs_config_parse(cfg, argc, argv, 2);
    if (parsed == RS_CONFIG_HELP)
        return RS_EXIT_OK;
    if (parsed != 0)
        return RS_EXIT_USAGE;
    const char *url = rs_config_str(cfg, "db");
    if (!url || !*url) {
        fprintf(stderr, "%s: error: no database URL given; expected --db URL or RECSIGN_DB_URL, "
                        "e.g. postgresql://user@host/dbname\n", cfg->program);
        return RS_EXIT_USAGE;
    }
    if (cmd->check && cmd->check(cfg))
        return RS_EXIT_USAGE;
    if (rs_log_enabled(RS_LOG_DEBUG))
        rs_config_log(cfg);

    if (rs_crypto_init()) {
        rs_error("cannot initialise libsodium");
        return RS_EXIT_RUNTIME;
    }
    char app[32], err[512];
    snprintf(app, sizeof app, "recsign-%s", cmd->name);
    PGconn *conn = rs_db_connect(url, app, err, sizeof err);
    if (!conn) {
        rs_error("%s", err);
        return RS_EXIT_RUNTIME;
    }
    PQsetNoticeProcessor(conn, s_notice, NULL);
    int rc = -1;
    if (cmd->needs_schema && rs_db_check_schema(conn, err, sizeof err))
        rs_error("%s", err);
    else
        rc = cmd->run(cfg, conn);
    PQfinish(conn);
    fflush(stdout);
    return rc == 0 ? RS_EXIT_OK : RS_EXIT_RUNTIME;
}
