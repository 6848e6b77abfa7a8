
/*
 * certmate: TLS certificates per SNI name from the store.
 */


#ifndef _NGX_HTTP_CERTMATE_SSL_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_SSL_H_INCLUDED_


#include "ngx_certmate.h"


char *ngx_http_certmate_ssl_enable(ngx_conf_t *cf);
ngx_int_t ngx_http_certmate_ssl_init(ngx_conf_t *cf);
ngx_int_t ngx_http_certmate_ssl_served_id(ngx_connection_t *c, u_char *hex);


#endif /* _NGX_HTTP_CERTMATE_SSL_H_INCLUDED_ */
