
/*
 * certmate: the built-in CA's current CRL, as a location.
 */


#ifndef _NGX_HTTP_CERTMATE_CRL_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_CRL_H_INCLUDED_


#include "ngx_certmate.h"


ngx_int_t ngx_http_certmate_crl_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_CERTMATE_CRL_H_INCLUDED_ */
