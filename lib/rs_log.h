/* rs_log: one-line, levelled log records on stderr, tagged with the
 * process's component name. The only place in recsign that writes logs. */
#ifndef RS_LOG_H
#define RS_LOG_H

/* The one variable the log reads, and what it takes: every program's
 * --help prints this line, so that scripts find every RECSIGN_* variable
 * a program reads in its --help. */
#define RS_LOG_LEVEL_HELP "env RECSIGN_LOG_LEVEL: log level, error, warn, info or debug (default info)"

typedef enum {
    RS_LOG_ERROR = 0,
    RS_LOG_WARN = 1,
    RS_LOG_INFO = 2,
    RS_LOG_DEBUG = 3,
} rs_log_level_t;

/* Sets the component name printed on every line and reads the level from
 * RECSIGN_LOG_LEVEL (error|warn|info|debug; default info). */
void rs_log_init(const char *component);

void rs_log_set_level(rs_log_level_t level);
int rs_log_enabled(rs_log_level_t level);

void rs_log(rs_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rs_error(...) rs_log(RS_LOG_ERROR, __VA_ARGS__)
#define rs_warn(...) rs_log(RS_LOG_WARN, __VA_ARGS__)
#define rs_info(...) rs_log(RS_LOG_INFO, __VA_ARGS__)
#define rs_debug(...) rs_log(RS_LOG_DEBUG, __VA_ARGS__)

#endif
