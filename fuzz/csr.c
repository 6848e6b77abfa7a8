
/*
 * CSRs: the body of an EST enrollment and the "csr" of POST
 * /v1/ca/sign (PEM, or base64 DER with or without line breaks), parsed
 * and checked against a profile that limits names and one that does
 * not.  An input that is a DER CSR is also tried re-signed, so that a
 * mutated CSR gets past the signature to the checks of its contents.
 */


#include "fuzz.h"
#include "ngx_certmate_ca.h"


static void ngx_fuzz_csr(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_profile_t *profile);
static ngx_int_t ngx_fuzz_csr_resign(ngx_pool_t *pool, ngx_str_t *der,
    ngx_str_t *b64);


static ngx_str_t  ngx_fuzz_csr_names[] = {
    ngx_string("*.example.com"),
    ngx_string("fuzz.test")
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t                input, b64;
    ngx_pool_t              *pool;
    ngx_array_t              names;
    ngx_certmate_profile_t   open, limited;

    pool = ngx_fuzz_pool();

    if (ngx_fuzz_input(pool, data, size, &input) != NGX_OK) {
        abort();
    }

    ngx_memzero(&open, sizeof(ngx_certmate_profile_t));
    ngx_str_set(&open.name, "open");
    open.usage = NGX_CERTMATE_USAGE_SERVER;
    open.key_types = NGX_CERTMATE_KEY_ALL;
    open.key_type = NGX_CERTMATE_KEY_EC_P256;
    open.validity = 90 * 86400;
    open.max_validity = 365 * 86400;

    limited = open;
    ngx_str_set(&limited.name, "limited");
    limited.key_types = 1 << NGX_CERTMATE_KEY_EC_P256;

    names.elts = ngx_fuzz_csr_names;
    names.nelts = sizeof(ngx_fuzz_csr_names) / sizeof(ngx_str_t);
    limited.names = &names;

    ngx_fuzz_csr(pool, &input, (size & 1) ? &open : &limited);

    if (ngx_fuzz_csr_resign(pool, &input, &b64) == NGX_OK) {
        ngx_fuzz_csr(pool, &b64, (size & 1) ? &limited : &open);
    }

    ERR_clear_error();
    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_csr(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_profile_t *profile)
{
    ngx_certmate_problem_t     problem;
    ngx_certmate_ca_request_t  req;

    ngx_memzero(&req, sizeof(ngx_certmate_ca_request_t));

    if (ngx_certmate_ca_csr(pool, text, &req, &problem) != NGX_OK) {
        return;
    }

    req.profile = profile;

    (void) ngx_certmate_ca_check(pool, &req, &problem);
}


/* the DER CSR signed again by a key of our own, in base64 */

static ngx_int_t
ngx_fuzz_csr_resign(ngx_pool_t *pool, ngx_str_t *der, ngx_str_t *b64)
{
    int             len;
    u_char         *p;
    X509_REQ       *csr;
    ngx_str_t       out;
    const u_char   *in;

    static EVP_PKEY  *key;

    if (key == NULL) {
        key = EVP_EC_gen("P-256");
        if (key == NULL) {
            abort();
        }
    }

    in = der->data;

    csr = d2i_X509_REQ(NULL, &in, der->len);
    if (csr == NULL) {
        return NGX_DECLINED;
    }

    if (X509_REQ_set_pubkey(csr, key) != 1
        || X509_REQ_sign(csr, key, EVP_sha256()) <= 0)
    {
        X509_REQ_free(csr);
        return NGX_DECLINED;
    }

    len = i2d_X509_REQ(csr, NULL);

    out.data = ngx_pnalloc(pool, len > 0 ? len : 1);
    if (out.data == NULL) {
        abort();
    }

    p = out.data;
    out.len = i2d_X509_REQ(csr, &p);

    X509_REQ_free(csr);

    if (len <= 0) {
        return NGX_DECLINED;
    }

    b64->data = ngx_pnalloc(pool, ngx_base64_encoded_length(out.len));
    if (b64->data == NULL) {
        abort();
    }

    ngx_encode_base64(b64, &out);

    return NGX_OK;
}
