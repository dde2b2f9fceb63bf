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
    RS_CHECK(rs_endpoints_parse(&list, "tcp://h6:5557,>tcp://h:5557", RS_CONNECT, err,
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

    /* Each element's form (rs_socket_check_endpoint), as the reviewer of
     * issue 12 found them passing: refused at start, naming the element. */
    s_refused("tcp://h:1 tcp://h:2", "endpoint 'tcp://h:1 tcp://h:2' contains a blank");
    s_refused("tcp://a:1,tcp://h:1 tcp://h:2", "element 2 of the list: endpoint 'tcp://h:1 tcp://h:2' contains a blank");
    s_refused("tcp://h:1;tcp://h:2", "endpoint 'tcp://h:1;tcp://h:2' has ';'; expected one tcp://HOST:PORT");
    s_refused("tcp://a:1;b:2", "has ';'");
    s_refused("tcp://*:5559", "connects to '*'");
    s_refused("tcp://a:1,tcp://*:5559", "element 2 of the list: endpoint 'tcp://*:5559' connects to '*'");
    s_refused("tcp://h:5559/", "has port '5559/'; expected tcp://HOST:PORT with a port from 1 to 65535");
    s_refused("tcp://h:0", "has port '0'");
    s_refused("tcp://h:99999", "has port '99999'");
    s_refused("tcp://h:65536", "has port '65536'");
    s_refused("tcp://h:", "has port ''");
    s_refused("tcp://h:-1", "has port '-1'");
    s_refused("tcp://h:*", "has port '*'");
    s_refused("tcp://:5559", "has no host");
    s_refused("tcp://::1:5559", "has ':' in its host '::1'");
    /* No IPv6: the sockets do not set ZMQ_IPV6, so libzmq never reaches it. */
    s_refused("tcp://[::1]:5559", "has an IPv6 address, which recsign's sockets do not use");
    s_refused("tcp://h/x:5559", "has '/' in its host");
    s_refused("ipc://", "has no path; expected ipc://PATH");
    s_refused("inproc://", "has no name; expected inproc://NAME");
    s_refused("ipc:///tmp/a b", "contains a blank");

    /* Good forms still pass: names, IPv4 addresses, the port bounds, ipc
     * paths and inproc names. */
    RS_CHECK(rs_endpoints_parse(&list,
                                "tcp://localhost:5557,tcp://10.0.0.1:1,tcp://127.0.0.1:65535,"
                                "tcp://B:5559,tcp://host-b.example_1.org:5558,"
                                "ipc:///run/recsign/kc.sock,inproc://oversized-monitor",
                                RS_CONNECT, err, sizeof err)
             == 0);
    RS_CHECK(list.count == 7);

    /* Binding: '*' (every interface) and an interface name; a free port
     * ('*') is the socket layer's (rs_process refuses it in --bind). */
    const char *binds[] = { "tcp://*:5557", "tcp://127.0.0.1:5559", "tcp://eth0:5558",
                            "@tcp://*:1", "tcp://127.0.0.1:*",
                            "ipc:///tmp/recsign.sock" };
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++) {
        if (rs_socket_check_endpoint(binds[i], RS_BIND, err, sizeof err) != 0)
            fprintf(stderr, "bind '%s' refused: %s\n", binds[i], err);
        RS_CHECK(rs_socket_check_endpoint(binds[i], RS_BIND, err, sizeof err) == 0);
    }
    const char *bad_binds[][2] = { { "tcp://*:0", "has port '0'" },
                                   { "tcp://*:5557/", "has port '5557/'" },
                                   { "tcp://* :5557", "contains a blank" },
                                   { "tcp://a;b:5557", "has ';'" } };
    for (size_t i = 0; i < sizeof bad_binds / sizeof bad_binds[0]; i++) {
        RS_CHECK(rs_socket_check_endpoint(bad_binds[i][0], RS_BIND, err, sizeof err) == -1);
        if (!strstr(err, bad_binds[i][1]))
            fprintf(stderr, "bind '%s': reason '%s' lacks '%s'\n", bad_binds[i][0], err,
                    bad_binds[i][1]);
        RS_CHECK(strstr(err, bad_binds[i][1]) != NULL);
    }
    printf("test_endpoints: ok\n");
    return 0;
}
