/* vent_standby: becoming the leading ventilator. One ventilator leads per
 * database (its advisory lock); one started while another leads waits as
 * a standby: it says so in one line, binds nothing, keeps trying the lock,
 * and once it has it, takes over the unfinished run. A standby started
 * with an explicit batch size other than the unfinished run's is refused
 * at once (rule 5: a run's batch size never changes); one started without
 * --batch-size takes the run's (vent_store_open_run's adopt). A standby
 * runs in the run's mode: one of the other (--follow or not) is refused
 * at once too; so is either kind when the leader begins such a run while
 * the standby waits (looked for at every poll), not at the takeover. A
 * standby takes over an unfinished run only: when it gets the lock and the
 * run it waited for (the unfinished one when it started waiting, else the
 * next the leader started) is finished, it says so and leads nothing. One
 * that got the lock at once opens a run as any start does. */
#ifndef VENT_STANDBY_H
#define VENT_STANDBY_H

#include "vent_store.h"

#include <stdbool.h>
#include <stddef.h>

/* How often a standby tries the lock: the most a takeover waits after the
 * leader's database session ended. */
#define VENT_STANDBY_POLL_MS 200

typedef enum {
    VENT_STANDBY_ERROR = -1,       /* reason logged */
    VENT_STANDBY_LEADING = 0,      /* this ventilator leads now */
    VENT_STANDBY_REFUSED = 1,      /* another batch size or mode than the unfinished run's (err) */
    VENT_STANDBY_INTERRUPTED = 2,  /* SIGTERM or SIGINT while waiting */
    VENT_STANDBY_RUN_ENDED = 3,    /* the run it waited for is finished (logged): nothing to lead */
} vent_standby_t;

/* Takes the lead, waiting as a standby while another ventilator has it.
 * batch_size_given: --batch-size (or its variable) was given, so that a
 * run of another batch size refuses this ventilator instead of lending it
 * its size. follow: this ventilator runs in follow mode (--follow). bind:
 * the endpoint it will bind once leading, for the log. Returns one of
 * vent_standby_t; err holds the reason of a refusal. */
vent_standby_t vent_standby_lead(vent_store_t *store, int batch_size, bool batch_size_given,
                                 bool follow, const char *bind, char *err, size_t err_size);

#endif
