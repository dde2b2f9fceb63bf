/* vent_standby: see vent_standby.h. */
#include "vent_standby.h"
#include "rs_log.h"
#include "rs_process.h"

#include <czmq.h>
#include <stdio.h>

vent_standby_t vent_standby_lead(vent_store_t *store, int batch_size, bool batch_size_given,
                                 const char *bind, char *err, size_t err_size)
{
    bool said = false;
    int backoff = 100;
    /* Once waiting: the run it stands by for, the unfinished one or else
     * the one the leader is about to start (any of a higher id). */
    int64_t awaited_from = 0;
    while (!zsys_interrupted) {
        vent_lead_t lead = vent_store_lead(store, said ? VENT_STANDBY_POLL_MS : 0);
        if (lead == VENT_LEAD_TAKEN) {
            if (!said)
                return VENT_STANDBY_LEADING;
            /* A standby takes over an unfinished run only: the one it
             * waited for may have ended while it waited (a batch run
             * complete, a follow run stopped), and another run is
             * another start's. */
            int64_t latest = 0;
            bool finished = false;
            if (vent_store_latest_run(store, &latest, &finished, err, err_size) != 0) {
                rs_error("%s", err);
                return VENT_STANDBY_ERROR;
            }
            if (finished && latest >= awaited_from) {
                rs_info("took the ventilator lock: run %lld, which this standby waited for, is finished; exiting without starting a run",
                        (long long) latest);
                return VENT_STANDBY_RUN_ENDED;
            }
            rs_info("took the ventilator lock: this ventilator leads now, and binds %s", bind);
            return VENT_STANDBY_LEADING;
        }
        if (lead == VENT_LEAD_DB_ERROR) {
            if (!vent_store_backoff(store, &backoff))
                break;
            continue;
        }
        backoff = 100;
        if (said)
            continue;
        bool found = false;
        int64_t run_id = 0;
        int stored = 0;
        int64_t latest = 0;
        bool finished = false;
        if (vent_store_peek_run(store, &found, &run_id, &stored, err, err_size) != 0
            || vent_store_latest_run(store, &latest, &finished, err, err_size) != 0) {
            rs_error("%s", err);
            return VENT_STANDBY_ERROR;
        }
        awaited_from = found ? run_id : latest + 1;
        /* Refused now rather than at the takeover, when nobody watches. */
        if (found && batch_size_given && stored != batch_size) {
            snprintf(err, err_size,
                     "run %lld is unfinished with batch size %d, and another recsign-ventilator holds the ventilator lock; the batch size of a run cannot change: start this standby with --batch-size %d, or without --batch-size to take the run's",
                     (long long) run_id, stored, stored);
            return VENT_STANDBY_REFUSED;
        }
        if (found)
            rs_info("standby: another recsign-ventilator leads run %lld (batch size %d); waiting for its lock to take the run over, binding %s only then",
                    (long long) run_id, stored, bind);
        else
            rs_info("standby: another recsign-ventilator leads; waiting for its lock, binding %s only then",
                    bind);
        /* For systemd (Type=notify): a standby is started and well. */
        rs_process_ready("standby: waiting for the ventilator lock");
        said = true;
    }
    return VENT_STANDBY_INTERRUPTED;
}
