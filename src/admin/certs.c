/* certs: see certs.h. */
#include "certs.h"
#include "commands.h"
#include "rs_log.h"

#include <czmq.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool s_is_name(const char *name)
{
    if (!name || !*name || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!(*p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Makes dir/name.cert and dir/name.cert_secret (0600) unless present.
 * Returns 1 when made, 0 when present, -1 on failure. */
static int s_make(const char *dir, const char *name, zcert_t **made)
{
    char path[4096], secret[4200];
    snprintf(path, sizeof path, "%s/%s.cert", dir, name);
    snprintf(secret, sizeof secret, "%s_secret", path);
    if (access(path, F_OK) == 0 && access(secret, F_OK) == 0) {
        *made = zcert_load(path);
        return *made ? 0 : -1;
    }
    zcert_t *cert = zcert_new();
    if (!cert)
        return -1;
    zcert_set_meta(cert, "name", "%s", name);
    /* The secret file must never be readable by others, not even briefly. */
    mode_t old = umask(077);
    int rc = zcert_save(cert, path);
    umask(old);
    if (rc != 0 || chmod(secret, 0600) != 0 || chmod(path, 0644) != 0) {
        rs_error("cannot write certificate %s: %s", path, strerror(errno));
        zcert_destroy(&cert);
        return -1;
    }
    *made = cert;
    return 1;
}

int admin_certs(const char *dir, const char *worker, const char *revoke)
{
    char allowed[4096];
    snprintf(allowed, sizeof allowed, "%s/allowed", dir);
    if (revoke) {
        if (!s_is_name(revoke)) {
            rs_error("'%s' is not a certificate name; expected letters, digits, '-' or '_'", revoke);
            return -1;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.cert", allowed, revoke);
        if (unlink(path) != 0) {
            rs_error("cannot revoke %s: %s is %s", revoke, path,
                     errno == ENOENT ? "not in the allow-list" : strerror(errno));
            return -1;
        }
        printf("revoked %s: removed %s; servers refuse new connections from it at once and its messages within a second\n",
               revoke, path);
        return 0;
    }
    if (!s_is_name(worker)) {
        rs_error("'%s' is not a certificate name; expected letters, digits, '-' or '_'", worker);
        return -1;
    }
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || (mkdir(allowed, 0755) != 0 && errno != EEXIST)) {
        rs_error("cannot create %s: %s", allowed, strerror(errno));
        return -1;
    }
    static const char *services[] = { "ventilator", "keycoord", "sink" };
    for (size_t i = 0; i < 3; i++) {
        zcert_t *cert = NULL;
        int rc = s_make(dir, services[i], &cert);
        if (rc < 0)
            return -1;
        printf("%s %s certificate %s/%s.cert\n", rc ? "made" : "kept", services[i], dir,
               services[i]);
        zcert_destroy(&cert);
    }
    zcert_t *cert = NULL;
    int rc = s_make(dir, worker, &cert);
    if (rc < 0)
        return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.cert", allowed, worker);
    if (zcert_save_public(cert, path) != 0) {
        rs_error("cannot write %s: %s", path, strerror(errno));
        zcert_destroy(&cert);
        return -1;
    }
    printf("%s worker certificate %s/%s.cert, allowed in %s\n", rc ? "made" : "kept", dir, worker,
           allowed);
    zcert_destroy(&cert);
    return 0;
}

int cmd_certs(rs_config_t *cfg, const admin_pos_t *pos, PGconn *conn)
{
    (void) pos;
    (void) conn;
    return admin_certs(rs_config_str(cfg, "dir"), rs_config_str(cfg, "worker"),
                       rs_config_str(cfg, "revoke"));
}
