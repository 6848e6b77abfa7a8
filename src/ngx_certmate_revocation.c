
/*
 * certmate: the helper keeps revocation data of foreign CAs in the
 * store, for workers to look up at requests.
 *
 * CRLs: those of "certmate_crl_fetch", refetched at their interval, and
 * the distribution points of client certificates seen at handshakes,
 * refetched hourly; both no later than the CRL's nextUpdate.  A CRL is
 * taken only with a good signature of a "certmate_client_ca"
 * certificate or of the CA its distribution point was seen with; its
 * entries replace the issuer's old ones in one transaction.
 *
 * OCSP: every foreign client certificate seen with an OCSP responder
 * gets an answer asked for, signature-checked against its issuer, and
 * refreshed at half of its validity.
 *
 * Failures keep what was there (it turns stale in time) and are retried
 * with a doubling delay.
 */


#include "ngx_certmate_revocation.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_http.h"
#include "ngx_certmate_store.h"


#define NGX_CERTMATE_REVOCATION_SCAN      1000      /* ms */
#define NGX_CERTMATE_REVOCATION_PARALLEL  4
#define NGX_CERTMATE_REVOCATION_TIMEOUT   10000     /* ms */
#define NGX_CERTMATE_REVOCATION_RETRY     5         /* s, doubled */
#define NGX_CERTMATE_REVOCATION_REFRESH   3600      /* s */
#define NGX_CERTMATE_REVOCATION_SKEW      300       /* s */
#define NGX_CERTMATE_CRL_MAX_SIZE         (64 * 1024 * 1024)


typedef struct {
    ngx_certmate_http_t              http;
    ngx_http_certmate_main_conf_t   *cmmcf;
    ngx_certmate_crl_source_t        crl;       /* a CRL's fetch */
    ngx_certmate_ocsp_entry_t        entry;     /* else an OCSP answer's */
    ngx_uint_t                       ocsp;
    time_t                           interval;
    X509                            *issuer;
    OCSP_CERTID                     *id;
} ngx_certmate_revocation_fetch_t;


typedef struct {
    ngx_uint_t                        ready;
    ngx_msec_t                        scan_at;
    ngx_certmate_revocation_fetch_t  *busy[NGX_CERTMATE_REVOCATION_PARALLEL];
} ngx_certmate_revocation_state_t;


static ngx_int_t ngx_certmate_revocation_scan(
    ngx_http_certmate_main_conf_t *cmmcf, ngx_log_t *log);
static ngx_int_t ngx_certmate_revocation_busy(ngx_str_t *key);
static ngx_int_t ngx_certmate_revocation_start(
    ngx_http_certmate_main_conf_t *cmmcf, ngx_certmate_crl_source_t *crl,
    ngx_certmate_ocsp_entry_t *entry, ngx_log_t *log);
static ngx_int_t ngx_certmate_revocation_copy(ngx_pool_t *pool,
    ngx_str_t *dst, ngx_str_t *src);
static ngx_int_t ngx_certmate_ocsp_request(
    ngx_certmate_revocation_fetch_t *f);
static void ngx_certmate_crl_done(ngx_certmate_http_t *http);
static void ngx_certmate_revocation_http_error(ngx_certmate_http_t *http,
    ngx_str_t *error);
static X509_CRL *ngx_certmate_crl_parse(ngx_str_t *body);
static X509 *ngx_certmate_crl_signer(ngx_certmate_revocation_fetch_t *f,
    X509_CRL *crl);
static ngx_int_t ngx_certmate_crl_entries(ngx_pool_t *pool, X509_CRL *crl,
    ngx_certmate_crl_entry_t **entries, ngx_uint_t *n);
static void ngx_certmate_ocsp_done(ngx_certmate_http_t *http);
static const char *ngx_certmate_ocsp_answer(ngx_str_t *der, X509 *issuer,
    OCSP_CERTID *id, ngx_certmate_revocation_t *answer);
static time_t ngx_certmate_revocation_retry(ngx_uint_t failures,
    time_t interval);
static void ngx_certmate_revocation_done(ngx_certmate_revocation_fetch_t *f);


static ngx_certmate_revocation_state_t  ngx_certmate_revocation;


/* "certmate_crl_fetch URL [interval=TIME]" */

char *
ngx_certmate_crl_fetch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    ngx_str_t                 *value, v;
    ngx_uint_t                 i;
    ngx_certmate_crl_fetch_t  *fetch;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "http://", 7) != 0
        && ngx_strncmp(value[1].data, "https://", 8) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not an http or https URL", &value[1]);
        return NGX_CONF_ERROR;
    }

    fetch = cmmcf->crl_fetches.elts;

    for (i = 0; i < cmmcf->crl_fetches.nelts; i++) {
        if (fetch[i].url.len == value[1].len
            && ngx_strncmp(fetch[i].url.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate CRL \"%V\", first in %s:%ui",
                               &value[1], fetch[i].file, fetch[i].line);
            return NGX_CONF_ERROR;
        }
    }

    fetch = ngx_array_push(&cmmcf->crl_fetches);
    if (fetch == NULL) {
        return NGX_CONF_ERROR;
    }

    fetch->url = value[1];
    fetch->interval = NGX_CERTMATE_REVOCATION_REFRESH;
    fetch->file = cf->conf_file->file.name.data;
    fetch->line = cf->conf_file->line;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "interval=", 9) != 0) {
        goto invalid;
    }

    v.data = value[2].data + 9;
    v.len = value[2].len - 9;

    fetch->interval = ngx_parse_time(&v, 1);

    if (fetch->interval == (time_t) NGX_ERROR || fetch->interval == 0) {
        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected \"interval=\" "
                       "and a time", &value[2]);
    return NGX_CONF_ERROR;
}


/* helper process only */

ngx_msec_t
ngx_certmate_revocation_tick(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log)
{
    ngx_str_t                  empty;
    ngx_uint_t                 i;
    ngx_msec_t                 wait;
    ngx_certmate_crl_fetch_t  *fetch;

    if (cmmcf->crl_fetches.nelts == 0 && cmmcf->client_cas == NULL) {
        return NGX_TIMER_INFINITE;
    }

    if (!ngx_certmate_revocation.ready) {
        ngx_str_null(&empty);
        fetch = cmmcf->crl_fetches.elts;

        for (i = 0; i < cmmcf->crl_fetches.nelts; i++) {
            if (ngx_certmate_store_crl_want(&fetch[i].url, &empty, log)
                == NGX_ERROR)
            {
                return NGX_CERTMATE_REVOCATION_SCAN;
            }
        }

        ngx_certmate_revocation.ready = 1;
    }

    wait = ngx_certmate_http_run(log);

    if ((ngx_msec_int_t) (ngx_current_msec - ngx_certmate_revocation.scan_at)
        >= 0)
    {
        (void) ngx_certmate_revocation_scan(cmmcf, log);
        ngx_certmate_revocation.scan_at = ngx_current_msec
                                          + NGX_CERTMATE_REVOCATION_SCAN;
        wait = ngx_min(wait, ngx_certmate_http_run(log));
    }

    return ngx_min(wait, ngx_certmate_revocation.scan_at - ngx_current_msec);
}


/* starts the fetches that are due, as many as there are free slots */

static ngx_int_t
ngx_certmate_revocation_scan(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log)
{
    time_t                     now;
    ngx_int_t                  rc;
    ngx_str_t                  key, *after;
    ngx_uint_t                 i, free;
    ngx_certmate_ocsp_entry_t  entry;
    ngx_certmate_crl_source_t  crl;
    u_char                     buf[NGX_CERTMATE_ISSUER_HASH_LEN + 20];

    free = 0;

    for (i = 0; i < NGX_CERTMATE_REVOCATION_PARALLEL; i++) {
        free += (ngx_certmate_revocation.busy[i] == NULL);
    }

    if (free == 0) {
        return NGX_OK;
    }

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_time_update();
    now = ngx_time();

    for (after = NULL; free; after = &crl.url) {

        rc = ngx_certmate_store_crl_source_next(after, &crl, log);
        if (rc != NGX_OK) {
            break;
        }

        if (crl.next_fetch > now
            || ngx_certmate_revocation_busy(&crl.url) == NGX_OK)
        {
            continue;
        }

        if (ngx_certmate_revocation_start(cmmcf, &crl, NULL, log) == NGX_OK) {
            free--;
        }
    }

    for (after = NULL; free; after = &key) {

        rc = ngx_certmate_store_ocsp_next(after, &entry, log);
        if (rc != NGX_OK) {
            break;
        }

        key.data = buf;
        key.len = ngx_cpymem(ngx_cpymem(buf, entry.issuer_hash,
                                        NGX_CERTMATE_ISSUER_HASH_LEN),
                             entry.serial.data, entry.serial.len)
                  - buf;

        if (entry.next_fetch > now
            || ngx_certmate_revocation_busy(&key) == NGX_OK)
        {
            continue;
        }

        if (ngx_certmate_revocation_start(cmmcf, NULL, &entry, log)
            == NGX_OK)
        {
            free--;
        }
    }

    ngx_certmate_store_read_end();

    return NGX_OK;
}


/* NGX_OK: a fetch of this URL or serial is under way */

static ngx_int_t
ngx_certmate_revocation_busy(ngx_str_t *key)
{
    ngx_str_t                         k;
    ngx_uint_t                        i;
    ngx_certmate_revocation_fetch_t  *f;

    for (i = 0; i < NGX_CERTMATE_REVOCATION_PARALLEL; i++) {
        f = ngx_certmate_revocation.busy[i];

        if (f == NULL) {
            continue;
        }

        if (f->ocsp) {
            k.len = NGX_CERTMATE_ISSUER_HASH_LEN + f->entry.serial.len;

            if (k.len == key->len
                && ngx_memcmp(f->entry.issuer_hash, key->data,
                              NGX_CERTMATE_ISSUER_HASH_LEN)
                   == 0
                && ngx_memcmp(f->entry.serial.data,
                              key->data + NGX_CERTMATE_ISSUER_HASH_LEN,
                              f->entry.serial.len)
                   == 0)
            {
                return NGX_OK;
            }

            continue;
        }

        if (f->crl.url.len == key->len
            && ngx_memcmp(f->crl.url.data, key->data, key->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* a fetch with copies of what the store said, in a pool of its own */

static ngx_int_t
ngx_certmate_revocation_start(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_certmate_crl_source_t *crl, ngx_certmate_ocsp_entry_t *entry,
    ngx_log_t *log)
{
    ngx_uint_t                        i, slot;
    ngx_pool_t                       *pool;
    ngx_certmate_crl_fetch_t         *fetch;
    ngx_certmate_revocation_fetch_t  *f;

    for (slot = 0; ngx_certmate_revocation.busy[slot]; slot++) {
        /* void */
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    f = ngx_pcalloc(pool, sizeof(ngx_certmate_revocation_fetch_t));
    if (f == NULL) {
        goto failed;
    }

    f->cmmcf = cmmcf;
    f->http.pool = pool;
    f->http.log = log;
    f->http.data = f;
    f->http.timeout = NGX_CERTMATE_REVOCATION_TIMEOUT;
    f->interval = NGX_CERTMATE_REVOCATION_REFRESH;

    if (crl) {
        f->crl = *crl;

        if (ngx_certmate_revocation_copy(pool, &f->crl.url, &crl->url)
            != NGX_OK
            || ngx_certmate_revocation_copy(pool, &f->crl.issuer,
                                            &crl->issuer)
               != NGX_OK)
        {
            goto failed;
        }

        ngx_str_null(&f->crl.error);

        fetch = cmmcf->crl_fetches.elts;

        for (i = 0; i < cmmcf->crl_fetches.nelts; i++) {
            if (fetch[i].url.len == crl->url.len
                && ngx_strncmp(fetch[i].url.data, crl->url.data,
                               crl->url.len)
                   == 0)
            {
                f->interval = fetch[i].interval;
            }
        }

        f->http.method = NGX_HTTP_GET;
        f->http.url = f->crl.url;
        f->http.max_response = NGX_CERTMATE_CRL_MAX_SIZE;
        f->http.handler = ngx_certmate_crl_done;

    } else {
        f->ocsp = 1;
        f->entry = *entry;

        if (ngx_certmate_revocation_copy(pool, &f->entry.url, &entry->url)
            != NGX_OK
            || ngx_certmate_revocation_copy(pool, &f->entry.issuer,
                                            &entry->issuer)
               != NGX_OK
            || ngx_certmate_revocation_copy(pool, &f->entry.serial,
                                            &entry->serial)
               != NGX_OK)
        {
            goto failed;
        }

        ngx_str_null(&f->entry.error);

        if (ngx_certmate_ocsp_request(f) != NGX_OK) {
            goto failed;
        }

        f->http.method = NGX_HTTP_POST;
        f->http.url = f->entry.url;
        f->http.content_type = "application/ocsp-request";
        f->http.accept = "application/ocsp-response";
        f->http.handler = ngx_certmate_ocsp_done;
    }

    if (ngx_certmate_http_start(&f->http) != NGX_OK) {
        goto failed;
    }

    ngx_certmate_revocation.busy[slot] = f;

    return NGX_OK;

failed:

    if (f) {
        X509_free(f->issuer);
        OCSP_CERTID_free(f->id);
    }

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* a copy that ends in '\0', for libcurl */

static ngx_int_t
ngx_certmate_revocation_copy(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src)
{
    dst->len = src->len;
    dst->data = ngx_pnalloc(pool, src->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(dst->data, src->data, src->len) = '\0';

    return NGX_OK;
}


/* an OCSP request of one CertID (SHA-1, as every responder takes) */

static ngx_int_t
ngx_certmate_ocsp_request(ngx_certmate_revocation_fetch_t *f)
{
    int             len;
    u_char         *p;
    ASN1_INTEGER   *serial;
    OCSP_REQUEST   *req;

    serial = NULL;
    req = NULL;

    f->issuer = ngx_certmate_cert_x509(&f->entry.issuer, f->http.log);
    if (f->issuer == NULL) {
        return NGX_ERROR;
    }

    serial = ASN1_INTEGER_new();

    if (serial == NULL
        || ASN1_STRING_set(serial, f->entry.serial.data,
                           f->entry.serial.len)
           != 1)
    {
        goto failed;
    }

    f->id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(f->issuer),
                             X509_get0_pubkey_bitstr(f->issuer), serial);
    req = OCSP_REQUEST_new();

    if (f->id == NULL || req == NULL
        || OCSP_request_add0_id(req, OCSP_CERTID_dup(f->id)) == NULL)
    {
        goto failed;
    }

    len = i2d_OCSP_REQUEST(req, NULL);
    if (len <= 0) {
        goto failed;
    }

    f->http.body.data = ngx_pnalloc(f->http.pool, len);
    if (f->http.body.data == NULL) {
        goto failed;
    }

    p = f->http.body.data;
    f->http.body.len = i2d_OCSP_REQUEST(req, &p);

    ASN1_INTEGER_free(serial);
    OCSP_REQUEST_free(req);

    return NGX_OK;

failed:

    ngx_ssl_error(NGX_LOG_CRIT, f->http.log, 0,
                  "certmate cannot make an OCSP request");

    ASN1_INTEGER_free(serial);
    OCSP_REQUEST_free(req);

    return NGX_ERROR;
}


static void
ngx_certmate_crl_done(ngx_certmate_http_t *http)
{
    ngx_certmate_revocation_fetch_t *f = http->data;

    X509                      *signer;
    time_t                     now, next, seen;
    X509_CRL                  *crl;
    ngx_log_t                 *log;
    ngx_uint_t                 n;
    const char                *error;
    ngx_certmate_crl_entry_t  *entries;
    u_char                     issuer[NGX_CERTMATE_ISSUER_HASH_LEN];

    log = http->log;
    crl = NULL;
    signer = NULL;
    error = NULL;

    ngx_time_update();
    now = ngx_time();

    if (http->status != 200) {
        ngx_certmate_revocation_http_error(http, &f->crl.error);
        goto failed;
    }

    crl = ngx_certmate_crl_parse(&http->response);

    if (crl == NULL) {
        error = "not a CRL";
        goto failed;
    }

    signer = ngx_certmate_crl_signer(f, crl);

    if (signer == NULL) {
        error = "no trusted CA signed it";
        goto failed;
    }

    seen = f->crl.fetched ? f->crl.this_update : 0;

    f->crl.this_update = ngx_certmate_cert_time(X509_CRL_get0_lastUpdate(crl));
    f->crl.next_update = X509_CRL_get0_nextUpdate(crl)
        ? ngx_certmate_cert_time(X509_CRL_get0_nextUpdate(crl)) : 0;

    if (f->crl.this_update == (time_t) -1
        || f->crl.next_update == (time_t) -1
        || f->crl.this_update > now + NGX_CERTMATE_REVOCATION_SKEW)
    {
        error = "its thisUpdate or nextUpdate is invalid";
        goto failed;
    }

    if (ngx_certmate_issuer_hash(X509_CRL_get_issuer(crl), issuer)
        != NGX_OK)
    {
        error = "its issuer is unreadable";
        goto failed;
    }

    entries = NULL;
    n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));

    /* the same CRL as before: only its times are written */

    if (f->crl.this_update != seen) {
        if (ngx_certmate_crl_entries(http->pool, crl, &entries, &n)
            != NGX_OK)
        {
            error = "its entries are unreadable";
            goto failed;
        }
    }

    next = now + f->interval;

    if (f->crl.next_update > now && f->crl.next_update < next) {
        next = f->crl.next_update;
    }

    f->crl.next_fetch = next;
    f->crl.fetched = now;
    f->crl.failures = 0;
    f->crl.entries = n;

    if (ngx_certmate_store_crl_replace(&f->crl, issuer, entries, n, log)
        == NGX_OK)
    {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "certmate fetched the CRL \"%V\": %ui entries%s, "
                      "next fetch in %T s", &f->crl.url, n,
                      entries ? "" : ", unchanged", next - now);
    }

    goto done;

failed:

    if (error) {
        f->crl.error.data = (u_char *) error;
        f->crl.error.len = ngx_strlen(error);
    }

    f->crl.failures++;
    f->crl.next_fetch = now + ngx_certmate_revocation_retry(f->crl.failures,
                                                            f->interval);

    ngx_ssl_error(NGX_LOG_ERR, log, 0,
                  "certmate cannot take the CRL \"%V\": %V, "
                  "retrying in %T s", &f->crl.url, &f->crl.error,
                  f->crl.next_fetch - now);

    (void) ngx_certmate_store_crl_source_put(&f->crl, log);

done:

    X509_CRL_free(crl);
    ngx_certmate_revocation_done(f);
}


/* "status 404", or why there was no response */

static void
ngx_certmate_revocation_http_error(ngx_certmate_http_t *http,
    ngx_str_t *error)
{
    if (http->status == 0) {
        *error = http->error;
        return;
    }

    error->data = ngx_pnalloc(http->pool, sizeof("status ") + NGX_INT_T_LEN);

    if (error->data == NULL) {
        ngx_str_set(error, "a non-200 status");
        return;
    }

    error->len = ngx_sprintf(error->data, "status %ui", http->status)
                 - error->data;
}


static X509_CRL *
ngx_certmate_crl_parse(ngx_str_t *body)
{
    BIO            *bio;
    X509_CRL       *crl;
    const u_char   *p;

    if (body->len > 10
        && ngx_strncmp(body->data, "-----BEGIN", 10) == 0)
    {
        bio = BIO_new_mem_buf(body->data, body->len);
        if (bio == NULL) {
            return NULL;
        }

        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        BIO_free(bio);

        return crl;
    }

    p = body->data;

    crl = d2i_X509_CRL(NULL, &p, body->len);

    if (crl && p != body->data + body->len) {
        X509_CRL_free(crl);
        return NULL;
    }

    return crl;
}


/* the trusted CA that signed the CRL: NULL when none did */

static X509 *
ngx_certmate_crl_signer(ngx_certmate_revocation_fetch_t *f, X509_CRL *crl)
{
    int    i;
    X509  *x;

    for (i = 0; f->cmmcf->client_cas
                && i < sk_X509_num(f->cmmcf->client_cas); i++)
    {
        x = sk_X509_value(f->cmmcf->client_cas, i);

        if (X509_NAME_cmp(X509_get_subject_name(x), X509_CRL_get_issuer(crl))
            == 0
            && X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1)
        {
            return x;
        }
    }

    if (f->crl.issuer.len == 0) {
        return NULL;
    }

    f->issuer = ngx_certmate_cert_x509(&f->crl.issuer, f->http.log);

    if (f->issuer
        && X509_NAME_cmp(X509_get_subject_name(f->issuer),
                         X509_CRL_get_issuer(crl))
           == 0
        && X509_CRL_verify(crl, X509_get0_pubkey(f->issuer)) == 1)
    {
        return f->issuer;
    }

    return NULL;
}


static ngx_int_t
ngx_certmate_crl_entries(ngx_pool_t *pool, X509_CRL *crl,
    ngx_certmate_crl_entry_t **entries, ngx_uint_t *n)
{
    int                        i;
    X509_REVOKED              *rev;
    ASN1_ENUMERATED           *reason;
    const ASN1_INTEGER        *serial;
    STACK_OF(X509_REVOKED)    *revoked;
    ngx_certmate_crl_entry_t  *e;

    revoked = X509_CRL_get_REVOKED(crl);
    *n = sk_X509_REVOKED_num(revoked);

    /* not NULL even for an empty CRL: NULL means "unchanged" */

    e = ngx_palloc(pool, (*n + 1) * sizeof(ngx_certmate_crl_entry_t));
    if (e == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < (int) *n; i++) {
        rev = sk_X509_REVOKED_value(revoked, i);
        serial = X509_REVOKED_get0_serialNumber(rev);

        e[i].serial.data = (u_char *) ASN1_STRING_get0_data(serial);
        e[i].serial.len = ASN1_STRING_length(serial);
        e[i].revoked_at = ngx_certmate_cert_time(
                              X509_REVOKED_get0_revocationDate(rev));
        e[i].reason = 0;

        reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);

        if (reason) {
            e[i].reason = (ngx_uint_t) ngx_max(ASN1_ENUMERATED_get(reason),
                                               0);
            ASN1_ENUMERATED_free(reason);
        }
    }

    *entries = e;

    return NGX_OK;
}


static void
ngx_certmate_ocsp_done(ngx_certmate_http_t *http)
{
    ngx_certmate_revocation_fetch_t *f = http->data;

    time_t                      now, valid;
    const char                 *error;
    ngx_certmate_revocation_t   answer;

    ngx_time_update();
    now = ngx_time();

    if (http->status != 200) {
        ngx_certmate_revocation_http_error(http, &f->entry.error);
        goto failed;
    }

    error = ngx_certmate_ocsp_answer(&http->response, f->issuer, f->id,
                                     &answer);
    if (error) {
        f->entry.error.data = (u_char *) error;
        f->entry.error.len = ngx_strlen(error);
        goto failed;
    }

    f->entry.answered = 1;
    f->entry.answer = answer;
    f->entry.answer.fetched = now;
    f->entry.failures = 0;

    valid = answer.next_update > now ? (answer.next_update - now) / 2
                                     : NGX_CERTMATE_REVOCATION_REFRESH;

    f->entry.next_fetch = now + ngx_max(valid, NGX_CERTMATE_REVOCATION_RETRY);

    if (ngx_certmate_store_ocsp_put(&f->entry, http->log) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, http->log, 0,
                      "certmate OCSP answer from \"%V\": %s",
                      &f->entry.url,
                      answer.status == NGX_CERTMATE_SERIAL_GOOD ? "good"
                      : answer.status == NGX_CERTMATE_SERIAL_REVOKED
                        ? "revoked" : "unknown");
    }

    ngx_certmate_revocation_done(f);
    return;

failed:

    f->entry.failures++;
    f->entry.next_fetch = now
                          + ngx_certmate_revocation_retry(f->entry.failures,
                                            NGX_CERTMATE_REVOCATION_REFRESH);

    ngx_ssl_error(NGX_LOG_ERR, http->log, 0,
                  "certmate cannot take an OCSP answer from \"%V\": %V, "
                  "retrying in %T s", &f->entry.url, &f->entry.error,
                  f->entry.next_fetch - now);

    (void) ngx_certmate_store_ocsp_put(&f->entry, http->log);

    ngx_certmate_revocation_done(f);
}


/*
 * A responder's answer (DER) of the certificate "id", signed for
 * "issuer", into "answer" (all but "fetched"): NULL, or what is wrong
 * with it
 */

static const char *
ngx_certmate_ocsp_answer(ngx_str_t *der, X509 *issuer, OCSP_CERTID *id,
    ngx_certmate_revocation_t *answer)
{
    int                     status, reason;
    X509_STORE             *store;
    const char             *error;
    const u_char           *p;
    STACK_OF(X509)         *certs;
    OCSP_RESPONSE          *resp;
    OCSP_BASICRESP         *basic;
    ASN1_GENERALIZEDTIME   *rev, *this_update, *next_update;

    basic = NULL;
    store = NULL;
    certs = NULL;

    p = der->data;
    resp = d2i_OCSP_RESPONSE(NULL, &p, der->len);

    if (resp == NULL
        || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    {
        error = "not a successful OCSP response";
        goto done;
    }

    basic = OCSP_response_get1_basic(resp);
    store = X509_STORE_new();
    certs = sk_X509_new_null();

    if (basic == NULL || store == NULL || certs == NULL
        || X509_STORE_add_cert(store, issuer) != 1
        || sk_X509_push(certs, issuer) == 0)
    {
        error = "an unreadable OCSP response";
        goto done;
    }

    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);

    if (OCSP_basic_verify(basic, certs, store, 0) != 1) {
        error = "an OCSP response not signed for the CA";
        goto done;
    }

    if (OCSP_resp_find_status(basic, id, &status, &reason, &rev,
                              &this_update, &next_update)
        != 1)
    {
        error = "an OCSP response without the certificate";
        goto done;
    }

    if (OCSP_check_validity(this_update, next_update,
                            NGX_CERTMATE_REVOCATION_SKEW, -1)
        != 1)
    {
        error = "an OCSP response out of its validity";
        goto done;
    }

    error = NULL;

    answer->status = (status == V_OCSP_CERTSTATUS_GOOD)
                     ? NGX_CERTMATE_SERIAL_GOOD
                     : (status == V_OCSP_CERTSTATUS_REVOKED)
                       ? NGX_CERTMATE_SERIAL_REVOKED
                       : NGX_CERTMATE_SERIAL_UNKNOWN;
    answer->reason = reason > 0 ? reason : 0;
    answer->revoked_at = rev ? ngx_certmate_cert_time(rev) : 0;
    answer->this_update = ngx_certmate_cert_time(this_update);
    answer->next_update = next_update ? ngx_certmate_cert_time(next_update)
                                      : 0;
    answer->fetched = 0;

done:

    sk_X509_free(certs);
    X509_STORE_free(store);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);

    return error;
}


/* 5 s after a failure, doubling, at most the refetch interval */

static time_t
ngx_certmate_revocation_retry(ngx_uint_t failures, time_t interval)
{
    time_t  retry;

    retry = NGX_CERTMATE_REVOCATION_RETRY << ngx_min(failures - 1, 12);

    return ngx_min(retry, interval);
}


static void
ngx_certmate_revocation_done(ngx_certmate_revocation_fetch_t *f)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_CERTMATE_REVOCATION_PARALLEL; i++) {
        if (ngx_certmate_revocation.busy[i] == f) {
            ngx_certmate_revocation.busy[i] = NULL;
        }
    }

    X509_free(f->issuer);
    OCSP_CERTID_free(f->id);

    ngx_destroy_pool(f->http.pool);
}
