
/*
 * certmate: the per-process cache of parsed certificates and keys,
 * keyed by certificate id and version.
 */


#ifndef _NGX_CERTMATE_CACHE_H_INCLUDED_
#define _NGX_CERTMATE_CACHE_H_INCLUDED_


#include "ngx_certmate.h"


typedef struct ngx_certmate_cached_s  ngx_certmate_cached_t;
typedef struct ngx_certmate_issuer_s  ngx_certmate_issuer_t;

struct ngx_certmate_cached_s {
    ngx_queue_t             queue;      /* least recently used last */
    ngx_certmate_cached_t  *next;       /* in the hash bucket */
    u_char                  id[NGX_CERTMATE_ID_LEN];
    uint64_t                version;
    X509                   *leaf;
    EVP_PKEY               *key;
    STACK_OF(X509)         *chain;      /* the issuers' certificates */
    ngx_uint_t              nissuers;
    ngx_certmate_issuer_t  *issuers[NGX_CERTMATE_CHAIN_MAX - 1];
};


ngx_int_t ngx_certmate_cache_init(ngx_uint_t size, ngx_log_t *log);
void ngx_certmate_cache_done(void);
ngx_certmate_cached_t *ngx_certmate_cache_get(ngx_certmate_ref_t *ref,
    ngx_log_t *log);


#endif /* _NGX_CERTMATE_CACHE_H_INCLUDED_ */
