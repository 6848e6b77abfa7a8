
/*
 * Certificate and key import (POST /v1/certificates): the PEM chain,
 * then a NUL, then the PEM key.  The record it builds is described as
 * the API shows it, and its DER is read back as a worker reads it.  The
 * two parts are also read as the DER a record holds: a certificate, and
 * an EC and an RSA key.
 */


#include "fuzz.h"
#include "ngx_certmate_cert.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509                      *x;
    EVP_PKEY                  *key;
    ngx_str_t                  chain, key_pem, ders[NGX_CERTMATE_CHAIN_MAX];
    ngx_uint_t                 n, i;
    ngx_pool_t                *pool;
    ngx_certmate_cert_t        cert;
    ngx_certmate_problem_t     problem;
    ngx_certmate_cert_info_t   info;

    pool = ngx_fuzz_pool();

    if (ngx_fuzz_split(pool, data, size, &chain, &key_pem) != NGX_OK) {
        abort();
    }

    ngx_memzero(&cert, sizeof(ngx_certmate_cert_t));

    if (ngx_certmate_cert_import(pool, &chain, &key_pem, &cert, &problem)
        == NGX_OK)
    {
        if (ngx_certmate_cert_info(pool, &cert, &info) != NGX_OK) {
            abort();
        }

        if (ngx_certmate_cert_split(&cert.chain, ders, &n) != NGX_OK) {
            abort();
        }

        for (i = 0; i < n; i++) {
            x = ngx_certmate_cert_x509(&ders[i], pool->log);
            if (x == NULL) {
                abort();
            }

            X509_free(x);
        }

        key = ngx_certmate_key_decode(cert.key_type, &cert.key, pool->log);
        if (key == NULL) {
            abort();
        }

        EVP_PKEY_free(key);
    }

    x = ngx_certmate_cert_x509(&chain, pool->log);
    X509_free(x);

    key = ngx_certmate_key_decode(NGX_CERTMATE_KEY_EC_P256, &key_pem,
                                  pool->log);
    EVP_PKEY_free(key);

    key = ngx_certmate_key_decode(NGX_CERTMATE_KEY_RSA_2048, &key_pem,
                                  pool->log);
    EVP_PKEY_free(key);

    ERR_clear_error();
    ngx_destroy_pool(pool);

    return 0;
}
