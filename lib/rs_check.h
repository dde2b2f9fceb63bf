/* rs_check: the assertion macro of recsign's unit tests. A failed check
 * prints where and what, and fails the test at once. */
#ifndef RS_CHECK_H
#define RS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define RS_CHECK(cond)                                                                        \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);          \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

#endif
