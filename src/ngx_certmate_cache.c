
/*
 * certmate: the per-process cache of parsed certificates and keys.
 *
 * The handshake path asks for a certificate by the id and version the
 * names index gave; an entry of an older version is parsed again, so
 * a replaced record is live at the next handshake.  The cache holds at
 * most "certmate_certificate_cache" entries and drops the least
 * recently used.  Issuer certificates, which many entries have in
 * common, are parsed once and shared.  Must be called inside a store
 * read.
 */


#include "ngx_certmate_cache.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_store.h"


#define NGX_CERTMATE_ISSUER_BUCKETS  256


struct ngx_certmate_issuer_s {
    ngx_certmate_issuer_t   *next;
    uint32_t                 hash;
    ngx_uint_t               refs;      /* cache entries that use it */
    X509                    *x509;
    size_t                   len;
    u_char                   der[1];
};


typedef struct {
    ngx_certmate_cached_t  **buckets;
    ngx_uint_t               mask;
    ngx_uint_t               size;
    ngx_uint_t               max;
    ngx_queue_t              lru;
    ngx_certmate_issuer_t   *issuers[NGX_CERTMATE_ISSUER_BUCKETS];
} ngx_certmate_cache_t;


static ngx_certmate_cached_t **ngx_certmate_cache_bucket(u_char *id);
static ngx_int_t ngx_certmate_cache_fill(ngx_certmate_cached_t *cached,
    ngx_certmate_ref_t *ref, ngx_log_t *log);
static ngx_certmate_issuer_t *ngx_certmate_cache_issuer(ngx_str_t *der,
    ngx_log_t *log);
static void ngx_certmate_cache_clear(ngx_certmate_cached_t *cached);
static void ngx_certmate_cache_evict(void);


static ngx_certmate_cache_t  ngx_certmate_cache;


ngx_int_t
ngx_certmate_cache_init(ngx_uint_t size, ngx_log_t *log)
{
    ngx_uint_t  n;

    n = 16;
    while (n < size) {
        n <<= 1;
    }

    ngx_certmate_cache.buckets = ngx_calloc(n * sizeof(void *), log);
    if (ngx_certmate_cache.buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_certmate_cache.mask = n - 1;
    ngx_certmate_cache.size = 0;
    ngx_certmate_cache.max = size;
    ngx_queue_init(&ngx_certmate_cache.lru);

    return NGX_OK;
}


void
ngx_certmate_cache_done(void)
{
    while (ngx_certmate_cache.size) {
        ngx_certmate_cache_evict();
    }

    ngx_free(ngx_certmate_cache.buckets);
    ngx_certmate_cache.buckets = NULL;
}


ngx_certmate_cached_t *
ngx_certmate_cache_get(ngx_certmate_ref_t *ref, ngx_log_t *log)
{
    ngx_certmate_cached_t  *cached, **bucket;

    bucket = ngx_certmate_cache_bucket(ref->id);

    for (cached = *bucket; cached; cached = cached->next) {
        if (ngx_memcmp(cached->id, ref->id, NGX_CERTMATE_ID_LEN) == 0) {
            break;
        }
    }

    if (cached) {
        ngx_queue_remove(&cached->queue);
        ngx_queue_insert_head(&ngx_certmate_cache.lru, &cached->queue);

        if (cached->version == ref->version) {
            return cached;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, log, 0,
                       "certmate cache stale version %uL", cached->version);

        ngx_certmate_cache_clear(cached);

        if (ngx_certmate_cache_fill(cached, ref, log) != NGX_OK) {
            return NULL;
        }

        return cached;
    }

    if (ngx_certmate_cache.size == ngx_certmate_cache.max) {
        ngx_certmate_cache_evict();
    }

    cached = ngx_calloc(sizeof(ngx_certmate_cached_t), log);
    if (cached == NULL) {
        return NULL;
    }

    ngx_memcpy(cached->id, ref->id, NGX_CERTMATE_ID_LEN);

    if (ngx_certmate_cache_fill(cached, ref, log) != NGX_OK) {
        ngx_certmate_cache_clear(cached);
        ngx_free(cached);
        return NULL;
    }

    cached->next = *bucket;
    *bucket = cached;
    ngx_queue_insert_head(&ngx_certmate_cache.lru, &cached->queue);
    ngx_certmate_cache.size++;

    return cached;
}


static ngx_certmate_cached_t **
ngx_certmate_cache_bucket(u_char *id)
{
    uint32_t  hash;

    /* ids are SHA-256 bytes already */

    ngx_memcpy(&hash, id, sizeof(uint32_t));

    return &ngx_certmate_cache.buckets[hash & ngx_certmate_cache.mask];
}


static ngx_int_t
ngx_certmate_cache_fill(ngx_certmate_cached_t *cached,
    ngx_certmate_ref_t *ref, ngx_log_t *log)
{
    ngx_int_t                rc;
    ngx_uint_t               i, n;
    ngx_certmate_cert_t      cert;
    ngx_certmate_issuer_t   *issuer;
    ngx_str_t                ders[NGX_CERTMATE_CHAIN_MAX];

    rc = ngx_certmate_store_get(ref->id, &cert, log);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store names a certificate it does not have");
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, log, 0,
                   "certmate cache parse version %uL", cert.version);

    if (ngx_certmate_cert_split(&cert.chain, ders, &n) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged certificate chain");
        return NGX_ERROR;
    }

    cached->leaf = ngx_certmate_cert_x509(&ders[0], log);
    if (cached->leaf == NULL) {
        return NGX_ERROR;
    }

    cached->key = ngx_certmate_key_decode(cert.key_type, &cert.key, log);
    if (cached->key == NULL) {
        return NGX_ERROR;
    }

    cached->chain = sk_X509_new_reserve(NULL, n - 1);
    if (cached->chain == NULL) {
        return NGX_ERROR;
    }

    for (i = 1; i < n; i++) {
        issuer = ngx_certmate_cache_issuer(&ders[i], log);
        if (issuer == NULL) {
            return NGX_ERROR;
        }

        cached->issuers[cached->nissuers++] = issuer;
        (void) sk_X509_push(cached->chain, issuer->x509);
    }

    cached->version = cert.version;

    return NGX_OK;
}


/* a shared issuer certificate, parsed at its first use */

static ngx_certmate_issuer_t *
ngx_certmate_cache_issuer(ngx_str_t *der, ngx_log_t *log)
{
    uint32_t                hash;
    ngx_certmate_issuer_t  *issuer, **bucket;

    hash = ngx_murmur_hash2(der->data, der->len);
    bucket = &ngx_certmate_cache.issuers[hash % NGX_CERTMATE_ISSUER_BUCKETS];

    for (issuer = *bucket; issuer; issuer = issuer->next) {
        if (issuer->hash == hash
            && issuer->len == der->len
            && ngx_memcmp(issuer->der, der->data, der->len) == 0)
        {
            issuer->refs++;
            return issuer;
        }
    }

    issuer = ngx_alloc(offsetof(ngx_certmate_issuer_t, der) + der->len, log);
    if (issuer == NULL) {
        return NULL;
    }

    issuer->x509 = ngx_certmate_cert_x509(der, log);
    if (issuer->x509 == NULL) {
        ngx_free(issuer);
        return NULL;
    }

    issuer->hash = hash;
    issuer->refs = 1;
    issuer->len = der->len;
    ngx_memcpy(issuer->der, der->data, der->len);

    issuer->next = *bucket;
    *bucket = issuer;

    return issuer;
}


static void
ngx_certmate_cache_clear(ngx_certmate_cached_t *cached)
{
    ngx_uint_t               i;
    ngx_certmate_issuer_t   *issuer, **p;

    for (i = 0; i < cached->nissuers; i++) {
        issuer = cached->issuers[i];

        if (--issuer->refs) {
            continue;
        }

        p = &ngx_certmate_cache.issuers[issuer->hash
                                        % NGX_CERTMATE_ISSUER_BUCKETS];

        while (*p != issuer) {
            p = &(*p)->next;
        }

        *p = issuer->next;

        X509_free(issuer->x509);
        ngx_free(issuer);
    }

    X509_free(cached->leaf);
    EVP_PKEY_free(cached->key);
    sk_X509_free(cached->chain);

    cached->leaf = NULL;
    cached->key = NULL;
    cached->chain = NULL;
    cached->nissuers = 0;
    cached->version = 0;
}


static void
ngx_certmate_cache_evict(void)
{
    ngx_queue_t             *q;
    ngx_certmate_cached_t   *cached, **p;

    q = ngx_queue_last(&ngx_certmate_cache.lru);
    cached = ngx_queue_data(q, ngx_certmate_cached_t, queue);

    for (p = ngx_certmate_cache_bucket(cached->id); *p; p = &(*p)->next) {
        if (*p == cached) {
            *p = cached->next;
            break;
        }
    }

    ngx_queue_remove(q);
    ngx_certmate_cache_clear(cached);
    ngx_free(cached);

    ngx_certmate_cache.size--;
}
