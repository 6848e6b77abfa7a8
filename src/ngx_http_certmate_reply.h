
/*
 * certmate: what the locations of certmate share: the request body in
 * one piece, a reply of bytes, a key made off the event loop, the
 * request's state and its events for the audit log.
 */


#ifndef _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_


#include "ngx_certmate.h"
#include "ngx_certmate_store.h"


typedef ngx_int_t (*ngx_http_certmate_key_pt)(ngx_http_request_t *r,
    EVP_PKEY *key, void *data);


ngx_http_certmate_ctx_t *ngx_http_certmate_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_certmate_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body);
ngx_int_t ngx_http_certmate_skip_body(ngx_http_request_t *r);
ngx_int_t ngx_http_certmate_send(ngx_http_request_t *r, ngx_uint_t status,
    char *type, ngx_str_t *body);
ngx_int_t ngx_http_certmate_make_key(ngx_http_request_t *r, ngx_uint_t type,
    ngx_http_certmate_key_pt handler, void *data);
ngx_certmate_audit_t *ngx_http_certmate_audit(ngx_http_request_t *r,
    const char *type, ngx_str_t *object, const char *fmt, ...);


#endif /* _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_ */
