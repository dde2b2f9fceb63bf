/* test_endpoints: endpoint lists are split on commas, blanks around each
 * element ignored; an empty, malformed or repeated element, or one too
 * many, is refused with a reason that names it. */
#include "rs_check.h"
#include "rs_endpoints.h"

#include <stdio.h>
#include <string.h>

/* Parsing text must fail with a reason that contains `want`. */
static void s_refused(const char *text, const char *want)
{
    rs_endpoints_t list;
    char err[512] = "";
    RS_CHECK(rs_endpoints_parse(&list, text, RS_CONNECT, err, sizeof err) == -1);
    if (!strstr(err, want))
        fprintf(stderr, "for '%s': reason '%s' lacks '%s'\n", text ? text : "(null)", err, want);
    RS_CHECK(strstr(err, want) != NULL);
}

int main(void)
{
    rs_endpoints_t list;
    char err[512];
    RS_CHECK(rs_endpoints_parse(&list, "tcp://a:1", RS_CONNECT, err, sizeof err) == 0);
    RS_CHECK(list.count == 1 && !strcmp(list.items[0], "tcp://a:1"));
    RS_CHECK(rs_endpoints_parse(&list, "tcp://a:1, tcp://b:2 ,\tipc:///tmp/x", RS_CONNECT, err,
                                sizeof err)
             == 0);
    RS_CHECK(list.count == 3 && !strcmp(list.items[0], "tcp://a:1")
             && !strcmp(list.items[1], "tcp://b:2") && !strcmp(list.items[2], "ipc:///tmp/x"));
    RS_CHECK(rs_endpoints_parse(&list, "tcp://[::1]:5557,>tcp://h:5557", RS_CONNECT, err,
                                sizeof err)
             == 0);
    RS_CHECK(list.count == 2);

    s_refused(NULL, "no endpoint given");
    s_refused("", "no endpoint given");
    s_refused("tcp://a:1,", "element 2 of 'tcp://a:1,' is empty");
    s_refused(",tcp://a:1", "element 1 of ',tcp://a:1' is empty");
    s_refused("tcp://a:1,,tcp://b:2", "element 2");
    s_refused("tcp://a:1, ,tcp://b:2", "is empty");
    s_refused("tcp://a:1,tcp://b", "element 2 of the list: endpoint 'tcp://b' has no port");
    s_refused("tcp://a:1,http://b:2", "element 2 of the list: endpoint 'http://b:2' is not valid");
    s_refused("http://b:2", "endpoint 'http://b:2' is not valid; expected tcp://HOST:PORT");
    s_refused("tcp://a:1,tcp://a:1", "element 2 of the list, 'tcp://a:1', repeats element 1");
    s_refused("tcp://a:1,@tcp://b:2", "element 2 of the list");
    char many[2048] = "";
    for (int i = 0; i <= RS_ENDPOINTS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%stcp://h:%d", i ? "," : "",
                 1000 + i);
    s_refused(many, "element 17");
    s_refused(many, "at most 16 endpoints");
    char longest[400] = "tcp://";
    memset(longest + 6, 'h', 300);
    strcat(longest, ":1");
    s_refused(longest, "characters long");
    printf("test_endpoints: ok\n");
    return 0;
}
