
/*
 * certmate: the OCSP responder (RFC 6960) of the built-in CA.
 */


#ifndef _NGX_HTTP_CERTMATE_OCSP_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_OCSP_H_INCLUDED_


#include "ngx_certmate.h"


ngx_int_t ngx_http_certmate_ocsp_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_CERTMATE_OCSP_H_INCLUDED_ */
