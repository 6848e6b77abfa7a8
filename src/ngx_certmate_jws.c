
/*
 * certmate: JSON Web Signatures for ACME (RFC 7515, RFC 7638, RFC 8555
 * section 6.2): flattened JSON serialization, ES256 with the account's
 * P-256 key, HS256 with an external account binding key.
 */


#include "ngx_certmate_jws.h"
#include "ngx_certmate_json.h"

#include <openssl/hmac.h>


#define NGX_CERTMATE_JWS_P256  32


/* the account key's JWK, and its thumbprint in base64url */

ngx_int_t
ngx_certmate_jws_jwk(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *jwk,
    ngx_str_t *thumbprint)
{
    u_char     *pub;
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   x, y;
    u_char      md[SHA256_DIGEST_LENGTH];

    /* 04, X, Y */

    len = EVP_PKEY_get1_encoded_public_key(key, &pub);

    if (len != 1 + 2 * NGX_CERTMATE_JWS_P256 || pub[0] != 4) {
        OPENSSL_free(pub);
        return NGX_ERROR;
    }

    rc = ngx_certmate_base64url(pool, pub + 1, NGX_CERTMATE_JWS_P256, &x);

    if (rc == NGX_OK) {
        rc = ngx_certmate_base64url(pool, pub + 1 + NGX_CERTMATE_JWS_P256,
                                    NGX_CERTMATE_JWS_P256, &y);
    }

    OPENSSL_free(pub);

    if (rc != NGX_OK || ngx_certmate_json_jwk(pool, &x, &y, jwk) != NGX_OK) {
        return NGX_ERROR;
    }

    SHA256(jwk->data, jwk->len, md);

    return ngx_certmate_base64url(pool, md, sizeof(md), thumbprint);
}


/* a JWS of the payload (empty for POST-as-GET), by "key" or by "hmac" */

ngx_int_t
ngx_certmate_jws_sign(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *hmac,
    ngx_str_t *header, ngx_str_t *payload, ngx_str_t *out)
{
    u_char         *p;
    size_t          len;
    ngx_int_t       rc;
    ngx_str_t       h64, p64, s64, input;
    EVP_MD_CTX     *ctx;
    ECDSA_SIG      *sig;
    const BIGNUM   *r, *s;
    const u_char   *der;
    unsigned int    mdlen;
    u_char          signature[256], raw[2 * NGX_CERTMATE_JWS_P256];

    if (ngx_certmate_base64url(pool, header->data, header->len, &h64)
        != NGX_OK
        || ngx_certmate_base64url(pool, payload->data, payload->len, &p64)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    input.len = h64.len + 1 + p64.len;
    input.data = ngx_pnalloc(pool, input.len);
    if (input.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(input.data, h64.data, h64.len);
    *p++ = '.';
    ngx_memcpy(p, p64.data, p64.len);

    if (hmac) {
        if (HMAC(EVP_sha256(), hmac->data, hmac->len, input.data, input.len,
                 signature, &mdlen)
            == NULL)
        {
            return NGX_ERROR;
        }

        rc = ngx_certmate_base64url(pool, signature, mdlen, &s64);

    } else {
        ctx = EVP_MD_CTX_new();
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        len = sizeof(signature);

        rc = (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
              && EVP_DigestSign(ctx, signature, &len, input.data, input.len)
                 == 1)
             ? NGX_OK : NGX_ERROR;

        EVP_MD_CTX_free(ctx);

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        /* JWS wants r and s side by side, not the DER of X9.62 */

        der = signature;

        sig = d2i_ECDSA_SIG(NULL, &der, len);
        if (sig == NULL) {
            return NGX_ERROR;
        }

        ECDSA_SIG_get0(sig, &r, &s);

        rc = (BN_bn2binpad(r, raw, NGX_CERTMATE_JWS_P256) > 0
              && BN_bn2binpad(s, raw + NGX_CERTMATE_JWS_P256,
                              NGX_CERTMATE_JWS_P256) > 0)
             ? NGX_OK : NGX_ERROR;

        ECDSA_SIG_free(sig);

        if (rc == NGX_OK) {
            rc = ngx_certmate_base64url(pool, raw, sizeof(raw), &s64);
        }
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_certmate_json_jws(pool, &h64, &p64, &s64, out);
}


ngx_int_t
ngx_certmate_base64url(ngx_pool_t *pool, u_char *data, size_t len,
    ngx_str_t *out)
{
    ngx_str_t  src;

    src.data = data;
    src.len = len;

    out->data = ngx_pnalloc(pool, ngx_base64_encoded_length(len) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(out, &src);
    out->data[out->len] = '\0';

    return NGX_OK;
}
