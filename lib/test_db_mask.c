/* test_db_mask: rs_db_mask_conninfo hides every password in every form
 * libpq accepts, shows the rest, and shows nothing of a string libpq
 * cannot read (its parse errors may quote a password). */
#include "rs_check.h"
#include "rs_db.h"

#include <stdio.h>
#include <string.h>

/* Masks in and checks: the result, that no fragment of the secret is in
 * the output, and that `shown` (when given) is. */
static void s_check(const char *in, int expected, const char *secret_part, const char *shown)
{
    char out[512];
    int rc = rs_db_mask_conninfo(in, out, sizeof out);
    if (rc != expected || strstr(out, secret_part) || (shown && !strstr(out, shown))) {
        fprintf(stderr, "mask of [%s]: rc %d (expected %d), out [%s]\n", in, rc, expected, out);
        RS_CHECK(0);
    }
}

int main(void)
{
    s_check("postgresql://u:secret@h:5432/d", 1, "secret", "password=***");
    s_check("postgresql://u:s%20e%27cret@h/d", 1, "cret", "user=u");
    s_check("postgres://u@/d?host=/tmp&password=secret", 1, "secret", "host=/tmp");
    s_check("host=h password=secret dbname=d", 1, "secret", "dbname=d");
    s_check("host=h password = secret dbname=d", 1, "secret", "dbname=d");
    s_check("host=h password ='se cret' dbname = d", 1, "cret", "dbname=d");
    s_check("password='se\\'cr et' host=h", 1, "cr et", "host=h");
    s_check("host=h sslpassword=secret", 1, "secret", "sslpassword=***");
    s_check("postgresql://u@/d?host=/tmp", 0, "***", "host=/tmp");
    s_check("dbname=recsign host='/tmp/a b'", 0, "***", "host='/tmp/a b'");
    /* libpq's multi-host forms (a primary and its standbys): every host
     * and port shown as libpq reads them, the password still hidden. */
    s_check("host=a,b port=5432,5433 target_session_attrs=read-write dbname=d password=secret", 1,
            "secret", "password=*** dbname=d host=a,b port=5432,5433 target_session_attrs=read-write");
    s_check("postgresql://u:secret@a:5432,b:5433/d?target_session_attrs=read-write", 1, "secret",
            "user=u password=*** dbname=d host=a,b port=5432,5433 target_session_attrs=read-write");
    s_check("postgresql://u@/d?host=/tmp/p,/tmp/s&target_session_attrs=read-write", 0, "***",
            "host=/tmp/p,/tmp/s");
    /* Unreadable: nothing of it is shown. */
    s_check("host=h password=se cret", -1, "cret", "not shown");
    s_check("host=h password='secret", -1, "secret", "not shown");
    s_check("postgresql://u:secret@h/d?bogus=1", -1, "secret", NULL);
    printf("db_mask: ok\n");
    return 0;
}
