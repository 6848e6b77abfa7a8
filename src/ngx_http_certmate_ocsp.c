
/*
 * certmate: the OCSP responder (RFC 6960) of the built-in CA.
 *
 * POST with the DER request as the body, or GET with it in base64 after
 * the location's prefix (RFC 6960, appendix A.1).  Each CertID, hashed
 * with SHA-1, SHA-256 or any digest OpenSSL knows, is matched against
 * the issuing CA and its serial looked up in the store: good, revoked
 * with its time and reason, or unknown.  The answer is signed by the CA
 * or by the delegated signer the helper keeps fresh.
 *
 * A request for one certificate without a nonce (RFC 5019) gets the
 * answer signed for the same request before, from a cache of each
 * worker, for half of the answer's validity; the cache is dropped when
 * the CA changes or anything is revoked.
 */


#include "ngx_http_certmate_ocsp.h"
#include "ngx_http_certmate_reply.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_store.h"

#include <openssl/ocsp.h>


#define NGX_HTTP_CERTMATE_OCSP_BODY_MAX   16384
#define NGX_HTTP_CERTMATE_OCSP_VALIDITY   3600
#define NGX_HTTP_CERTMATE_OCSP_CACHE      1024      /* answers, a power of 2 */
#define NGX_HTTP_CERTMATE_OCSP_KEY_MAX    128       /* signer, CertID DER */


typedef struct {
    u_char        key[NGX_HTTP_CERTMATE_OCSP_KEY_MAX];
    size_t        key_len;
    time_t        refresh;
    time_t        next_update;
    ngx_str_t     answer;                           /* DER, ngx_alloc()ed */
} ngx_http_certmate_ocsp_cached_t;


/* what every cached answer was signed under */

typedef struct {
    uint64_t      version;
    uint64_t      revocations;
} ngx_http_certmate_ocsp_epoch_t;


static ngx_int_t ngx_http_certmate_ocsp_not_allowed(ngx_http_request_t *r);
static void ngx_http_certmate_ocsp_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_ocsp_get(ngx_http_request_t *r,
    ngx_str_t *der);
static ngx_int_t ngx_http_certmate_ocsp_answer(ngx_http_request_t *r,
    ngx_str_t *der, ngx_str_t *answer, time_t *expires);
static ngx_int_t ngx_http_certmate_ocsp_respond(ngx_http_request_t *r,
    OCSP_REQUEST *req, ngx_str_t *answer, time_t *expires);
static ngx_http_certmate_ocsp_cached_t *ngx_http_certmate_ocsp_cached(
    ngx_http_request_t *r, OCSP_REQUEST *req, uint64_t version, u_char *key,
    size_t *key_len);
static ngx_int_t ngx_http_certmate_ocsp_der(ngx_http_request_t *r,
    OCSP_RESPONSE *resp, ngx_str_t *answer);
static ngx_int_t ngx_http_certmate_ocsp_status(ngx_http_request_t *r,
    OCSP_REQUEST *req, X509 *ca, OCSP_BASICRESP *basic);
static ngx_int_t ngx_http_certmate_ocsp_issuer(OCSP_CERTID *id, X509 *ca,
    ngx_log_t *log);
static ngx_int_t ngx_http_certmate_ocsp_send(ngx_http_request_t *r,
    ngx_str_t *answer, time_t expires);


static ngx_http_certmate_ocsp_cached_t
    ngx_http_certmate_ocsp_cache[NGX_HTTP_CERTMATE_OCSP_CACHE];

static ngx_http_certmate_ocsp_epoch_t  ngx_http_certmate_ocsp_epoch;


ngx_int_t
ngx_http_certmate_ocsp_handler(ngx_http_request_t *r)
{
    time_t     expires;
    ngx_int_t  rc;
    ngx_str_t  der, answer;

    if (r->method == NGX_HTTP_POST) {

        /*
         * any Content-Type: RFC 6960 asks for application/ocsp-request,
         * but what is not DER is answered malformedRequest anyway
         */

        if (r->headers_in.content_length_n > NGX_HTTP_CERTMATE_OCSP_BODY_MAX) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "certmate ocsp request of %O bytes refused",
                          r->headers_in.content_length_n);
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_certmate_ocsp_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_certmate_ocsp_not_allowed(r);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_certmate_ocsp_get(r, &der) != NGX_OK
        || ngx_http_certmate_ocsp_answer(r, &der, &answer, &expires)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_ocsp_send(r, &answer, expires);
}


static ngx_int_t
ngx_http_certmate_ocsp_not_allowed(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, HEAD, POST");

    return NGX_HTTP_NOT_ALLOWED;
}


static void
ngx_http_certmate_ocsp_body(ngx_http_request_t *r)
{
    time_t     expires;
    ngx_int_t  rc;
    ngx_str_t  der, answer;

    rc = ngx_http_certmate_read_body(r, NGX_HTTP_CERTMATE_OCSP_BODY_MAX, &der);

    /* a chunked body has no Content-Length to refuse it early */

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate ocsp request of %uz bytes refused", der.len);
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return;
    }

    if (rc != NGX_OK
        || ngx_http_certmate_ocsp_answer(r, &der, &answer, &expires)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* RFC 5019, section 6: only the answer to a GET is for caches */

    ngx_http_finalize_request(r, ngx_http_certmate_ocsp_send(r, &answer, 0));
}


/*
 * the DER request of a GET, empty when there is none; from the raw URI,
 * for r->uri has its slashes merged and base64 has "//"
 */

static ngx_int_t
ngx_http_certmate_ocsp_get(ngx_http_request_t *r, ngx_str_t *der)
{
    u_char                        *src, *dst, *last;
    ngx_str_t                      path, b64;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    ngx_str_null(der);

    src = r->unparsed_uri.data;
    last = ngx_strlchr(src, src + r->unparsed_uri.len, '?');

    if (last == NULL) {
        last = src + r->unparsed_uri.len;
    }

    path.data = ngx_pnalloc(r->pool, last - src);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    /* percent-decoded, the prefix too: "/%6Fcsp/" is in "/ocsp/" */

    dst = path.data;
    ngx_unescape_uri(&dst, &src, last - src, 0);
    path.len = dst - path.data;

    if (path.len < cmlcf->prefix.len
        || ngx_strncmp(path.data, cmlcf->prefix.data, cmlcf->prefix.len) != 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "certmate ocsp GET \"%V\" without the prefix", &path);
        return NGX_OK;
    }

    b64.data = path.data + cmlcf->prefix.len;
    b64.len = path.len - cmlcf->prefix.len;

    /* "/ocsp" + "/MEIw...": a DER request never starts with '/' in base64 */

    if (b64.len && b64.data[0] == '/'
        && (cmlcf->prefix.len == 0
            || cmlcf->prefix.data[cmlcf->prefix.len - 1] != '/'))
    {
        b64.data++;
        b64.len--;
    }

    der->data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(b64.len));
    if (der->data == NULL) {
        return NGX_ERROR;
    }

    /* RFC 6960 says base64; base64url is taken as well */

    if (ngx_decode_base64(der, &b64) != NGX_OK
        && ngx_decode_base64url(der, &b64) != NGX_OK)
    {
        der->len = 0;
    }

    return NGX_OK;
}


/*
 * The DER answer to a DER request, malformedRequest when it is not one;
 * with "expires", the time until which a cache may keep it
 */

static ngx_int_t
ngx_http_certmate_ocsp_answer(ngx_http_request_t *r, ngx_str_t *der,
    ngx_str_t *answer, time_t *expires)
{
    ngx_int_t       rc;
    const u_char   *p;
    OCSP_REQUEST   *req;
    OCSP_RESPONSE  *resp;

    *expires = 0;

    p = der->data;
    req = der->len ? d2i_OCSP_REQUEST(NULL, &p, der->len) : NULL;

    if (req == NULL || p != der->data + der->len
        || OCSP_request_onereq_count(req) <= 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate ocsp request is malformed");

        ERR_clear_error();

        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
                                    NULL);
        rc = ngx_http_certmate_ocsp_der(r, resp, answer);

        OCSP_RESPONSE_free(resp);

    } else {
        rc = ngx_http_certmate_ocsp_respond(r, req, answer, expires);
    }

    OCSP_REQUEST_free(req);

    return rc;
}


/*
 * A signed response, or one with the error status why not, in DER; with
 * "expires", the time until which it may be cached
 */

static ngx_int_t
ngx_http_certmate_ocsp_respond(ngx_http_request_t *r, OCSP_REQUEST *req,
    ngx_str_t *answer, time_t *expires)
{
    int                               status;
    X509                             *signer;
    u_char                           *p;
    time_t                            now;
    size_t                            key_len;
    EVP_PKEY                         *key;
    ngx_int_t                         rc;
    OCSP_RESPONSE                    *resp;
    OCSP_BASICRESP                   *basic;
    ngx_certmate_ca_signing_t        *ca;
    ngx_http_certmate_loc_conf_t     *cmlcf;
    ngx_http_certmate_ocsp_cached_t  *cached;
    u_char                            cache_key[NGX_HTTP_CERTMATE_OCSP_KEY_MAX];

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    status = OCSP_RESPONSE_STATUS_INTERNALERROR;
    cached = NULL;
    key_len = 0;
    now = ngx_time();

    basic = OCSP_BASICRESP_new();
    if (basic == NULL) {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "OCSP_BASICRESP_new() failed");
        goto failed;
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        goto failed;
    }

    ca = ngx_certmate_ca_current(r->connection->log);

    if (ca) {
        cached = ngx_http_certmate_ocsp_cached(r, req, ca->version,
                                               cache_key, &key_len);
    }

    if (cached
        && cached->refresh > now
        && cached->key_len == key_len
        && ngx_memcmp(cached->key, cache_key, key_len) == 0)
    {
        ngx_certmate_store_read_end();

        answer->data = ngx_pnalloc(r->pool, cached->answer.len);
        if (answer->data == NULL) {
            OCSP_BASICRESP_free(basic);
            return NGX_ERROR;
        }

        answer->len = cached->answer.len;
        ngx_memcpy(answer->data, cached->answer.data, answer->len);

        *expires = cached->next_update;

        OCSP_BASICRESP_free(basic);

        return NGX_OK;
    }

    rc = ca ? ngx_http_certmate_ocsp_status(r, req, ca->cert, basic)
            : NGX_AGAIN;

    ngx_certmate_store_read_end();

    /* ca stays valid until the next ngx_certmate_ca_current() */

    if (rc == NGX_AGAIN) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate ocsp request before the CA is ready");
        status = OCSP_RESPONSE_STATUS_TRYLATER;
        goto failed;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate ocsp request for another issuer");
        status = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
        goto failed;
    }

    if (rc != NGX_OK) {
        goto failed;
    }

    if (OCSP_copy_nonce(basic, req) <= 0) {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "OCSP_copy_nonce() failed");
        goto failed;
    }

    if (cmlcf->ocsp_signer == NGX_HTTP_CERTMATE_OCSP_DELEGATED
        && ca->signer != NULL)
    {
        signer = ca->signer;
        key = ca->signer_key;

    } else {

        /* also while the helper has not made the delegated signer yet */

        signer = ca->cert;
        key = ca->key;
    }

    /* the signer's certificate goes with the response */

    if (OCSP_basic_sign(basic, signer, key, EVP_sha256(), NULL,
                        OCSP_RESPID_KEY)
        != 1)
    {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "OCSP_basic_sign() failed");
        goto failed;
    }

    status = OCSP_RESPONSE_STATUS_SUCCESSFUL;

failed:

    ERR_clear_error();

    resp = OCSP_response_create(status,
                                status == OCSP_RESPONSE_STATUS_SUCCESSFUL
                                ? basic : NULL);

    OCSP_BASICRESP_free(basic);

    rc = ngx_http_certmate_ocsp_der(r, resp, answer);

    OCSP_RESPONSE_free(resp);

    if (rc != NGX_OK || status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        return rc;
    }

    /* an answer with a nonce is for this request only */

    if (OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1) < 0) {
        *expires = now + NGX_HTTP_CERTMATE_OCSP_VALIDITY;
    }

    /* kept for the same request, if there is memory for it */

    if (cached) {
        p = ngx_alloc(answer->len, r->connection->log);

        if (p) {
            if (cached->answer.data) {
                ngx_free(cached->answer.data);
            }

            ngx_memcpy(p, answer->data, answer->len);

            cached->answer.data = p;
            cached->answer.len = answer->len;
            ngx_memcpy(cached->key, cache_key, key_len);
            cached->key_len = key_len;
            cached->refresh = now + NGX_HTTP_CERTMATE_OCSP_VALIDITY / 2;
            cached->next_update = now + NGX_HTTP_CERTMATE_OCSP_VALIDITY;
        }
    }

    return NGX_OK;
}


/*
 * The cache slot of a request whose answer may be shared: for one
 * CertID, without a nonce.  Its key is the signer and the CertID in
 * DER.  Inside the read transaction: a revocation since, or another
 * CA, and no cached answer holds.
 */

static ngx_http_certmate_ocsp_cached_t *
ngx_http_certmate_ocsp_cached(ngx_http_request_t *r, OCSP_REQUEST *req,
    uint64_t version, u_char *key, size_t *key_len)
{
    int                               n;
    u_char                           *p;
    uint64_t                          revocations;
    ngx_uint_t                        i;
    OCSP_CERTID                      *id;
    ngx_http_certmate_loc_conf_t     *cmlcf;
    ngx_http_certmate_ocsp_epoch_t   *epoch;

    if (OCSP_request_onereq_count(req) != 1
        || OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1) >= 0
        || ngx_certmate_store_counter("revocations", &revocations,
                                      r->connection->log)
           != NGX_OK)
    {
        return NULL;
    }

    epoch = &ngx_http_certmate_ocsp_epoch;

    if (epoch->version != version || epoch->revocations != revocations) {
        for (i = 0; i < NGX_HTTP_CERTMATE_OCSP_CACHE; i++) {
            ngx_http_certmate_ocsp_cache[i].refresh = 0;
        }

        epoch->version = version;
        epoch->revocations = revocations;
    }

    id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, 0));

    n = i2d_OCSP_CERTID(id, NULL);
    if (n <= 0 || n >= NGX_HTTP_CERTMATE_OCSP_KEY_MAX) {
        return NULL;
    }

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    p = key;
    *p++ = (u_char) cmlcf->ocsp_signer;
    *key_len = 1 + i2d_OCSP_CERTID(id, &p);

    return &ngx_http_certmate_ocsp_cache[ngx_crc32_short(key, *key_len)
                                         & (NGX_HTTP_CERTMATE_OCSP_CACHE - 1)];
}


static ngx_int_t
ngx_http_certmate_ocsp_der(ngx_http_request_t *r, OCSP_RESPONSE *resp,
    ngx_str_t *answer)
{
    int      len;
    u_char  *p;

    if (resp == NULL) {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "OCSP_response_create() failed");
        return NGX_ERROR;
    }

    len = i2d_OCSP_RESPONSE(resp, NULL);
    if (len <= 0) {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "i2d_OCSP_RESPONSE() failed");
        return NGX_ERROR;
    }

    answer->data = ngx_pnalloc(r->pool, len);
    if (answer->data == NULL) {
        return NGX_ERROR;
    }

    p = answer->data;
    answer->len = i2d_OCSP_RESPONSE(resp, &p);

    return NGX_OK;
}


/*
 * the status of every CertID, inside the store's read transaction.
 * NGX_DECLINED: none names the issuing CA, and the request is answered
 * "unauthorized" (RFC 5019, section 2.2.3); a request that names it at
 * least once is answered, with "unknown" for the CertIDs of another
 * issuer (RFC 6960, section 2.2), so that one foreign certificate in a
 * chain does not cost the client the answers it can have
 */

static ngx_int_t
ngx_http_certmate_ocsp_status(ngx_http_request_t *r, OCSP_REQUEST *req,
    X509 *ca, OCSP_BASICRESP *basic)
{
    int                     i, n, status, reason;
    time_t                  now;
    ngx_int_t               rc, ret;
    ngx_str_t               serial;
    ngx_uint_t              ours;
    ASN1_TIME              *this_update, *next_update, *revoked;
    OCSP_CERTID            *id;
    ASN1_INTEGER           *number;
    ngx_certmate_serial_t   s;

    ret = NGX_ERROR;
    ours = 0;

    now = ngx_time();
    this_update = ASN1_TIME_set(NULL, now);
    next_update = ASN1_TIME_set(NULL, now + NGX_HTTP_CERTMATE_OCSP_VALIDITY);
    revoked = ASN1_TIME_new();

    if (this_update == NULL || next_update == NULL || revoked == NULL) {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "ASN1_TIME_set() failed");
        goto failed;
    }

    n = OCSP_request_onereq_count(req);

    for (i = 0; i < n; i++) {
        id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));

        status = V_OCSP_CERTSTATUS_UNKNOWN;
        reason = -1;

        if (ngx_http_certmate_ocsp_issuer(id, ca, r->connection->log)
            == NGX_OK)
        {
            ours = 1;

            (void) OCSP_id_get0_info(NULL, NULL, NULL, &number, id);

            serial.data = (u_char *) ASN1_STRING_get0_data(number);
            serial.len = ASN1_STRING_length(number);

            /* a negative serial is none of ours */

            rc = ASN1_STRING_type(number) == V_ASN1_INTEGER
                 ? ngx_certmate_store_serial_get(&serial, &s,
                                                 r->connection->log)
                 : NGX_DECLINED;

            if (rc == NGX_ERROR) {
                goto failed;
            }

            if (rc == NGX_OK && s.status == NGX_CERTMATE_SERIAL_REVOKED) {
                status = V_OCSP_CERTSTATUS_REVOKED;

                /* RFC 5280: the reason "unspecified" is left out */

                reason = s.reason ? (int) s.reason : -1;

                if (ASN1_TIME_set(revoked, s.revoked_at) == NULL) {
                    ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                                  "ASN1_TIME_set() failed");
                    goto failed;
                }

            } else if (rc == NGX_OK) {
                status = V_OCSP_CERTSTATUS_GOOD;
            }
        }

        if (OCSP_basic_add1_status(basic, id, status, reason,
                                   status == V_OCSP_CERTSTATUS_REVOKED
                                   ? revoked : NULL,
                                   this_update, next_update)
            == NULL)
        {
            ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "OCSP_basic_add1_status() failed");
            goto failed;
        }
    }

    ret = ours ? NGX_OK : NGX_DECLINED;

failed:

    ASN1_TIME_free(this_update);
    ASN1_TIME_free(next_update);
    ASN1_TIME_free(revoked);

    return ret;
}


/*
 * NGX_OK: the CertID names the issuing CA by the digests of its name and
 * key; a digest OpenSSL does not know, or cannot make, names another
 */

static ngx_int_t
ngx_http_certmate_ocsp_issuer(OCSP_CERTID *id, X509 *ca, ngx_log_t *log)
{
    u_char              digest[EVP_MAX_MD_SIZE];
    unsigned int        len;
    const EVP_MD       *md;
    ASN1_OBJECT        *md_oid;
    ASN1_OCTET_STRING  *name_hash, *key_hash;

    if (OCSP_id_get0_info(&name_hash, &md_oid, &key_hash, NULL, id) != 1) {
        return NGX_DECLINED;
    }

    md = EVP_get_digestbyobj(md_oid);

    if (md == NULL
        || X509_NAME_digest(X509_get_subject_name(ca), md, digest, &len) != 1)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                       "certmate ocsp CertID with an unusable digest");
        ERR_clear_error();
        return NGX_DECLINED;
    }

    if ((int) len != ASN1_STRING_length(name_hash)
        || ngx_memcmp(digest, ASN1_STRING_get0_data(name_hash), len) != 0)
    {
        return NGX_DECLINED;
    }

    if (X509_pubkey_digest(ca, md, digest, &len) != 1) {
        ERR_clear_error();
        return NGX_DECLINED;
    }

    if ((int) len != ASN1_STRING_length(key_hash)
        || ngx_memcmp(digest, ASN1_STRING_get0_data(key_hash), len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_ocsp_send(ngx_http_request_t *r, ngx_str_t *answer,
    time_t expires)
{
    ngx_table_elt_t  *h;

    if (expires > ngx_time()) {

        /* cached no longer than up to nextUpdate */

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool,
                                    sizeof("max-age=, public, no-transform, "
                                           "must-revalidate") - 1
                                    + NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Cache-Control");
        h->value.len = ngx_sprintf(h->value.data,
                                   "max-age=%T, public, no-transform, "
                                   "must-revalidate", expires - ngx_time())
                       - h->value.data;
    }

    return ngx_http_certmate_send(r, NGX_HTTP_OK, "application/ocsp-response",
                                  answer);
}
