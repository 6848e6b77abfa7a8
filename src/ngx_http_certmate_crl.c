
/*
 * certmate: serves the CRL the helper signed last, from the store:
 * DER, or PEM with "?format=pem".
 */


#include "ngx_http_certmate_crl.h"
#include "ngx_http_certmate_reply.h"
#include "ngx_certmate_store.h"


static ngx_int_t ngx_http_certmate_crl_pem(ngx_pool_t *pool,
    ngx_str_t *der, ngx_str_t *pem);


ngx_int_t
ngx_http_certmate_crl_handler(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_str_t           format, body;
    ngx_certmate_ca_t   ca;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    rc = ngx_certmate_store_ca_get(&ca, r->connection->log);

    if (rc == NGX_OK && ca.crl.len) {
        body.len = ca.crl.len;
        body.data = ngx_pnalloc(r->pool, body.len);

        if (body.data) {
            ngx_memcpy(body.data, ca.crl.data, body.len);
        }

    } else {
        ngx_str_null(&body);
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate has no CRL yet");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK
        && format.len == 3 && ngx_strncmp(format.data, "pem", 3) == 0)
    {
        if (ngx_http_certmate_crl_pem(r->pool, &body, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_certmate_send(r, NGX_HTTP_OK,
                                      "application/x-pem-file", &body);
    }

    return ngx_http_certmate_send(r, NGX_HTTP_OK, "application/pkix-crl",
                                  &body);
}


static ngx_int_t
ngx_http_certmate_crl_pem(ngx_pool_t *pool, ngx_str_t *der, ngx_str_t *pem)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   b64;

    b64.data = ngx_pnalloc(pool, ngx_base64_encoded_length(der->len));
    if (b64.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64(&b64, der);

    len = sizeof("-----BEGIN X509 CRL-----\n") - 1
          + b64.len + b64.len / 64 + 1
          + sizeof("-----END X509 CRL-----\n") - 1;

    pem->data = ngx_pnalloc(pool, len);
    if (pem->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(pem->data, "-----BEGIN X509 CRL-----\n",
                   sizeof("-----BEGIN X509 CRL-----\n") - 1);

    for (len = 0; len < b64.len; len += 64) {
        p = ngx_cpymem(p, b64.data + len, ngx_min(64, b64.len - len));
        *p++ = '\n';
    }

    p = ngx_cpymem(p, "-----END X509 CRL-----\n",
                   sizeof("-----END X509 CRL-----\n") - 1);

    pem->len = p - pem->data;

    return NGX_OK;
}
