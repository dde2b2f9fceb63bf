/* vent_standby: see vent_standby.h. */
#include "vent_standby.h"
#include "rs_log.h"
#include "rs_process.h"

#include <czmq.h>
#include <stdio.h>

/* Whether this ventilator may take run over: the same mode, and the same
 * batch size when one was given. Otherwise err says why and what to do. */
static bool s_may_take(const vent_run_info_t *run, int batch_size, bool batch_size_given,
                       bool follow, char *err, size_t err_size)
{
    if (batch_size_given && run->batch_size != batch_size) {
        snprintf(err, err_size,
                 "run %lld is unfinished with batch size %d, and another recsign-ventilator leads it; the batch size of a run cannot change: start this standby with --batch-size %d, or without --batch-size to take the run's",
                 (long long) run->id, run->batch_size, run->batch_size);
        return false;
    }
    if (run->follow != follow) {
        snprintf(err, err_size,
                 "run %lld is unfinished in %s mode, and another recsign-ventilator leads it; a standby takes a run over in the run's own mode (it would %s): start this standby %s",
                 (long long) run->id, run->follow ? "follow" : "batch",
                 run->follow ? "finish a run meant to sign records as they arrive"
                             : "never finish a run meant to end once every record is signed",
                 run->follow ? "with --follow (RECSIGN_FOLLOW=1)"
                             : "without --follow (RECSIGN_FOLLOW unset)");
        return false;
    }
    return true;
}

/* After a query about runs failed (err): whether its session broke (a
 * server restart or failover, a cut link), which a standby rides out like
 * a failed lock attempt: warned, and the next vent_store_lead reconnects
 * with backoff (a lock taken is taken again, or found another's). Any
 * other failure ends the standby. */
static bool s_session_broke(vent_store_t *store, const char *err)
{
    if (vent_store_socket(store) >= 0)
        return false;
    rs_warn("%s; reconnecting", err);
    return true;
}

vent_standby_t vent_standby_lead(vent_store_t *store, int batch_size, bool batch_size_given,
                                 bool follow, const char *bind, char *err, size_t err_size)
{
    bool said = false;
    int backoff = 100;
    /* Once waiting: the run it stands by for, the unfinished one or else
     * the one the leader is about to start (any of a higher id). */
    int64_t awaited_from = 0;
    vent_run_info_t run = { 0 };
    while (!zsys_interrupted) {
        vent_lead_t lead = vent_store_lead(store, said ? VENT_STANDBY_POLL_MS : 0);
        /* Asked to stop while it connected or waited: a standby stopped
         * with its leader must not open the run on its way out, even when
         * it took the lock the leader let go of (the lock goes with the
         * session at exit). */
        if (zsys_interrupted)
            break;
        if (lead == VENT_LEAD_TAKEN) {
            if (!said)
                return VENT_STANDBY_LEADING;
            /* A standby takes over an unfinished run only: the one it
             * waited for may have ended while it waited (a batch run
             * complete, a follow run stopped), and another run is
             * another start's. */
            int64_t latest = 0;
            bool finished = false;
            if (vent_store_latest_run(store, &latest, &finished, err, err_size) != 0
                || vent_store_peek_run(store, &run, err, err_size) != 0) {
                if (s_session_broke(store, err))
                    continue;
                rs_error("%s", err);
                return VENT_STANDBY_ERROR;
            }
            if (finished && latest >= awaited_from) {
                rs_info("took the ventilator lock: run %lld, which this standby waited for, is finished; exiting without starting a run",
                        (long long) latest);
                return VENT_STANDBY_RUN_ENDED;
            }
            /* A run begun since the last look (at most one poll ago). */
            if (run.found && !s_may_take(&run, batch_size, batch_size_given, follow, err, err_size))
                return VENT_STANDBY_REFUSED;
            rs_info("took the ventilator lock: this ventilator leads now, and binds %s", bind);
            return VENT_STANDBY_LEADING;
        }
        if (lead == VENT_LEAD_DB_ERROR) {
            if (!vent_store_backoff(store, &backoff)) {
                if (zsys_interrupted)
                    break;
                /* Took the lock, then lost the session before leading:
                 * another ventilator holds the lock, or finished the run,
                 * now (vent_store_lost_lead). */
                rs_error("lost the ventilator lock while taking over: another recsign-ventilator took it, or finished the run, while this one reconnected; exiting (restarted, this one waits as its standby)");
                return VENT_STANDBY_ERROR;
            }
            continue;
        }
        backoff = 100;
        /* Waiting for a run the leader has not begun yet: looked for at
         * every poll, so that a standby that could not take it over is
         * refused while it starts, not at the takeover, when nobody
         * watches. */
        if (said && run.found)
            continue;
        int64_t latest = 0;
        bool finished = false;
        if (vent_store_peek_run(store, &run, err, err_size) != 0
            || (!said && vent_store_latest_run(store, &latest, &finished, err, err_size) != 0)) {
            if (s_session_broke(store, err))
                continue;
            rs_error("%s", err);
            return VENT_STANDBY_ERROR;
        }
        if (!said)
            awaited_from = run.found ? run.id : latest + 1;
        if (run.found && !s_may_take(&run, batch_size, batch_size_given, follow, err, err_size))
            return VENT_STANDBY_REFUSED;
        if (said) {
            if (run.found)
                rs_info("standby: the leader began run %lld (batch size %d, %s mode); waiting to take it over",
                        (long long) run.id, run.batch_size, run.follow ? "follow" : "batch");
            continue;
        }
        if (run.found)
            rs_info("standby: another recsign-ventilator leads run %lld (batch size %d, %s mode); waiting for its lock to take the run over, binding %s only then",
                    (long long) run.id, run.batch_size, run.follow ? "follow" : "batch", bind);
        else
            rs_info("standby: another recsign-ventilator leads; waiting for its lock, binding %s only then",
                    bind);
        /* For systemd (Type=notify): a standby is started and well. */
        rs_process_ready("standby: waiting for the ventilator lock");
        said = true;
    }
    rs_info(said ? "stopped while standby" : "stopped before leading");
    return VENT_STANDBY_INTERRUPTED;
}
