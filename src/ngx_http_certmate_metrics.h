
/*
 * certmate: counters of every process in a shared memory zone, and the
 * Prometheus metrics location.
 */


#ifndef _NGX_HTTP_CERTMATE_METRICS_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_METRICS_H_INCLUDED_


#include "ngx_certmate.h"


/* how a handshake of a "certmate_certificate on" server got its own */

#define NGX_CERTMATE_HANDSHAKE_STORE      0   /* the name's, from the store */
#define NGX_CERTMATE_HANDSHAKE_FALLBACK   1   /* the server's ssl_certificate */
#define NGX_CERTMATE_HANDSHAKE_DEFAULT    2   /* certmate_default_certificate */
#define NGX_CERTMATE_HANDSHAKE_UNKNOWN    3   /* none: unrecognized_name */
#define NGX_CERTMATE_HANDSHAKE_ERROR      4   /* none: the store failed */
#define NGX_CERTMATE_HANDSHAKES           5

/* a client verification's result, and its revocation status (0-4) */

#define NGX_CERTMATE_VERIFY_SUCCESS       0
#define NGX_CERTMATE_VERIFY_FAILED        1
#define NGX_CERTMATE_VERIFY_NONE          2
#define NGX_CERTMATE_VERIFY_RESULTS       3
#define NGX_CERTMATE_REVOCATIONS          5

#define NGX_CERTMATE_ACME_SUCCESS         0
#define NGX_CERTMATE_ACME_FAILURE         1


typedef struct {
    ngx_atomic_t   handshakes[NGX_CERTMATE_HANDSHAKES];
    ngx_atomic_t   verifications[NGX_CERTMATE_VERIFY_RESULTS]
                                [NGX_CERTMATE_REVOCATIONS];
    ngx_atomic_t   acme_orders[2];
    ngx_atomic_t   helper_run;      /* when the helper last ran, Unix time */
} ngx_certmate_counters_t;


extern ngx_certmate_counters_t  *ngx_certmate_counters;


#define ngx_certmate_count(counter)                                           \
    (void) (ngx_certmate_counters                                             \
            && ngx_atomic_fetch_add(&ngx_certmate_counters->counter, 1))


ngx_int_t ngx_http_certmate_metrics_zone(ngx_conf_t *cf);
ngx_int_t ngx_http_certmate_metrics_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_CERTMATE_METRICS_H_INCLUDED_ */
