
/*
 * certmate: OCSP stapling for the certificates served from the store.
 *
 * The helper walks the served certificates, a batch a tick, and keeps an
 * OCSP response for each in the store: signed here for a certificate of
 * the built-in CA (good for a day: a revoked one is no longer served),
 * fetched from the responder its authorityInfoAccess names for any other
 * (verified against its issuer, the next certificate of its chain).  A
 * response is renewed at half of its validity; a certificate without a
 * responder is looked at again a day later, a failed fetch after a
 * minute, then longer, up to an hour, and the response before is kept
 * meanwhile.  Workers staple what the store has (ngx_http_certmate_ssl.c).
 */


#include "ngx_certmate_stapling.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_http.h"
#include "ngx_certmate_store.h"

#include <openssl/ocsp.h>


#define NGX_CERTMATE_STAPLING_BATCH      200     /* certificates a tick */
#define NGX_CERTMATE_STAPLING_FETCHES    8       /* at once */
#define NGX_CERTMATE_STAPLING_VALIDITY   86400   /* of our own responses */
#define NGX_CERTMATE_STAPLING_NONE       86400   /* no responder: again */
#define NGX_CERTMATE_STAPLING_RETRY      60
#define NGX_CERTMATE_STAPLING_RETRY_MAX  3600
#define NGX_CERTMATE_STAPLING_TIMEOUT    10000   /* ms */
#define NGX_CERTMATE_STAPLING_MAX        65536   /* bytes of a response */


/* a certificate due for a new response */

typedef struct {
    u_char                   id[NGX_CERTMATE_ID_LEN];
    ngx_str_t                chain;         /* DER, leaf first */
    ngx_certmate_staple_t    staple;        /* the one before, if any */
} ngx_certmate_stapling_due_t;


/* a response being fetched */

typedef struct {
    ngx_certmate_http_t            http;
    ngx_certmate_stapling_due_t    due;
    X509                          *issuer;
    OCSP_CERTID                   *certid;
} ngx_certmate_stapling_fetch_t;


typedef struct {
    u_char                           after[NGX_CERTMATE_ID_LEN];
    ngx_uint_t                       scanning;  /* "after" is a position */
    time_t                           rest;      /* the walk ended: pause */
    ngx_uint_t                       busy;
    ngx_certmate_stapling_fetch_t   *fetch[NGX_CERTMATE_STAPLING_FETCHES];
} ngx_certmate_stapling_state_t;


static ngx_int_t ngx_certmate_stapling_walk(ngx_pool_t *pool,
    ngx_array_t *due, ngx_log_t *log);
static ngx_int_t ngx_certmate_stapling_renew(
    ngx_certmate_stapling_due_t *d, ngx_log_t *log);
static ngx_int_t ngx_certmate_stapling_sign(ngx_certmate_ca_signing_t *ca,
    X509 *leaf, ngx_certmate_staple_t *staple, ngx_pool_t *pool,
    ngx_log_t *log);
static ngx_int_t ngx_certmate_stapling_fetch(ngx_certmate_stapling_due_t *d,
    X509 *leaf, X509 *issuer, ngx_log_t *log);
static void ngx_certmate_stapling_done(ngx_certmate_http_t *http);
static ngx_int_t ngx_certmate_stapling_check(
    ngx_certmate_stapling_fetch_t *f, time_t *next_update);
static void ngx_certmate_stapling_failed(ngx_certmate_stapling_due_t *d,
    ngx_str_t *url, ngx_str_t *why, ngx_log_t *log);
static void ngx_certmate_stapling_free(ngx_certmate_stapling_fetch_t *f);


static ngx_certmate_stapling_state_t  ngx_certmate_stapling;


/* helper process only */

ngx_msec_t
ngx_certmate_stapling_tick(ngx_log_t *log)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i;
    ngx_msec_t                    wait;
    ngx_pool_t                   *pool;
    ngx_array_t                   due;
    ngx_certmate_stapling_due_t  *d;

    wait = ngx_certmate_http_run(log);

    if (ngx_time() < ngx_certmate_stapling.rest) {
        return ngx_min(wait, 1000);
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return 1000;
    }

    if (ngx_array_init(&due, pool, 16, sizeof(ngx_certmate_stapling_due_t))
        == NGX_OK
        && ngx_certmate_stapling_walk(pool, &due, log) == NGX_OK)
    {
        d = due.elts;

        for (i = 0; i < due.nelts; i++) {
            rc = ngx_certmate_stapling_renew(&d[i], log);

            if (rc != NGX_OK && rc != NGX_DECLINED) {

                /* the store refuses writes: so it would the batch's rest */

                ngx_certmate_stapling.scanning = 0;
                ngx_certmate_stapling.rest = ngx_time()
                                             + NGX_CERTMATE_STAPLING_RETRY;
                break;
            }
        }
    }

    ngx_destroy_pool(pool);

    return ngx_min(ngx_min(wait, ngx_certmate_http_run(log)), 1000);
}


/*
 * The next batch of served certificates whose response is due; the
 * walk goes on from where it stopped, and rests a second at its end
 */

static ngx_int_t
ngx_certmate_stapling_walk(ngx_pool_t *pool, ngx_array_t *due,
    ngx_log_t *log)
{
    time_t                        now;
    ngx_int_t                     rc;
    ngx_uint_t                    n;
    ngx_certmate_cert_t           cert;
    ngx_certmate_staple_t         staple;
    ngx_certmate_stapling_due_t  *d;

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return NGX_ERROR;
    }

    now = ngx_time();
    rc = NGX_OK;

    for (n = 0; n < NGX_CERTMATE_STAPLING_BATCH; n++) {
        rc = ngx_certmate_store_next(ngx_certmate_stapling.scanning
                                     ? ngx_certmate_stapling.after : NULL,
                                     &cert, log);
        if (rc == NGX_DECLINED) {
            ngx_certmate_stapling.scanning = 0;
            ngx_certmate_stapling.rest = now + 1;
            rc = NGX_OK;
            break;
        }

        if (rc != NGX_OK) {
            break;
        }

        ngx_memcpy(ngx_certmate_stapling.after, cert.id, NGX_CERTMATE_ID_LEN);
        ngx_certmate_stapling.scanning = 1;

        if (cert.revoked || cert.client_only || cert.not_after < now) {
            continue;
        }

        rc = ngx_certmate_store_staple_get(cert.id, &staple, log);

        if (rc == NGX_ERROR) {
            break;
        }

        if (rc == NGX_OK && now < staple.refresh) {
            continue;
        }

        d = ngx_array_push(due);
        if (d == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memzero(d, sizeof(ngx_certmate_stapling_due_t));
        ngx_memcpy(d->id, cert.id, NGX_CERTMATE_ID_LEN);

        d->chain.len = cert.chain.len;
        d->chain.data = ngx_pstrdup(pool, &cert.chain);

        if (rc == NGX_OK) {
            d->staple = staple;
            d->staple.der.data = ngx_pstrdup(pool, &staple.der);
        }

        if (d->chain.data == NULL
            || (rc == NGX_OK && staple.der.len && d->staple.der.data == NULL))
        {
            rc = NGX_ERROR;
            break;
        }

        rc = NGX_OK;
    }

    ngx_certmate_store_read_end();

    return rc;
}


/*
 * A new response for one certificate: signed here, fetched, or none;
 * what the store said of it (NGX_DECLINED: the certificate is gone)
 */

static ngx_int_t
ngx_certmate_stapling_renew(ngx_certmate_stapling_due_t *d, ngx_log_t *log)
{
    int                          i, n;
    X509                        *leaf, *issuer;
    ngx_int_t                    rc;
    ngx_str_t                    ders[NGX_CERTMATE_CHAIN_MAX];
    ngx_uint_t                   count;
    ngx_pool_t                  *pool;
    ngx_certmate_ca_signing_t   *ca;
    STACK_OF(OPENSSL_STRING)    *urls;

    if (ngx_certmate_cert_split(&d->chain, ders, &count) != NGX_OK) {
        return NGX_OK;
    }

    leaf = ngx_certmate_cert_x509(&ders[0], log);
    issuer = (count > 1) ? ngx_certmate_cert_x509(&ders[1], log) : NULL;

    if (leaf == NULL) {
        X509_free(issuer);
        return NGX_OK;
    }

    ca = NULL;
    rc = NGX_OK;

    if (ngx_certmate_store_read_begin(log) == NGX_OK) {
        ca = ngx_certmate_ca_current(log);
        ngx_certmate_store_read_end();
    }

    if (ca && X509_check_issued(ca->cert, leaf) == X509_V_OK) {
        pool = ngx_create_pool(4096, log);

        if (pool
            && ngx_certmate_stapling_sign(ca, leaf, &d->staple, pool, log)
               == NGX_OK)
        {
            rc = ngx_certmate_store_staple_put(d->id, &d->staple, log);
        }

        if (pool) {
            ngx_destroy_pool(pool);
        }

        goto done;
    }

    n = 0;

    if (issuer && X509_check_issued(issuer, leaf) == X509_V_OK) {
        urls = X509_get1_ocsp(leaf);
        n = urls ? sk_OPENSSL_STRING_num(urls) : 0;

        for (i = 0; i < n; i++) {
            if (ngx_strncmp(sk_OPENSSL_STRING_value(urls, i), "http://", 7)
                == 0)
            {
                break;
            }
        }

        if (i < n && ngx_certmate_stapling.busy < NGX_CERTMATE_STAPLING_FETCHES)
        {
            if (ngx_certmate_stapling_fetch(d, leaf, issuer, log) == NGX_OK) {
                X509_email_free(urls);
                issuer = NULL;          /* the fetch has it */
                goto done;
            }
        }

        if (i < n) {

            /* all fetches busy: the next walk comes back to it */

            X509_email_free(urls);
            goto done;
        }

        X509_email_free(urls);
    }

    /* no responder to ask: looked at again in a day */

    d->staple.refresh = ngx_time() + NGX_CERTMATE_STAPLING_NONE;
    rc = ngx_certmate_store_staple_put(d->id, &d->staple, log);

done:

    X509_free(leaf);
    X509_free(issuer);

    return rc;
}


/* a response of our own for a certificate of the built-in CA: good */

static ngx_int_t
ngx_certmate_stapling_sign(ngx_certmate_ca_signing_t *ca, X509 *leaf,
    ngx_certmate_staple_t *staple, ngx_pool_t *pool, ngx_log_t *log)
{
    int               len;
    u_char           *p;
    time_t            now;
    ngx_int_t         rc;
    ASN1_TIME        *this_update, *next_update;
    OCSP_CERTID      *id;
    OCSP_RESPONSE    *resp;
    OCSP_BASICRESP   *basic;

    rc = NGX_ERROR;
    now = ngx_time();

    id = OCSP_cert_to_id(NULL, leaf, ca->cert);
    basic = OCSP_BASICRESP_new();
    this_update = ASN1_TIME_set(NULL, now);
    next_update = ASN1_TIME_set(NULL, now + NGX_CERTMATE_STAPLING_VALIDITY);
    resp = NULL;

    if (id == NULL || basic == NULL || this_update == NULL
        || next_update == NULL
        || OCSP_basic_add1_status(basic, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL,
                                  this_update, next_update)
           == NULL
        || OCSP_basic_sign(basic, ca->signer ? ca->signer : ca->cert,
                           ca->signer ? ca->signer_key : ca->key,
                           EVP_sha256(), NULL, 0)
           != 1)
    {
        goto done;
    }

    resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);

    len = resp ? i2d_OCSP_RESPONSE(resp, NULL) : 0;
    if (len <= 0) {
        goto done;
    }

    staple->der.data = ngx_pnalloc(pool, len);
    if (staple->der.data == NULL) {
        goto done;
    }

    p = staple->der.data;
    staple->der.len = i2d_OCSP_RESPONSE(resp, &p);

    staple->produced = now;
    staple->next_update = now + NGX_CERTMATE_STAPLING_VALIDITY;
    staple->refresh = now + NGX_CERTMATE_STAPLING_VALIDITY / 2;
    staple->failures = 0;

    rc = NGX_OK;

done:

    if (rc != NGX_OK) {
        ngx_ssl_error(NGX_LOG_CRIT, log, 0,
                      "certmate cannot sign an OCSP response to staple");
    }

    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    ASN1_TIME_free(this_update);
    ASN1_TIME_free(next_update);

    return rc;
}


/* asks the responder of a foreign certificate */

static ngx_int_t
ngx_certmate_stapling_fetch(ngx_certmate_stapling_due_t *d, X509 *leaf,
    X509 *issuer, ngx_log_t *log)
{
    int                              len;
    u_char                          *p;
    ngx_uint_t                       slot;
    ngx_pool_t                      *pool;
    OCSP_CERTID                     *id;
    OCSP_REQUEST                    *req;
    STACK_OF(OPENSSL_STRING)        *urls;
    ngx_certmate_stapling_fetch_t   *f;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    f = ngx_pcalloc(pool, sizeof(ngx_certmate_stapling_fetch_t));
    if (f == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    f->http.pool = pool;
    f->http.log = log;
    f->due = *d;

    f->due.chain.len = 0;
    f->due.staple.der.data = ngx_pstrdup(pool, &d->staple.der);

    req = OCSP_REQUEST_new();
    f->certid = OCSP_cert_to_id(NULL, leaf, issuer);
    id = f->certid ? OCSP_CERTID_dup(f->certid) : NULL;

    if (req == NULL || id == NULL || OCSP_request_add0_id(req, id) == NULL) {
        OCSP_CERTID_free(id);
        goto failed;
    }

    len = i2d_OCSP_REQUEST(req, NULL);
    f->http.body.data = (len > 0) ? ngx_pnalloc(pool, len) : NULL;
    if (f->http.body.data == NULL) {
        goto failed;
    }

    p = f->http.body.data;
    f->http.body.len = i2d_OCSP_REQUEST(req, &p);

    urls = X509_get1_ocsp(leaf);

    for (len = 0; urls && len < sk_OPENSSL_STRING_num(urls); len++) {
        p = (u_char *) sk_OPENSSL_STRING_value(urls, len);

        if (ngx_strncmp(p, "http://", 7) == 0) {
            f->http.url.len = ngx_strlen(p);
            f->http.url.data = ngx_pnalloc(pool, f->http.url.len + 1);

            if (f->http.url.data) {
                ngx_cpystrn(f->http.url.data, p, f->http.url.len + 1);
            }

            break;
        }
    }

    X509_email_free(urls);

    if (f->http.url.data == NULL) {
        goto failed;
    }

    f->http.method = NGX_HTTP_POST;
    f->http.content_type = "application/ocsp-request";
    f->http.accept = "application/ocsp-response";
    f->http.timeout = NGX_CERTMATE_STAPLING_TIMEOUT;
    f->http.max_response = NGX_CERTMATE_STAPLING_MAX;
    f->http.handler = ngx_certmate_stapling_done;
    f->http.data = f;
    f->issuer = issuer;

    if (ngx_certmate_http_start(&f->http) != NGX_OK) {
        f->issuer = NULL;
        goto failed;
    }

    OCSP_REQUEST_free(req);

    for (slot = 0; ngx_certmate_stapling.fetch[slot]; slot++) {
        /* void */
    }

    ngx_certmate_stapling.fetch[slot] = f;
    ngx_certmate_stapling.busy++;

    return NGX_OK;

failed:

    OCSP_REQUEST_free(req);
    ngx_certmate_stapling_free(f);

    return NGX_ERROR;
}


static void
ngx_certmate_stapling_done(ngx_certmate_http_t *http)
{
    ngx_certmate_stapling_fetch_t *f = http->data;

    time_t      now, next_update;
    ngx_str_t   why;
    ngx_uint_t  slot;
    u_char      buf[NGX_MAX_ERROR_STR];

    for (slot = 0; slot < NGX_CERTMATE_STAPLING_FETCHES; slot++) {
        if (ngx_certmate_stapling.fetch[slot] == f) {
            ngx_certmate_stapling.fetch[slot] = NULL;
            ngx_certmate_stapling.busy--;
        }
    }

    if (http->status != 200 || ngx_certmate_stapling_check(f, &next_update)
                               != NGX_OK)
    {
        if (http->status == 0) {
            why = http->error;

        } else {
            why.data = buf;
            why.len = ngx_snprintf(buf, sizeof(buf), http->status == 200
                                   ? "not an answer of the issuer for the "
                                     "certificate, or not valid now"
                                   : "status %ui", http->status)
                      - buf;
        }

        ngx_certmate_stapling_failed(&f->due, &http->url, &why, http->log);
        goto done;
    }

    now = ngx_time();

    f->due.staple.der = http->response;
    f->due.staple.produced = now;
    f->due.staple.next_update = next_update;
    f->due.staple.refresh = now + (next_update - now) / 2;
    f->due.staple.failures = 0;

    (void) ngx_certmate_store_staple_put(f->due.id, &f->due.staple,
                                         http->log);

    ngx_log_error(NGX_LOG_INFO, http->log, 0,
                  "certmate got an OCSP response to staple from \"%V\"",
                  &http->url);

done:

    ngx_certmate_stapling_free(f);
}


/* a successful response for the certificate, by its issuer, still valid */

static ngx_int_t
ngx_certmate_stapling_check(ngx_certmate_stapling_fetch_t *f,
    time_t *next_update)
{
    int                      status, reason;
    ngx_int_t                rc;
    X509_STORE              *store;
    const u_char            *p;
    OCSP_RESPONSE           *resp;
    OCSP_BASICRESP          *basic;
    STACK_OF(X509)          *certs;
    ASN1_GENERALIZEDTIME    *revoked, *this_update, *next;

    rc = NGX_ERROR;
    basic = NULL;
    store = NULL;
    certs = NULL;

    p = f->http.response.data;
    resp = d2i_OCSP_RESPONSE(NULL, &p, f->http.response.len);

    if (resp == NULL
        || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    {
        goto done;
    }

    basic = OCSP_response_get1_basic(resp);
    store = X509_STORE_new();
    certs = sk_X509_new_null();

    if (basic == NULL || store == NULL || certs == NULL
        || X509_STORE_add_cert(store, f->issuer) != 1
        || sk_X509_push(certs, f->issuer) == 0
        || OCSP_basic_verify(basic, certs, store, OCSP_TRUSTOTHER) != 1
        || OCSP_resp_find_status(basic, f->certid, &status, &reason,
                                 &revoked, &this_update, &next)
           != 1
        || OCSP_check_validity(this_update, next, 300, -1) != 1)
    {
        goto done;
    }

    *next_update = next ? ngx_certmate_cert_time(next)
                        : ngx_time() + NGX_CERTMATE_STAPLING_NONE;

    rc = NGX_OK;

done:

    ERR_clear_error();

    sk_X509_free(certs);
    X509_STORE_free(store);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);

    return rc;
}


/* a fetch that failed: the response before stays, tried again later */

static void
ngx_certmate_stapling_failed(ngx_certmate_stapling_due_t *d, ngx_str_t *url,
    ngx_str_t *why, ngx_log_t *log)
{
    time_t      delay;
    ngx_uint_t  i;

    d->staple.failures++;

    for (delay = NGX_CERTMATE_STAPLING_RETRY, i = 1;
         i < d->staple.failures && delay < NGX_CERTMATE_STAPLING_RETRY_MAX;
         i++)
    {
        delay *= 2;
    }

    delay = ngx_min(delay, NGX_CERTMATE_STAPLING_RETRY_MAX);
    d->staple.refresh = ngx_time() + delay;

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "certmate cannot get an OCSP response to staple from "
                  "\"%V\": %V; again in %T s", url, why, delay);

    (void) ngx_certmate_store_staple_put(d->id, &d->staple, log);
}


static void
ngx_certmate_stapling_free(ngx_certmate_stapling_fetch_t *f)
{
    X509_free(f->issuer);
    OCSP_CERTID_free(f->certid);
    ngx_destroy_pool(f->http.pool);
}
