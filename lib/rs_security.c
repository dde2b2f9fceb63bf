/* rs_security: see rs_security.h. */
#include "rs_security.h"
#include "rs_log.h"
#include "rs_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_ZAP_DOMAIN "recsign"
#define S_ALLOW_CHECK_US 1000000

struct rs_security_t {
    bool plain;
    char *dir;
    char *own_name;         /* the name of our certificate, e.g. "keycoord", "worker-b" */
    zcert_t *own;           /* our certificate, with its secret key */
    zactor_t *auth;         /* ZAP authenticator (servers) */
    char *allowed_dir;
    zhashx_t *allowed;      /* z85 public key -> "" */
    struct timespec allowed_mtime;
    int64_t next_check_us;
};

/* Reads the allow-list directory into a set of public keys. */
static void s_load_allowed(rs_security_t *self)
{
    zhashx_purge(self->allowed);
    zdir_t *dir = zdir_new(self->allowed_dir, NULL);
    if (!dir)
        return;
    zlist_t *files = zdir_list(dir);
    for (zfile_t *file = zlist_first(files); file; file = zlist_next(files)) {
        const char *name = zfile_filename(file, NULL);
        size_t len = strlen(name);
        if (len < 5 || strcmp(name + len - 5, ".cert") != 0)
            continue;
        zcert_t *cert = zcert_load(name);
        if (cert) {
            zhashx_update(self->allowed, zcert_public_txt(cert), (void *) "");
            zcert_destroy(&cert);
        }
    }
    zlist_destroy(&files);
    zdir_destroy(&dir);
}

rs_security_t *rs_security_new(bool plain, const char *certs_dir, const char *own,
                               bool allow_list, bool *bad_config, char *err, size_t err_size)
{
    bool ignored;
    if (!bad_config)
        bad_config = &ignored;
    *bad_config = true; /* every failure below but two is the configuration's */
    rs_security_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        *bad_config = false;
        return NULL;
    }
    self->plain = plain;
    if (plain) {
        rs_warn("*** PLAIN MODE: sockets are neither authenticated nor encrypted; anyone who can reach them can take leases, inject signatures and read keys. For local development only. ***");
        return self;
    }
    if (!certs_dir) {
        snprintf(err, err_size, "no certificate directory; expected --certs DIR (made by 'recsign certs') or, for local development only, --insecure-plain");
        free(self);
        return NULL;
    }
    self->dir = strdup(certs_dir);
    self->own_name = strdup(own);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cert", certs_dir, own);
    self->own = zcert_load(path);
    struct stat st;
    char secret[4200];
    snprintf(secret, sizeof secret, "%s_secret", path);
    if (!self->own || stat(secret, &st) != 0) {
        snprintf(err, err_size, "cannot load certificate %s with its secret key %s; expected files made by 'recsign certs --dir %s'",
                 path, secret, certs_dir);
        rs_security_destroy(&self);
        return NULL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, err_size, "secret key file %s has mode %04o; expected 0600 (readable by its owner only)",
                 secret, (unsigned) (st.st_mode & 07777));
        rs_security_destroy(&self);
        return NULL;
    }
    if (allow_list) {
        snprintf(path, sizeof path, "%s/allowed", certs_dir);
        self->allowed_dir = strdup(path);
        self->allowed = zhashx_new();
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, err_size, "no allow-list directory %s; expected the public certificates of allowed workers there",
                     path);
            rs_security_destroy(&self);
            return NULL;
        }
        self->allowed_mtime = st.st_mtim;
        s_load_allowed(self);
        self->auth = zactor_new(zauth, NULL);
        if (!self->auth) {
            *bad_config = false;
            snprintf(err, err_size, "cannot start the ZAP authenticator");
            rs_security_destroy(&self);
            return NULL;
        }
        zstr_sendx(self->auth, "CURVE", path, NULL);
        zsock_wait(self->auth);
        rs_info("CURVE: serving as %s; %zu allowed client certificates in %s", own,
                zhashx_size(self->allowed), path);
    }
    else
        rs_info("CURVE: connecting as %s (public key %s)", own, zcert_public_txt(self->own));
    return self;
}

void rs_security_destroy(rs_security_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rs_security_t *self = *self_p;
    zactor_destroy(&self->auth);
    zcert_destroy(&self->own);
    zhashx_destroy(&self->allowed);
    free(self->allowed_dir);
    free(self->own_name);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

int rs_security_serve(rs_security_t *self, zsock_t *sock, char *err, size_t err_size)
{
    if (self->plain)
        return 0;
    zcert_apply(self->own, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, S_ZAP_DOMAIN);
    (void) err;
    (void) err_size;
    return 0;
}

/* The public certificate of `service`, DIR/<service>.cert, or NULL with the
 * reason in err. */
static zcert_t *s_load_peer(rs_security_t *self, const char *service, char *err, size_t err_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.cert", self->dir, service);
    zcert_t *cert = zcert_load(path);
    if (!cert)
        snprintf(err, err_size, "cannot load the %s's public certificate %s; expected it copied from the %s's host",
                 service, path, service);
    return cert;
}

int rs_security_check_peer(rs_security_t *self, const char *service, char *err, size_t err_size)
{
    if (self->plain)
        return 0;
    zcert_t *cert = s_load_peer(self, service, err, err_size);
    if (!cert)
        return -1;
    zcert_destroy(&cert);
    return 0;
}

int rs_security_connect(rs_security_t *self, zsock_t *sock, const char *service, char *err,
                        size_t err_size)
{
    if (self->plain)
        return 0;
    zcert_t *server = s_load_peer(self, service, err, err_size);
    if (!server)
        return -1;
    zcert_apply(self->own, sock);
    zsock_set_curve_serverkey(sock, zcert_public_txt(server));
    zcert_destroy(&server);
    return 0;
}

/* Re-reads the allow-list when its directory changed since the last read. */
static void s_refresh_allowed(rs_security_t *self)
{
    struct stat st;
    if (stat(self->allowed_dir, &st) == 0
        && (st.st_mtim.tv_sec != self->allowed_mtime.tv_sec
            || st.st_mtim.tv_nsec != self->allowed_mtime.tv_nsec)) {
        self->allowed_mtime = st.st_mtim;
        s_load_allowed(self);
        rs_info("allow-list changed: %zu allowed client certificates", zhashx_size(self->allowed));
    }
}

bool rs_security_allowed(rs_security_t *self, zframe_t *frame)
{
    if (self->plain || !self->allowed)
        return true;
    /* Revocations: a listed sender is checked against the directory at
     * most once a second (a stat per message would cost the hot path). */
    int64_t now = rs_mono_us();
    if (now >= self->next_check_us) {
        self->next_check_us = now + S_ALLOW_CHECK_US;
        s_refresh_allowed(self);
    }
    const char *user = zframe_meta(frame, "User-Id");
    if (!user)
        return false;
    if (zhashx_lookup(self->allowed, user))
        return true;
    /* An unlisted sender passed the handshake, so the authenticator found
     * its key on disk: it was allowed since our last read. Read again now,
     * so that a newly allowed certificate is accepted on its first
     * message. */
    s_refresh_allowed(self);
    return zhashx_lookup(self->allowed, user) != NULL;
}

const char *rs_security_name(const rs_security_t *self)
{
    return self->own_name ? self->own_name : "(plain)";
}

void rs_security_sender_tag(rs_security_t *self, zframe_t *frame,
                            char tag[RS_SENDER_TAG_CHARS + 1])
{
    tag[0] = '\0';
    if (self->plain)
        return;
    /* Ten of the key's 40 Z85 characters: 50 bits, plenty to tell
     * certificates apart, short enough to leave room in a holder name. */
    const char *user = zframe_meta(frame, "User-Id");
    snprintf(tag, RS_SENDER_TAG_CHARS + 1, "%s", user ? user : "?");
}

void rs_security_qualify(rs_security_t *self, zframe_t *frame, char *name, size_t name_size)
{
    char tag[RS_SENDER_TAG_CHARS + 1];
    rs_security_sender_tag(self, frame, tag);
    if (!tag[0])
        return;
    char qualified[512];
    snprintf(qualified, sizeof qualified, "%s/%s", tag, name);
    snprintf(name, name_size, "%s", qualified);
}

bool rs_security_plain(const rs_security_t *self)
{
    return self->plain;
}
