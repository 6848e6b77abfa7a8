
/*
 * certmate: the OCSP responder (RFC 6960) of the built-in CA.
 *
 * POST with the DER request as the body, or GET with it in base64 after
 * the location's prefix (RFC 6960, appendix A.1).  Each CertID, hashed
 * with SHA-1, SHA-256 or any digest OpenSSL knows, is matched against
 * the issuing CA and its serial looked up in the store: good, revoked
 * with its time and reason, or unknown.  The answer is signed at once,
 * by the CA or by the delegated signer the helper keeps fresh.
 */


#include "ngx_http_certmate_ocsp.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_store.h"

#include <openssl/ocsp.h>


#define NGX_HTTP_CERTMATE_OCSP_BODY_MAX   16384
#define NGX_HTTP_CERTMATE_OCSP_VALIDITY   3600


static void ngx_http_certmate_ocsp_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_ocsp_answer(ngx_http_request_t *r,
    ngx_str_t *der);
static OCSP_RESPONSE *ngx_http_certmate_ocsp_respond(ngx_http_request_t *r,
    OCSP_REQUEST *req);
static ngx_int_t ngx_http_certmate_ocsp_issuer(OCSP_CERTID *id, X509 *ca);
static ngx_int_t ngx_http_certmate_ocsp_send(ngx_http_request_t *r,
    OCSP_RESPONSE *resp);


ngx_int_t
ngx_http_certmate_ocsp_handler(ngx_http_request_t *r)
{
    u_char                        *src, *dst;
    ngx_int_t                      rc;
    ngx_str_t                      b64, der;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    if (r->method == NGX_HTTP_POST) {

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
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the base64 request after the prefix, percent-decoded */

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    src = r->unparsed_uri.data + ngx_min(cmlcf->prefix.len,
                                         r->unparsed_uri.len);
    b64.len = r->unparsed_uri.data + r->unparsed_uri.len - src;

    if (b64.len && src[0] == '/') {
        src++;
        b64.len--;
    }

    if (r->args.len) {
        b64.len -= r->args.len + 1;
    }

    b64.data = ngx_pnalloc(r->pool, b64.len);
    if (b64.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dst = b64.data;
    ngx_unescape_uri(&dst, &src, b64.len, 0);
    b64.len = dst - b64.data;

    der.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(b64.len));
    if (der.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_decode_base64(&der, &b64) != NGX_OK) {
        der.len = 0;
    }

    return ngx_http_certmate_ocsp_answer(r, &der);
}


static void
ngx_http_certmate_ocsp_body(ngx_http_request_t *r)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_str_t     der;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    if (len > NGX_HTTP_CERTMATE_OCSP_BODY_MAX) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate ocsp request of %uz bytes refused", len);
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return;
    }

    der.data = ngx_pnalloc(r->pool, len);
    if (der.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = der.data;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    der.len = len;

    ngx_http_finalize_request(r, ngx_http_certmate_ocsp_answer(r, &der));
}


static ngx_int_t
ngx_http_certmate_ocsp_answer(ngx_http_request_t *r, ngx_str_t *der)
{
    ngx_int_t       rc;
    const u_char   *p;
    OCSP_REQUEST   *req;
    OCSP_RESPONSE  *resp;

    p = der->data;
    req = der->len ? d2i_OCSP_REQUEST(NULL, &p, der->len) : NULL;

    if (req == NULL || p != der->data + der->len
        || OCSP_request_onereq_count(req) <= 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate ocsp request is malformed");

        ERR_clear_error();
        OCSP_REQUEST_free(req);

        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
                                    NULL);

    } else {
        resp = ngx_http_certmate_ocsp_respond(r, req);
        OCSP_REQUEST_free(req);
    }

    if (resp == NULL) {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "certmate cannot make an OCSP response");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_certmate_ocsp_send(r, resp);

    OCSP_RESPONSE_free(resp);

    return rc;
}


/* a signed response for every request, or the status why not */

static OCSP_RESPONSE *
ngx_http_certmate_ocsp_respond(ngx_http_request_t *r, OCSP_REQUEST *req)
{
    int                             i, n, status, reason;
    X509                           *signer;
    time_t                          now;
    EVP_PKEY                       *key;
    ngx_int_t                       rc;
    ngx_str_t                       serial;
    ASN1_TIME                      *this_update, *next_update, *revoked;
    OCSP_CERTID                    *id;
    ASN1_INTEGER                   *number;
    OCSP_RESPONSE                  *resp;
    OCSP_BASICRESP                 *basic;
    ngx_certmate_serial_t           s;
    ngx_certmate_ca_signing_t      *ca;
    ngx_http_certmate_loc_conf_t   *cmlcf;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    resp = NULL;
    basic = OCSP_BASICRESP_new();

    now = ngx_time();
    this_update = ASN1_TIME_set(NULL, now);
    next_update = ASN1_TIME_set(NULL, now + NGX_HTTP_CERTMATE_OCSP_VALIDITY);
    revoked = ASN1_TIME_new();

    if (basic == NULL || this_update == NULL || next_update == NULL
        || revoked == NULL)
    {
        goto done;
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_INTERNALERROR, NULL);
        goto done;
    }

    ca = ngx_certmate_ca_current(r->connection->log);

    if (ca == NULL) {
        ngx_certmate_store_read_end();
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, NULL);
        goto done;
    }

    n = OCSP_request_onereq_count(req);

    for (i = 0; i < n; i++) {
        id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));

        rc = ngx_http_certmate_ocsp_issuer(id, ca->cert);

        if (rc == NGX_DECLINED) {

            /* a CA of another: the whole request is not for us */

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "certmate ocsp request for another issuer");

            ngx_certmate_store_read_end();
            resp = OCSP_response_create(OCSP_RESPONSE_STATUS_UNAUTHORIZED,
                                        NULL);
            goto done;
        }

        if (rc != NGX_OK) {
            ngx_certmate_store_read_end();
            goto done;
        }

        (void) OCSP_id_get0_info(NULL, NULL, NULL, &number, id);

        serial.data = (u_char *) ASN1_STRING_get0_data(number);
        serial.len = ASN1_STRING_length(number);

        rc = ASN1_STRING_type(number) == V_ASN1_INTEGER
             ? ngx_certmate_store_serial_get(&serial, &s, r->connection->log)
             : NGX_DECLINED;

        if (rc == NGX_ERROR) {
            ngx_certmate_store_read_end();
            resp = OCSP_response_create(OCSP_RESPONSE_STATUS_INTERNALERROR,
                                        NULL);
            goto done;
        }

        status = V_OCSP_CERTSTATUS_UNKNOWN;
        reason = -1;

        if (rc == NGX_OK) {
            status = V_OCSP_CERTSTATUS_GOOD;

            if (s.status == NGX_CERTMATE_SERIAL_REVOKED) {
                status = V_OCSP_CERTSTATUS_REVOKED;
                reason = s.reason ? (int) s.reason : -1;

                if (ASN1_TIME_set(revoked, s.revoked_at) == NULL) {
                    ngx_certmate_store_read_end();
                    goto done;
                }
            }
        }

        if (OCSP_basic_add1_status(basic, id, status, reason,
                                   status == V_OCSP_CERTSTATUS_REVOKED
                                   ? revoked : NULL,
                                   this_update, next_update)
            == NULL)
        {
            ngx_certmate_store_read_end();
            goto done;
        }
    }

    ngx_certmate_store_read_end();

    if (OCSP_copy_nonce(basic, req) <= 0) {
        goto done;
    }

    if (cmlcf->ocsp_signer == NGX_HTTP_CERTMATE_OCSP_DELEGATED && ca->signer)
    {
        signer = ca->signer;
        key = ca->signer_key;

    } else {
        signer = ca->cert;
        key = ca->key;
    }

    if (OCSP_basic_sign(basic, signer, key, EVP_sha256(), NULL,
                        OCSP_RESPID_KEY)
        != 1)
    {
        goto done;
    }

    resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);

done:

    OCSP_BASICRESP_free(basic);
    ASN1_TIME_free(this_update);
    ASN1_TIME_free(next_update);
    ASN1_TIME_free(revoked);

    return resp;
}


/* NGX_OK: the CertID names the issuing CA, by its digest */

static ngx_int_t
ngx_http_certmate_ocsp_issuer(OCSP_CERTID *id, X509 *ca)
{
    ASN1_OBJECT        *md_oid;
    const EVP_MD       *md;
    ASN1_OCTET_STRING  *name_hash, *key_hash;
    unsigned int        len;
    u_char              digest[EVP_MAX_MD_SIZE];

    if (OCSP_id_get0_info(&name_hash, &md_oid, &key_hash, NULL, id) != 1) {
        return NGX_DECLINED;
    }

    md = EVP_get_digestbyobj(md_oid);
    if (md == NULL) {
        return NGX_DECLINED;
    }

    if (X509_NAME_digest(X509_get_subject_name(ca), md, digest, &len) != 1) {
        return NGX_ERROR;
    }

    if ((int) len != ASN1_STRING_length(name_hash)
        || ngx_memcmp(digest, ASN1_STRING_get0_data(name_hash), len) != 0)
    {
        return NGX_DECLINED;
    }

    if (X509_pubkey_digest(ca, md, digest, &len) != 1) {
        return NGX_ERROR;
    }

    if ((int) len != ASN1_STRING_length(key_hash)
        || ngx_memcmp(digest, ASN1_STRING_get0_data(key_hash), len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_ocsp_send(ngx_http_request_t *r, OCSP_RESPONSE *resp)
{
    int           len;
    u_char       *p;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    len = i2d_OCSP_RESPONSE(resp, NULL);
    if (len <= 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->pos;
    b->last = p + i2d_OCSP_RESPONSE(resp, &p);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_str_set(&r->headers_out.content_type, "application/ocsp-response");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
