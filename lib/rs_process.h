/* rs_process: what every recsign service does before its real work. It
 * parses the option table, checks required options and endpoints, starts
 * logging and CZMQ (which turns SIGINT and SIGTERM into zsys_interrupted)
 * and prints the configuration once. */
#ifndef RS_PROCESS_H
#define RS_PROCESS_H

#include "rs_config.h"

/* Returns -1 when the process should go on, or the exit code to return
 * (0 after --help, 2 after a usage error printed as one line). */
int rs_process_start(rs_config_t *config, int argc, char **argv, const char *component);

#endif
