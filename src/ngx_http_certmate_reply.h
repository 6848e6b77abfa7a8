
/*
 * certmate: what the locations of certmate share: the request body in
 * one piece, and a reply of bytes.
 */


#ifndef _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_


#include "ngx_certmate.h"


ngx_int_t ngx_http_certmate_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body);
ngx_int_t ngx_http_certmate_send(ngx_http_request_t *r, ngx_uint_t status,
    char *type, ngx_str_t *body);


#endif /* _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_ */
