/* rs_log: see rs_log.h. Each record is formatted into one buffer and written
 * with a single write(2) so that lines from threads never interleave. */
#include "rs_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *s_component = "recsign";
static rs_log_level_t s_level = RS_LOG_INFO;
static const char *s_level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void rs_log_init(const char *component)
{
    s_component = component;
    const char *env = getenv("RECSIGN_LOG_LEVEL");
    if (!env)
        return;
    for (int i = RS_LOG_ERROR; i <= RS_LOG_DEBUG; i++)
        if (strcasecmp(env, s_level_names[i]) == 0)
            s_level = (rs_log_level_t) i;
}

void rs_log_set_level(rs_log_level_t level)
{
    s_level = level;
}

int rs_log_enabled(rs_log_level_t level)
{
    return level <= s_level;
}

void rs_log(rs_log_level_t level, const char *fmt, ...)
{
    if (level > s_level)
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, s_component, s_level_names[level]);
    va_list args;
    va_start(args, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, args);
    va_end(args);
    size_t len = (size_t) n + (m < 0 ? 0 : (size_t) m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* Messages come from many sources (libpq errors among them): keep each
     * record on one line. */
    for (size_t i = (size_t) n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    while (len > (size_t) n && line[len - 1] == ' ')
        len--;
    line[len++] = '\n';
    ssize_t written = write(STDERR_FILENO, line, len);
    (void) written;
}
