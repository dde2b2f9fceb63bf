/* rs_endpoints: a comma-separated list of ZeroMQ endpoints, as a worker
 * takes for --ventilator, --keycoord and --sink ("tcp://a:5557,tcp://b:5557").
 * Each element is checked on its own (rs_socket_check_endpoint); an empty
 * element, a repeated one or too many are refused, naming the element. */
#ifndef RS_ENDPOINTS_H
#define RS_ENDPOINTS_H

#include "rs_socket.h"

#include <stddef.h>

/* At most this many endpoints in one list: a standby per host of a small
 * cluster, with room to spare. */
#define RS_ENDPOINTS_MAX 16
/* Longest endpoint kept, NUL excluded. */
#define RS_ENDPOINT_CHARS 255

typedef struct {
    size_t count;
    char items[RS_ENDPOINTS_MAX][RS_ENDPOINT_CHARS + 1];
} rs_endpoints_t;

/* Parses text into *out: elements separated by commas, each with the
 * blanks around it ignored, each a valid endpoint for role, none given
 * twice. Returns 0, or -1 with a one-line reason in err that names the
 * bad element (by position and text) and says what was expected. */
int rs_endpoints_parse(rs_endpoints_t *out, const char *text, rs_socket_role_t role, char *err,
                       size_t err_size) __attribute__((warn_unused_result));

#endif
