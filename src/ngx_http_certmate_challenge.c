
/*
 * certmate: answers ACME HTTP-01 challenges on every server.
 *
 * A handler of the post-read phase, before any rewrite or location of
 * the site: GET /.well-known/acme-challenge/<token> for a token that
 * the helper put in the store gets its key authorization; any other
 * request, also under that prefix, goes on to the site's configuration.
 */


#include "ngx_http_certmate_challenge.h"
#include "ngx_certmate_store.h"


#define NGX_HTTP_CERTMATE_TOKEN_MAX  256


static ngx_int_t ngx_http_certmate_challenge_handler(ngx_http_request_t *r);


static ngx_str_t  ngx_http_certmate_challenge_prefix =
    ngx_string("/.well-known/acme-challenge/");


ngx_int_t
ngx_http_certmate_challenge_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_certmate_challenge_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_challenge_handler(ngx_http_request_t *r)
{
    u_char       c, *p, *last;
    ngx_int_t    rc;
    ngx_str_t    token, keyauth, found;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    if (r->uri.len <= ngx_http_certmate_challenge_prefix.len
        || ngx_strncmp(r->uri.data, ngx_http_certmate_challenge_prefix.data,
                       ngx_http_certmate_challenge_prefix.len)
           != 0
        || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        return NGX_DECLINED;
    }

    token.data = r->uri.data + ngx_http_certmate_challenge_prefix.len;
    token.len = r->uri.len - ngx_http_certmate_challenge_prefix.len;

    if (token.len > NGX_HTTP_CERTMATE_TOKEN_MAX) {
        return NGX_DECLINED;
    }

    /* tokens are base64url */

    last = token.data + token.len;

    for (p = token.data; p < last; p++) {
        c = *p;

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return NGX_DECLINED;
        }
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return NGX_DECLINED;
    }

    rc = ngx_certmate_store_token_get(&token, &found, r->connection->log);

    if (rc == NGX_OK) {
        keyauth.len = found.len;
        keyauth.data = ngx_pstrdup(r->pool, &found);

        if (keyauth.data == NULL) {
            rc = NGX_ERROR;
        }
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "certmate challenge answered for token \"%V\"", &token);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = keyauth.len;
    ngx_str_set(&r->headers_out.content_type, "application/octet-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = keyauth.data;
    b->last = keyauth.data + keyauth.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}
