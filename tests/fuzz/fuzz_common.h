/* fuzz_common: what every libFuzzer target of the wire codec shares — the
 * entry point's prototype and a check that aborts (so that libFuzzer
 * records the input as a crash) when an invariant of the codec breaks. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "rs_proto.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* rs_proto_type is total: the type byte for a frame of the current version
 * (RS_PROTO_VERSION) of at least two bytes, -1 for anything else. Every
 * target checks it on every input. */
static inline int fuzz_check_type(const uint8_t *data, size_t size)
{
    int type = rs_proto_type(data, size);
    if (size >= 2 && data[0] == RS_PROTO_VERSION)
        FUZZ_CHECK(type == data[1]);
    else
        FUZZ_CHECK(type == -1);
    return type;
}

#endif
