/* test_config: flags beat the environment, which beats defaults; bounds,
 * unknown flags and malformed numbers are refused. (Masking: test_db_mask.) */
#include "rs_check.h"
#include "rs_config.h"

#include <stdlib.h>
#include <string.h>

static rs_opt_t s_opts[] = {
    { .name = "batch-size", .env = "RS_TEST_BATCH", .type = RS_OPT_INT, .fallback = "100",
      .min = 1, .max = 100000, .help = "batch" },
    { .name = "db", .env = "RS_TEST_DB", .type = RS_OPT_STRING, .help = "db" },
    { .name = "keep", .type = RS_OPT_FLAG, .help = "keep" },
};

static int s_parse(int argc, char **argv)
{
    rs_config_t c = { .program = "t", .usage = "", .summary = "", .opts = s_opts, .count = 3 };
    return rs_config_parse(&c, argc, argv, 1);
}

int main(void)
{
    rs_config_t c = { .program = "t", .usage = "", .summary = "", .opts = s_opts, .count = 3 };
    char *none[] = { "t" };
    unsetenv("RS_TEST_BATCH");
    RS_CHECK(rs_config_parse(&c, 1, none, 1) == 0);
    RS_CHECK(rs_config_int(&c, "batch-size") == 100 && !rs_config_str(&c, "db"));
    RS_CHECK(!rs_config_flag(&c, "keep"));
    /* A value is named where it came from: default and flag by the flag,
     * the environment by its variable. */
    char src[80];
    RS_CHECK(!strcmp(rs_config_source(rs_config_opt(&c, "batch-size"), src, sizeof src),
                     "--batch-size"));

    setenv("RS_TEST_BATCH", "7", 1);
    RS_CHECK(rs_config_parse(&c, 1, none, 1) == 0 && rs_config_int(&c, "batch-size") == 7);
    RS_CHECK(!strcmp(rs_config_source(rs_config_opt(&c, "batch-size"), src, sizeof src),
                     "RS_TEST_BATCH"));
    char *flags[] = { "t", "--batch-size", "9", "--db=postgresql://u:secret@h/d", "--keep" };
    RS_CHECK(rs_config_parse(&c, 5, flags, 1) == 0);
    RS_CHECK(rs_config_int(&c, "batch-size") == 9 && rs_config_flag(&c, "keep"));
    RS_CHECK(!strcmp(rs_config_source(rs_config_opt(&c, "batch-size"), src, sizeof src),
                     "--batch-size"));
    RS_CHECK(strcmp(rs_config_str(&c, "db"), "postgresql://u:secret@h/d") == 0);

    char *zero[] = { "t", "--batch-size", "0" };
    RS_CHECK(s_parse(3, zero) == -1);
    char *over[] = { "t", "--batch-size=100001" };
    RS_CHECK(s_parse(2, over) == -1);
    char *junk[] = { "t", "--batch-size", "12abc" };
    RS_CHECK(s_parse(3, junk) == -1);
    char *unknown[] = { "t", "--bogus" };
    RS_CHECK(s_parse(2, unknown) == -1);
    char *missing[] = { "t", "--db" };
    RS_CHECK(s_parse(2, missing) == -1);
    char *positional[] = { "t", "extra" };
    RS_CHECK(s_parse(2, positional) == -1);
    setenv("RS_TEST_BATCH", "lots", 1);
    RS_CHECK(s_parse(1, none) == -1);
    unsetenv("RS_TEST_BATCH");
    printf("config: ok\n");
    return 0;
}
