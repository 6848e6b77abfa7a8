
/*
 * certmate: client certificates: verified against the store's CA and
 * "certmate_client_ca" at the handshake, checked for revocation from
 * local data at every request, told to the upstream in variables.
 */


#ifndef _NGX_HTTP_CERTMATE_VERIFY_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_VERIFY_H_INCLUDED_


#include "ngx_certmate.h"


char *ngx_http_certmate_verify_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_certmate_client_ca(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_certmate_revocation(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_certmate_client_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_certmate_verify_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_certmate_verify_init(ngx_conf_t *cf);
ngx_int_t ngx_http_certmate_verify_ctx(ngx_conf_t *cf,
    ngx_http_core_srv_conf_t *cscf, ngx_http_certmate_srv_conf_t *cmscf,
    ngx_http_ssl_srv_conf_t *sscf);
void ngx_http_certmate_verify_servername(ngx_connection_t *c,
    ngx_http_certmate_srv_conf_t *cmscf);
ngx_int_t ngx_http_certmate_client_admitted(ngx_http_request_t *r,
    X509 **cert);


#endif /* _NGX_HTTP_CERTMATE_VERIFY_H_INCLUDED_ */
