/* rs_time: the two clocks recsign uses. Deadlines are measured on the
 * monotonic clock (immune to wall-clock steps); event times stored in the
 * database are wall-clock microseconds since the Unix epoch. */
#ifndef RS_TIME_H
#define RS_TIME_H

#include <stdint.h>
#include <time.h>

static inline int64_t rs_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t rs_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
