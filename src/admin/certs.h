/* certs: 'recsign certs', which makes the CurveZMQ certificates of a
 * deployment: one per service and one per worker, with the workers' public
 * certificates in the allow-list directory (layout in lib/rs_security.h). */
#ifndef ADMIN_CERTS_H
#define ADMIN_CERTS_H

/* Creates in dir (0700, made if absent) whatever of these is missing: the
 * ventilator, keycoord and sink certificates, and the client certificate
 * `worker` (copied, public part only, into dir/allowed/). Existing files
 * are kept. With revoke set, instead removes that worker's certificate
 * from the allow-list. Prints what it did. Returns 0, or -1 (logged). */
int admin_certs(const char *dir, const char *worker, const char *revoke)
    __attribute__((warn_unused_result));

#endif
