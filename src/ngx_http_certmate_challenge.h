
/*
 * certmate: answers ACME HTTP-01 challenges on every server.
 */


#ifndef _NGX_HTTP_CERTMATE_CHALLENGE_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_CHALLENGE_H_INCLUDED_


#include "ngx_certmate.h"


ngx_int_t ngx_http_certmate_challenge_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_CERTMATE_CHALLENGE_H_INCLUDED_ */
