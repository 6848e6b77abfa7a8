
/*
 * certmate: JSON Web Signatures for ACME: ES256 with the account key,
 * HS256 for external account binding.
 */


#ifndef _NGX_CERTMATE_JWS_H_INCLUDED_
#define _NGX_CERTMATE_JWS_H_INCLUDED_


#include "ngx_certmate.h"


ngx_int_t ngx_certmate_jws_jwk(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *jwk, ngx_str_t *thumbprint);
ngx_int_t ngx_certmate_jws_sign(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *hmac, ngx_str_t *header, ngx_str_t *payload, ngx_str_t *out);
ngx_int_t ngx_certmate_base64url(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_str_t *out);


#endif /* _NGX_CERTMATE_JWS_H_INCLUDED_ */
