/* recsign-rogue: a hostile peer for the fault tests (tests/faults/rogue_peer.sh).
 * It connects, over loopback only, to every socket recsign binds and, for a
 * bounded time, attacks each one:
 *
 *  - every port: raw TCP garbage instead of a ZMTP greeting, and idle
 *    connections that never finish the handshake;
 *  - ventilator (PUSH): a PULL that takes batches and never answers (steals
 *    work, which must be dispatched again);
 *  - keycoord (ROUTER): DEALER and REQ sockets sending garbage frames, wrong
 *    frame counts, a non-empty delimiter, every truncation of a valid
 *    LEASE_REQ, oversized ones, bad field values, out-of-order and duplicate
 *    seq, releases and renewals of unknown leases, then a bounded flood of
 *    valid-looking lease requests from many holder names (leases it is
 *    granted are never released);
 *  - sink (PULL): garbage frames, multi-frame messages, truncated and
 *    inconsistent RESULTS, RESULTS under lease ids that do not exist, and
 *    under real lease ids with the wrong key.
 *
 * With --forge it behaves like a worker for the first batches it steals:
 * leases a key for the batch (its run, its size), "signs" it with garbage,
 * pushes the results under the lease with its real key id, and releases
 * the key: what a peer without the master key can make the sink store when
 * the sink trusts every result under a valid lease.
 *
 * Near-valid messages are built with lib/rs_proto.h's encoders, then
 * damaged. Bogus lease ids are all >= RG_BOGUS_LEASE_MIN, so that a test can
 * look for them in `signatures`. One summary line per attack on stdout. */
#include "rs_bytes.h"
#include "rs_proto.h"
#include "rs_security.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RG_BOGUS_LEASE_MIN (UINT64_C(1) << 40)
#define RG_MAX_GRANTS 4096
#define RG_MAX_STOLEN 100000
#define RG_DEALERS 8

typedef struct {
    const char *ventilator, *keycoord, *sink;
    int flood;              /* lease requests in the flood */
    int flood_ms;           /* spread over this long */
    int steal_ms;           /* how long to take batches */
    int bogus_rows;         /* result rows sent under bogus leases */
    bool forge;
    bool forge_foreign;     /* forge under leases held by others, not its own */
    const char *certs;      /* CURVE certificate directory, or NULL for plain */
    const char *client_cert;
    unsigned seed;
} rg_config_t;

/* CURVE client settings when --certs is given (an attacker with a stolen
 * or an unlisted certificate); NULL for a plain-text attacker. */
static rs_security_t *s_security;

/* Connects sock to endpoint, as a CURVE client of `service` when the
 * rogue has a certificate. Returns 0 or -1. */
static int s_connect(zsock_t *sock, const char *endpoint, const char *service)
{
    char err[256];
    if (s_security && rs_security_connect(s_security, sock, service, err, sizeof err) != 0) {
        fprintf(stderr, "rogue: %s\n", err);
        return -1;
    }
    return zsock_connect(sock, "%s", endpoint);
}

typedef struct {
    uint64_t lease_id;
    uint32_t key_id;
} rg_grant_t;

/* What the attacks share: grants from the keycoord, record ids stolen from
 * the ventilator. */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static rg_grant_t s_grants[RG_MAX_GRANTS];
static size_t s_grant_count;
static int64_t s_stolen[RG_MAX_STOLEN];
static size_t s_stolen_count;
static uint64_t s_stolen_batches, s_stolen_records;
static uint64_t s_forged_leases, s_forged_rows;

static uint32_t s_rand(void)
{
    return (uint32_t) random();
}

static void s_fill_random(uint8_t *buf, size_t size)
{
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t) s_rand();
}

/* Only loopback: tcp://127.x.x.x:PORT or tcp://localhost:PORT. Sets *port. */
static bool s_loopback(const char *endpoint, int *port)
{
    const char *host = NULL;
    if (!strncmp(endpoint, "tcp://127.", 10))
        host = endpoint + 6;
    else if (!strncmp(endpoint, "tcp://localhost:", 16))
        host = endpoint + 6;
    if (!host)
        return false;
    const char *colon = strrchr(host, ':');
    if (!colon)
        return false;
    *port = atoi(colon + 1);
    return *port > 0 && *port < 65536;
}

/* --- raw TCP ----------------------------------------------------------- */

static int s_tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Garbage greetings, a ZMTP greeting announcing a huge frame, and idle
 * connections held open for a while. Returns the connections made. */
static int s_raw_attack(int port)
{
    int made = 0;
    uint8_t buf[4096];
    for (int i = 0; i < 20; i++) {
        int fd = s_tcp_connect(port);
        if (fd < 0)
            continue;
        made++;
        size_t len = 1 + s_rand() % sizeof buf;
        s_fill_random(buf, len);
        if (i == 0) {
            /* ZMTP 3 signature, then a long frame header with a huge size. */
            static const uint8_t greet[] = { 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0 };
            memcpy(buf, greet, sizeof greet);
            memset(buf + sizeof greet, 0, 52);
            buf[64] = 0x06; /* long command frame */
            memset(buf + 65, 0xff, 8);
            len = 73;
        }
        ssize_t n = write(fd, buf, len);
        (void) n;
        close(fd);
    }
    int idle[10];
    int idle_count = 0;
    for (int i = 0; i < 10; i++)
        if ((idle[idle_count] = s_tcp_connect(port)) >= 0)
            idle_count++;
    made += idle_count;
    zclock_sleep(500);
    for (int i = 0; i < idle_count; i++)
        close(idle[i]);
    return made;
}

/* --- keycoord ---------------------------------------------------------- */

typedef struct {
    uint64_t sent, refused_by_hwm, replies, grants, not_granted, release_unknown;
} rg_kc_stats_t;

static void s_send_frames(zsock_t *sock, const uint8_t *const *frames, const size_t *sizes,
                          int count, rg_kc_stats_t *st)
{
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < count; i++)
        zmsg_addmem(msg, frames[i], sizes[i]);
    if (zmsg_send(&msg, sock) == 0)
        st->sent++;
    else {
        zmsg_destroy(&msg);
        st->refused_by_hwm++;
    }
}

/* [empty][body], the envelope a DEALER must use. */
static void s_send_req(zsock_t *sock, const uint8_t *body, size_t size, rg_kc_stats_t *st)
{
    const uint8_t *frames[] = { (const uint8_t *) "", body };
    size_t sizes[] = { 0, size };
    s_send_frames(sock, frames, sizes, 2, st);
}

static void s_take_replies(zsock_t *sock, rg_kc_stats_t *st)
{
    while (zsock_events(sock) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv(sock);
        if (!msg)
            return;
        st->replies++;
        zframe_t *empty = zmsg_pop(msg);
        zframe_t *body = zmsg_pop(msg);
        rs_lease_rep_t rep;
        if (body && rs_lease_rep_decode(&rep, zframe_data(body), zframe_size(body)) == 0) {
            if (rep.granted) {
                st->grants += rep.granted;
                pthread_mutex_lock(&s_lock);
                for (uint8_t g = 0; g < rep.granted && s_grant_count < RG_MAX_GRANTS; g++)
                    s_grants[s_grant_count++] =
                        (rg_grant_t) { rep.grants[g].lease_id, rep.grants[g].key_id };
                pthread_mutex_unlock(&s_lock);
            }
            else
                st->not_granted++;
            if (rep.release_status == RS_RELEASE_UNKNOWN || rep.renew_status == RS_RELEASE_UNKNOWN)
                st->release_unknown++;
        }
        zframe_destroy(&empty);
        zframe_destroy(&body);
        zmsg_destroy(&msg);
    }
}

/* A request as a worker makes it, for one batch of run 1 (release and
 * renew 0: none). */
static size_t s_encode_req(uint8_t *buf, uint64_t seq, uint64_t release, uint64_t renew, bool want,
                           uint32_t batch_records, const char *holder)
{
    rs_lease_req_t req = { .seq = seq, .release_count = release != 0, .release = { release },
                           .renew_count = renew != 0, .renew = { renew }, .want = want,
                           .run_id = 1, .batch_records = batch_records };
    snprintf(req.holder, sizeof req.holder, "%s", holder);
    return rs_lease_req_encode(&req, buf, RS_LEASE_REQ_MAX_BYTES);
}

static zsock_t *s_dealer(const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    zsock_set_sndhwm(sock, 1000);
    zsock_set_rcvhwm(sock, 100000);
    zsock_set_sndtimeo(sock, 0);
    zsock_set_linger(sock, 0);
    if (s_connect(sock, endpoint, "keycoord") != 0)
        zsock_destroy(&sock);
    return sock;
}

/* Malformed and near-valid requests; returns how many were sent. */
static void s_keycoord_malformed(const rg_config_t *cfg, rg_kc_stats_t *st)
{
    zsock_t *d = s_dealer(cfg->keycoord);
    if (!d)
        return;
    zclock_sleep(100); /* let the connection come up: nothing is queued before it */
    uint8_t buf[8192];
    uint8_t valid[RS_LEASE_REQ_MAX_BYTES];
    size_t valid_len = s_encode_req(valid, 7, 0, 0, true, 10, "rogue/1/0");

    /* Random frames, one to four of them, with and without a delimiter. */
    for (int i = 0; i < 300; i++) {
        int count = 1 + (int) (s_rand() % 4);
        const uint8_t *frames[4];
        size_t sizes[4];
        uint8_t bodies[4][300];
        for (int f = 0; f < count; f++) {
            sizes[f] = s_rand() % 300;
            s_fill_random(bodies[f], sizes[f]);
            frames[f] = bodies[f];
        }
        if (i % 2 == 0 && count > 1)
            sizes[0] = 0; /* an empty delimiter, garbage after it */
        s_send_frames(d, frames, sizes, count, st);
    }
    /* Wrong frame counts around a valid request. */
    {
        const uint8_t *one[] = { valid };
        size_t one_size[] = { valid_len };
        s_send_frames(d, one, one_size, 1, st);                 /* no delimiter */
        const uint8_t *three[] = { (const uint8_t *) "", valid, valid };
        size_t three_size[] = { 0, valid_len, valid_len };
        s_send_frames(d, three, three_size, 3, st);             /* extra frame */
        const uint8_t *nonempty[] = { (const uint8_t *) "x", valid };
        size_t nonempty_size[] = { 1, valid_len };
        s_send_frames(d, nonempty, nonempty_size, 2, st);       /* non-empty delimiter */
        const uint8_t *empties[] = { (const uint8_t *) "", (const uint8_t *) "" };
        size_t empties_size[] = { 0, 0 };
        s_send_frames(d, empties, empties_size, 2, st);         /* empty body */
    }
    /* Every truncation of a valid request, and oversized ones. */
    for (size_t len = 0; len < valid_len; len++)
        s_send_req(d, valid, len, st);
    memcpy(buf, valid, valid_len);
    s_fill_random(buf + valid_len, 64);
    s_send_req(d, buf, valid_len + 64, st);                     /* trailing bytes */
    memset(buf, 'A', sizeof buf);
    memcpy(buf, valid, RS_LEASE_REQ_MIN_BYTES);
    buf[25] = 200;                                              /* holder over RS_HOLDER_MAX */
    s_send_req(d, buf, RS_LEASE_REQ_MIN_BYTES + 200, st);
    buf[25] = 255;
    s_send_req(d, buf, RS_LEASE_REQ_MIN_BYTES + 255, st);
    {
        size_t big = 4u << 20;                                  /* one 4 MiB frame */
        uint8_t *huge = malloc(big);
        if (huge) {
            memcpy(huge, valid, valid_len);
            memset(huge + valid_len, 'B', big - valid_len);
            s_send_req(d, huge, big, st);
            free(huge);
        }
    }
    /* Bad field values in a frame of the right size. */
    memcpy(buf, valid, valid_len);
    buf[0] = RS_PROTO_VERSION + 1;                              /* version */
    s_send_req(d, buf, valid_len, st);
    for (uint8_t type = 0; type < 8; type++) {                  /* every other type */
        if (type == RS_MSG_LEASE_REQ)
            continue;
        memcpy(buf, valid, valid_len);
        buf[1] = type;
        s_send_req(d, buf, valid_len, st);
    }
    memcpy(buf, valid, valid_len);
    buf[12] = RS_GROUP_MAX + 1;                                 /* want beyond the bound */
    s_send_req(d, buf, valid_len, st);
    memcpy(buf, valid, valid_len);
    buf[10] = 1;                                                /* a release id the frame lacks */
    s_send_req(d, buf, valid_len, st);
    memcpy(buf, valid, valid_len);
    buf[RS_LEASE_REQ_MIN_BYTES] = 0x07;                         /* holder not printable */
    s_send_req(d, buf, valid_len, st);
    memcpy(buf, valid, valid_len);
    buf[25] = (uint8_t) (valid[25] - 1);                        /* holder length off by one */
    s_send_req(d, buf, valid_len, st);
    size_t n = s_encode_req(buf, 8, 0, 0, true, 0, "rogue/1/0");          /* empty batch */
    s_send_req(d, buf, n, st);
    n = s_encode_req(buf, 9, 0, 0, true, RS_BATCH_MAX + 1, "rogue/1/0");  /* batch too big */
    s_send_req(d, buf, n, st);
    n = s_encode_req(buf, 10, 0, 0, true, 10, "");                        /* no holder */
    s_send_req(d, buf, n, st);
    /* Valid pings with duplicate, out-of-order and extreme seq values. */
    uint64_t seqs[] = { 5, 5, 3, 0, UINT64_MAX, 1, UINT64_MAX, 2 };
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        n = s_encode_req(buf, seqs[i], 0, 0, false, 0, "rogue/seq/0");
        s_send_req(d, buf, n, st);
    }
    /* Releases and renewals of leases it does not hold (INT64_MAX: the
     * highest id a lease can have). */
    uint64_t leases[] = { 1, 2, 3, 42, RG_BOGUS_LEASE_MIN + 1, (uint64_t) INT64_MAX };
    for (size_t i = 0; i < sizeof leases / sizeof leases[0]; i++) {
        n = s_encode_req(buf, 100 + i, leases[i], 0, false, 0, "rogue/release/0");
        s_send_req(d, buf, n, st);
        n = s_encode_req(buf, 200 + i, 0, leases[i], false, 0, "rogue/renew/0");
        s_send_req(d, buf, n, st);
        n = s_encode_req(buf, 300 + i, leases[i], leases[i], false, 0, "rogue/both/0");
        s_send_req(d, buf, n, st);
    }
    /* Ids beyond PostgreSQL's bigint, which the encoder refuses: a release
     * of lease 2^64-1, and a request for a key for run 2^64-1. */
    n = s_encode_req(buf, 400, 1, 0, false, 0, "rogue/release/0");
    rs_put_u64(buf + RS_LEASE_REQ_MIN_BYTES, UINT64_MAX);
    s_send_req(d, buf, n, st);
    n = s_encode_req(buf, 401, 0, 0, true, 10, "rogue/run/0");
    rs_put_u64(buf + 13, UINT64_MAX);
    s_send_req(d, buf, n, st);
    /* Wait a little for whatever answers come. */
    for (int i = 0; i < 10; i++) {
        zclock_sleep(50);
        s_take_replies(d, st);
    }
    zsock_destroy(&d);

    /* REQ sockets: the REQ envelope on its own; a REQ whose request gets no
     * answer is stuck, so each gets a fresh socket and a short wait. */
    for (int i = 0; i < 20; i++) {
        zsock_t *req = zsock_new(ZMQ_REQ);
        zsock_set_linger(req, 0);
        zsock_set_rcvtimeo(req, 100);
        if (s_connect(req, cfg->keycoord, "keycoord") != 0) {
            zsock_destroy(&req);
            break;
        }
        size_t len;
        if (i % 3 == 0)
            len = s_encode_req(buf, (uint64_t) i, 0, 0, false, 0, "rogue/req/0"); /* a valid ping */
        else if (i % 3 == 1) {
            len = valid_len / 2;                                                    /* truncated */
            memcpy(buf, valid, len);
        }
        else {
            len = s_rand() % 200;                                                   /* garbage */
            s_fill_random(buf, len);
        }
        zframe_t *frame = zframe_new(buf, len);
        if (zframe_send(&frame, req, 0) == 0)
            st->sent++;
        else
            zframe_destroy(&frame);
        zframe_t *reply = zframe_recv(req);
        if (reply)
            st->replies++;
        zframe_destroy(&reply);
        zsock_destroy(&req);
    }
}

/* The flood: valid-looking lease requests from many holders, spread over
 * flood_ms, on several DEALER sockets; grants are kept, never released. */
static void s_keycoord_flood(const rg_config_t *cfg, rg_kc_stats_t *st)
{
    zsock_t *dealers[RG_DEALERS];
    int count = 0;
    for (int i = 0; i < RG_DEALERS; i++)
        if ((dealers[count] = s_dealer(cfg->keycoord)))
            count++;
    if (count == 0)
        return;
    zclock_sleep(100);
    int64_t start = zclock_mono();
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    for (int i = 0; i < cfg->flood; i++) {
        /* Pace: request i is due at start + i * flood_ms / flood. */
        int64_t due = start + (int64_t) i * cfg->flood_ms / cfg->flood;
        while (zclock_mono() < due) {
            for (int d = 0; d < count; d++)
                s_take_replies(dealers[d], st);
            zclock_sleep(1);
        }
        char holder[64];
        snprintf(holder, sizeof holder, "rogue-%d/%d/%d", i % 1000, 4000000 + i, i % 4);
        size_t n = s_encode_req(buf, (uint64_t) i + 1, 0, 0, true, 1 + s_rand() % 100, holder);
        s_send_req(dealers[i % count], buf, n, st);
    }
    /* Collect answers for a while, then vanish: what was queued for us is
     * undeliverable from now on. */
    int64_t end = zclock_mono() + 1000;
    while (zclock_mono() < end) {
        for (int d = 0; d < count; d++)
            s_take_replies(dealers[d], st);
        zclock_sleep(5);
    }
    for (int d = 0; d < count; d++)
        zsock_destroy(&dealers[d]);
}

/* --- ventilator: the work thief ---------------------------------------- */

/* Takes one lease like a worker would (the batch's run and size, giving
 * back the previous one in the same request); returns false when none was
 * granted in time. */
static bool s_forger_lease(zsock_t *dealer, const rs_batch_t *batch, uint64_t *held,
                           rs_lease_rep_t *rep)
{
    static uint64_t seq;
    rg_kc_stats_t st = { 0 };
    uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
    char holder[64];
    snprintf(holder, sizeof holder, "rogue-forger/%d/0", (int) getpid());
    size_t n = s_encode_req(buf, ++seq, *held, 0, true, batch->count, holder);
    /* s_encode_req puts run 1; a forger copies the batch's run. */
    rs_put_u64(buf + 13, batch->run_id);
    s_send_req(dealer, buf, n, &st);
    *held = 0;
    int64_t end = zclock_mono() + 3000;
    while (zclock_mono() < end) {
        zmsg_t *msg = (zsock_events(dealer) & ZMQ_POLLIN) ? zmsg_recv(dealer) : NULL;
        if (!msg) {
            zclock_sleep(1);
            continue;
        }
        zframe_t *empty = zmsg_pop(msg);
        zframe_t *body = zmsg_pop(msg);
        bool ok = body && rs_lease_rep_decode(rep, zframe_data(body), zframe_size(body)) == 0
                  && rep->seq == seq;
        zframe_destroy(&empty);
        zframe_destroy(&body);
        zmsg_destroy(&msg);
        if (ok) {
            if (rep->granted)
                *held = rep->grants[0].lease_id;
            return rep->granted;
        }
    }
    return false;
}

static void s_forge_push(zsock_t *push, const rs_batch_t *batch, const rs_lease_grant_t *lease);

/* With --forge, the first few stolen batches are "signed" with garbage
 * under a real lease and pushed to the sink, exactly as a worker would. */
static void s_forge_batch(zsock_t *dealer, zsock_t *push, const rs_batch_t *batch, uint64_t *held,
                          bool foreign)
{
    rs_lease_rep_t rep;
    if (!s_forger_lease(dealer, batch, held, &rep))
        return;
    if (foreign) {
        /* The leases just before ours were granted to other workers: push
         * the garbage under each of them, with every plausible key id. */
        const rs_lease_grant_t *ours = &rep.grants[0];
        for (uint64_t back = 1; back <= 3 && back < ours->lease_id; back++)
            for (uint32_t key = 1; key <= 8; key++) {
                rs_lease_grant_t other = *ours;
                other.lease_id = ours->lease_id - back;
                other.key_id = key;
                s_forge_push(push, batch, &other);
            }
        return;
    }
    s_forge_push(push, batch, &rep.grants[0]);
}

/* Pushes garbage signatures for every record of batch under lease. */
static void s_forge_push(zsock_t *push, const rs_batch_t *batch, const rs_lease_grant_t *lease)
{
    zframe_t *frame = zframe_new(NULL, rs_results_size(batch->count, 64));
    uint8_t *buf = zframe_data(frame);
    rs_results_begin(buf, lease->lease_id, lease->key_id, batch->count, 64);
    rs_batch_iter_t it;
    rs_batch_iter_init(&it, batch);
    int64_t id;
    const uint8_t *msg;
    size_t len;
    uint8_t sig[64];
    uint32_t i = 0;
    while (rs_batch_iter_next(&it, &id, &msg, &len)) {
        s_fill_random(sig, sizeof sig);
        rs_results_put(buf, 64, i++, id, sig, sizeof sig);
    }
    if (zframe_send(&frame, push, 0) == 0) {
        s_forged_leases++;
        s_forged_rows += batch->count;
    }
    else
        zframe_destroy(&frame);
}

static void *s_steal(void *arg)
{
    const rg_config_t *cfg = arg;
    zsock_t *pull = zsock_new(ZMQ_PULL);
    zsock_set_rcvhwm(pull, 4);
    zsock_set_linger(pull, 0);
    if (s_connect(pull, cfg->ventilator, "ventilator") != 0) {
        fprintf(stderr, "rogue: cannot connect to %s\n", cfg->ventilator);
        zsock_destroy(&pull);
        return NULL;
    }
    zsock_t *dealer = NULL, *push = NULL;
    uint64_t held = 0;
    if (cfg->forge) {
        dealer = s_dealer(cfg->keycoord);
        push = zsock_new(ZMQ_PUSH);
        zsock_set_linger(push, 2000);
        if (!dealer || !push || s_connect(push, cfg->sink, "sink") != 0) {
            fprintf(stderr, "rogue: cannot connect to %s or %s\n", cfg->keycoord, cfg->sink);
            zsock_destroy(&dealer);
            zsock_destroy(&push);
        }
    }
    zpoller_t *poller = zpoller_new(pull, NULL);
    int64_t end = zclock_mono() + cfg->steal_ms;
    while (zclock_mono() < end) {
        if (!zpoller_wait(poller, 50))
            continue;
        zframe_t *frame = zframe_recv(pull);
        if (!frame)
            break;
        rs_batches_t batches;
        if (rs_batch_decode(&batches, zframe_data(frame), zframe_size(frame)) == 0)
            for (uint32_t b = 0; b < batches.count; b++) {
                const rs_batch_t *batch = &batches.batches[b];
                rs_batch_iter_t it;
                rs_batch_iter_init(&it, batch);
                int64_t id;
                const uint8_t *msg;
                size_t len;
                pthread_mutex_lock(&s_lock);
                s_stolen_batches++;
                while (rs_batch_iter_next(&it, &id, &msg, &len)) {
                    s_stolen_records++;
                    if (s_stolen_count < RG_MAX_STOLEN)
                        s_stolen[s_stolen_count++] = id;
                }
                pthread_mutex_unlock(&s_lock);
                if (dealer && push && s_forged_leases < 20)
                    s_forge_batch(dealer, push, batch, &held, cfg->forge_foreign);
            }
        zframe_destroy(&frame);
        /* A slow thief: each batch it holds is one the others wait for. */
        zclock_sleep(20);
    }
    if (dealer && held) {
        /* Gives the last key back, as a well-behaved worker would. */
        rg_kc_stats_t st = { 0 };
        uint8_t buf[RS_LEASE_REQ_MAX_BYTES];
        char holder[64];
        snprintf(holder, sizeof holder, "rogue-forger/%d/0", (int) getpid());
        size_t n = s_encode_req(buf, 999999, held, 0, false, 0, holder);
        s_send_req(dealer, buf, n, &st);
        zclock_sleep(200);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&dealer);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    return NULL;
}

/* --- sink -------------------------------------------------------------- */

typedef struct {
    uint64_t sent, garbage, multi, malformed, bogus_lease_rows, wrong_key_rows;
} rg_sink_stats_t;

static void s_push(zsock_t *push, zframe_t **frame, uint64_t *counter, rg_sink_stats_t *st)
{
    if (zframe_send(frame, push, 0) == 0) {
        st->sent++;
        (*counter)++;
    }
    else
        zframe_destroy(frame);
}

/* A RESULTS frame of `count` rows: record ids from `ids` (or 1..count),
 * random signatures. */
static zframe_t *s_results(uint64_t lease_id, uint32_t key_id, uint32_t count, const int64_t *ids)
{
    zframe_t *frame = zframe_new(NULL, rs_results_size(count, 64));
    uint8_t *buf = zframe_data(frame);
    rs_results_begin(buf, lease_id, key_id, count, 64);
    uint8_t sig[64];
    for (uint32_t i = 0; i < count; i++) {
        s_fill_random(sig, sizeof sig);
        rs_results_put(buf, 64, i, ids ? ids[i] : (int64_t) i + 1, sig, sizeof sig);
    }
    return frame;
}

static void s_sink_attack(const rg_config_t *cfg, rg_sink_stats_t *st)
{
    zsock_t *push = zsock_new(ZMQ_PUSH);
    zsock_set_sndhwm(push, 10000);
    zsock_set_sndtimeo(push, 2000);
    zsock_set_linger(push, 2000);
    if (s_connect(push, cfg->sink, "sink") != 0) {
        fprintf(stderr, "rogue: cannot connect to %s\n", cfg->sink);
        zsock_destroy(&push);
        return;
    }
    zclock_sleep(100);
    uint8_t buf[1024];
    /* Garbage frames. */
    for (int i = 0; i < 300; i++) {
        size_t len = s_rand() % sizeof buf;
        s_fill_random(buf, len);
        zframe_t *frame = zframe_new(buf, len);
        s_push(push, &frame, &st->garbage, st);
    }
    /* Multi-frame messages, a valid RESULTS among the frames. */
    for (int i = 0; i < 20; i++) {
        zframe_t *valid = s_results(RG_BOGUS_LEASE_MIN + 7, 1, 3, NULL);
        zmsg_t *msg = zmsg_new();
        zmsg_append(msg, &valid);
        zmsg_addmem(msg, buf, (size_t) i);
        if (zmsg_send(&msg, push) == 0) {
            st->sent++;
            st->multi++;
        }
        else
            zmsg_destroy(&msg);
    }
    /* Truncated and inconsistent RESULTS. */
    zframe_t *model = s_results(RG_BOGUS_LEASE_MIN + 8, 1, 4, NULL);
    for (size_t len = 0; len < zframe_size(model); len += 7) {
        zframe_t *frame = zframe_new(zframe_data(model), len);
        s_push(push, &frame, &st->malformed, st);
    }
    uint8_t *m = zframe_data(model);
    size_t msize = zframe_size(model);
    zframe_t *frame;
    rs_put_u32(m + 14, 5);                                      /* count says 5, holds 4 */
    frame = zframe_new(m, msize);
    s_push(push, &frame, &st->malformed, st);
    rs_put_u32(m + 14, 0);                                      /* count 0 */
    frame = zframe_new(m, RS_RESULTS_HEADER_BYTES);
    s_push(push, &frame, &st->malformed, st);
    rs_put_u32(m + 14, RS_BATCH_MAX + 1);                       /* count over the bound */
    frame = zframe_new(m, msize);
    s_push(push, &frame, &st->malformed, st);
    rs_put_u32(m + 14, 4);
    rs_put_u64(m + 2, 0);                                       /* lease id 0 */
    frame = zframe_new(m, msize);
    s_push(push, &frame, &st->malformed, st);
    /* A lease id beyond PostgreSQL's bigint: before the decoder refused
     * it, the sink's lease check failed on it, and so did every retry of
     * the flush holding it: nothing more was stored. */
    rs_put_u64(m + 2, (uint64_t) INT64_MAX + 1);
    frame = zframe_new(m, msize);
    s_push(push, &frame, &st->malformed, st);
    rs_put_u64(m + 2, RG_BOGUS_LEASE_MIN + 8);
    /* A key id beyond PostgreSQL's integer, under a lease not in the log:
     * the sink recorded its refusal with the key id, which failed that
     * flush and every retry of it. */
    rs_put_u32(m + 10, (uint32_t) INT32_MAX + 1);
    frame = zframe_new(m, msize);
    s_push(push, &frame, &st->malformed, st);
    rs_put_u32(m + 10, 1);
    m[0] = 9;                                                   /* version */
    frame = zframe_new(m, msize);
    s_push(push, &frame, &st->malformed, st);
    zframe_destroy(&model);

    /* Well-formed RESULTS under lease ids that do not exist, for real
     * record ids (1..): the sink must hold them, then refuse them. */
    int rows = 0, i = 0;
    while (rows < cfg->bogus_rows) {
        uint32_t count = (uint32_t) (cfg->bogus_rows - rows < 1000 ? cfg->bogus_rows - rows : 1000);
        frame = s_results(RG_BOGUS_LEASE_MIN + 1000 + (uint64_t) i++, 1 + s_rand() % 5, count, NULL);
        uint64_t before = st->sent;
        s_push(push, &frame, &st->bogus_lease_rows, st);
        if (st->sent > before) {
            st->bogus_lease_rows += count - 1;
        }
        rows += (int) count;
    }
    /* Real lease ids, wrong key: small ids (leases of the run, likely) and
     * the ones the flood was granted. */
    for (uint64_t lease = 1; lease <= 50; lease++) {
        frame = s_results(lease, 900000 + (uint32_t) lease, 10, NULL);
        uint64_t before = st->sent;
        s_push(push, &frame, &st->wrong_key_rows, st);
        if (st->sent > before)
            st->wrong_key_rows += 9;
    }
    pthread_mutex_lock(&s_lock);
    size_t grants = s_grant_count;
    rg_grant_t *copy = malloc((grants ? grants : 1) * sizeof *copy);
    if (copy)
        memcpy(copy, s_grants, grants * sizeof *copy);
    pthread_mutex_unlock(&s_lock);
    for (size_t g = 0; copy && g < grants && g < 200; g++) {
        frame = s_results(copy[g].lease_id, copy[g].key_id + 1000, 10, NULL);
        uint64_t before = st->sent;
        s_push(push, &frame, &st->wrong_key_rows, st);
        if (st->sent > before)
            st->wrong_key_rows += 9;
    }
    free(copy);
    zsock_destroy(&push);
}

/* --- main -------------------------------------------------------------- */

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: recsign-rogue --ventilator EP --keycoord EP --sink EP [options]\n"
            "Attacks recsign's bound sockets, over loopback only, for a bounded time.\n"
            "  --flood N           lease requests in the keycoord flood (default 20000, max 100000, 0: none)\n"
            "  --flood-ms MS       spread the flood over MS (default 3000)\n"
            "  --steal-ms MS       take batches from the ventilator for MS (default 4000)\n"
            "  --bogus-rows N      result rows sent under bogus lease ids (default 5000)\n"
            "  --forge             act as a worker for up to 20 stolen batches, with garbage\n"
            "                      signatures under real leases\n"
            "  --forge-foreign     with --forge: push under leases granted to others instead\n"
            "  --certs DIR         connect with CURVE, using DIR's service certificates\n"
            "  --client-cert NAME  and this client certificate in DIR (default rogue)\n"
            "  --seed N            random seed (default: time)\n");
}

int main(int argc, char **argv)
{
    rg_config_t cfg = { .flood = 20000, .flood_ms = 3000, .steal_ms = 4000, .bogus_rows = 5000,
                        .seed = (unsigned) time(NULL) };
    static const struct option opts[] = {
        { "ventilator", required_argument, NULL, 'v' }, { "keycoord", required_argument, NULL, 'k' },
        { "sink", required_argument, NULL, 's' },       { "flood", required_argument, NULL, 'f' },
        { "flood-ms", required_argument, NULL, 'F' },   { "steal-ms", required_argument, NULL, 'S' },
        { "bogus-rows", required_argument, NULL, 'b' }, { "forge", no_argument, NULL, 'g' },
        { "seed", required_argument, NULL, 'r' },       { "help", no_argument, NULL, 'h' },
        { "forge-foreign", no_argument, NULL, 'G' },    { "certs", required_argument, NULL, 'c' },
        { "client-cert", required_argument, NULL, 'C' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'v': cfg.ventilator = optarg; break;
        case 'k': cfg.keycoord = optarg; break;
        case 's': cfg.sink = optarg; break;
        case 'f': cfg.flood = atoi(optarg); break;
        case 'F': cfg.flood_ms = atoi(optarg); break;
        case 'S': cfg.steal_ms = atoi(optarg); break;
        case 'b': cfg.bogus_rows = atoi(optarg); break;
        case 'g': cfg.forge = true; break;
        case 'G': cfg.forge_foreign = true; break;
        case 'c': cfg.certs = optarg; break;
        case 'C': cfg.client_cert = optarg; break;
        case 'r': cfg.seed = (unsigned) strtoul(optarg, NULL, 10); break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    int vport, kport, sport;
    if (!cfg.ventilator || !cfg.keycoord || !cfg.sink || !s_loopback(cfg.ventilator, &vport)
        || !s_loopback(cfg.keycoord, &kport) || !s_loopback(cfg.sink, &sport)) {
        fprintf(stderr, "recsign-rogue: error: --ventilator, --keycoord and --sink must be tcp://127.x.x.x:PORT or tcp://localhost:PORT (loopback only)\n");
        return 2;
    }
    if (cfg.flood < 0 || cfg.flood > 100000 || cfg.flood_ms < 1 || cfg.flood_ms > 60000
        || cfg.steal_ms < 0 || cfg.steal_ms > 60000 || cfg.bogus_rows < 0 || cfg.bogus_rows > 1000000) {
        fprintf(stderr, "recsign-rogue: error: a bound is out of range (flood 0..100000, flood-ms 1..60000, steal-ms 0..60000, bogus-rows 0..1000000)\n");
        return 2;
    }
    srandom(cfg.seed);
    zsys_init();
    zsys_set_logstream(stderr);
    if (cfg.certs) {
        char err[512];
        s_security = rs_security_new(false, cfg.certs, cfg.client_cert ? cfg.client_cert : "rogue",
                                     false, NULL, err, sizeof err);
        if (!s_security) {
            fprintf(stderr, "recsign-rogue: error: %s\n", err);
            return 2;
        }
    }
    int64_t t0 = zclock_mono();

    printf("rogue: seed %u\n", cfg.seed);
    pthread_t thief;
    bool stealing = cfg.steal_ms > 0 && pthread_create(&thief, NULL, s_steal, &cfg) == 0;

    int raw = s_raw_attack(vport) + s_raw_attack(kport) + s_raw_attack(sport);
    printf("rogue: raw tcp: %d connections with garbage or no greeting\n", raw);
    fflush(stdout);

    rg_kc_stats_t kc = { 0 };
    s_keycoord_malformed(&cfg, &kc);
    printf("rogue: keycoord malformed: %llu messages sent, %llu not sent (hwm), %llu replies, %llu release/renew answered unknown\n",
           (unsigned long long) kc.sent, (unsigned long long) kc.refused_by_hwm,
           (unsigned long long) kc.replies, (unsigned long long) kc.release_unknown);
    fflush(stdout);
    rg_kc_stats_t flood = { 0 };
    if (cfg.flood > 0)
        s_keycoord_flood(&cfg, &flood);
    printf("rogue: keycoord flood: %llu lease requests sent, %llu not sent (hwm), %llu replies: %llu grants (never released), %llu refusals\n",
           (unsigned long long) flood.sent, (unsigned long long) flood.refused_by_hwm,
           (unsigned long long) flood.replies, (unsigned long long) flood.grants,
           (unsigned long long) flood.not_granted);
    fflush(stdout);

    if (stealing)
        pthread_join(thief, NULL);
    printf("rogue: ventilator: stole %llu batches, %llu records\n",
           (unsigned long long) s_stolen_batches, (unsigned long long) s_stolen_records);
    if (cfg.forge)
        printf("rogue: forgery: %llu stolen batches signed with garbage under %llu leases it was granted, %llu rows pushed\n",
               (unsigned long long) s_forged_leases, (unsigned long long) s_forged_leases,
               (unsigned long long) s_forged_rows);
    fflush(stdout);

    rg_sink_stats_t sk = { 0 };
    s_sink_attack(&cfg, &sk);
    printf("rogue: sink: %llu messages sent: %llu garbage, %llu multi-frame, %llu malformed results, %llu rows under bogus leases, %llu rows under real leases with a wrong key\n",
           (unsigned long long) sk.sent, (unsigned long long) sk.garbage,
           (unsigned long long) sk.multi, (unsigned long long) sk.malformed,
           (unsigned long long) sk.bogus_lease_rows, (unsigned long long) sk.wrong_key_rows);
    printf("rogue: done in %.1f s\n", (double) (zclock_mono() - t0) / 1000.0);
    rs_security_destroy(&s_security);
    return 0;
}
