
/*
 * certmate: EST (RFC 7030), enrollment over secure transport.
 */


#ifndef _NGX_HTTP_CERTMATE_EST_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_EST_H_INCLUDED_


#include "ngx_certmate.h"


ngx_int_t ngx_http_certmate_est_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_certmate_est_operation(ngx_str_t *name);


#endif /* _NGX_HTTP_CERTMATE_EST_H_INCLUDED_ */
