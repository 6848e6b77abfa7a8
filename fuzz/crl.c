
/*
 * CRLs of foreign CAs as the helper fetches them (PEM or DER), read as
 * it reads them: the CRL, its times and every entry.
 */


#include "fuzz.h"

#include "ngx_certmate_revocation.c"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509_CRL                  *crl;
    ngx_str_t                  body;
    ngx_uint_t                 n;
    ngx_pool_t                *pool;
    ngx_certmate_crl_entry_t  *entries;

    pool = ngx_fuzz_pool();

    if (ngx_fuzz_input(pool, data, size, &body) != NGX_OK) {
        abort();
    }

    crl = ngx_certmate_crl_parse(&body);

    if (crl) {
        (void) ngx_certmate_cert_time(X509_CRL_get0_lastUpdate(crl));

        if (X509_CRL_get0_nextUpdate(crl)) {
            (void) ngx_certmate_cert_time(X509_CRL_get0_nextUpdate(crl));
        }

        (void) ngx_certmate_crl_entries(pool, crl, &entries, &n);

        X509_CRL_free(crl);
    }

    ERR_clear_error();
    ngx_destroy_pool(pool);

    return 0;
}
