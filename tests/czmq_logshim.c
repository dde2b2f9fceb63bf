/* czmq_logshim: a test-only LD_PRELOAD library. recsign's processes turn
 * CZMQ's own log off (zsys_set_logstream(NULL)); this interposer sends it to
 * stderr instead, so that a test sees what CZMQ reports at exit, such as
 * "dangling sockets: cannot terminate ZMQ safely" for a socket never
 * destroyed. */
#include <czmq.h>
#include <dlfcn.h>
#include <stdio.h>

void zsys_set_logstream(FILE *stream)
{
    void (*real)(FILE *) = (void (*)(FILE *)) dlsym(RTLD_NEXT, "zsys_set_logstream");
    (void) stream;
    if (real)
        real(stderr);
}
