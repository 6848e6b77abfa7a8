
/*
 * Answers of a foreign CA's OCSP responder as the helper fetches them
 * (DER), read as it reads them: the response, its signature by the CA,
 * the certificate's status and times.  The CA and the certificate asked
 * about are ocsp-answer-ca/issuer.pem and ocsp-answer-ca/cert.pem
 * (fuzz/seeds.sh writes them, and the seed answers of that responder).
 */


#include "fuzz.h"

#include "ngx_certmate_revocation.c"


static X509 *ngx_fuzz_answer_cert(char *name);


static X509         *ngx_fuzz_answer_issuer;
static OCSP_CERTID  *ngx_fuzz_answer_id;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509                       *cert;
    ngx_str_t                   body;
    ngx_pool_t                 *pool;
    ngx_certmate_revocation_t   answer;

    (void) ngx_fuzz_init();

    if (ngx_fuzz_answer_issuer == NULL) {
        ngx_fuzz_answer_issuer =
            ngx_fuzz_answer_cert("ocsp-answer-ca/issuer.pem");
        cert = ngx_fuzz_answer_cert("ocsp-answer-ca/cert.pem");

        ngx_fuzz_answer_id = OCSP_cert_to_id(EVP_sha1(), cert,
                                             ngx_fuzz_answer_issuer);
        if (ngx_fuzz_answer_id == NULL) {
            abort();
        }

        X509_free(cert);
    }

    pool = ngx_fuzz_pool();

    if (ngx_fuzz_input(pool, data, size, &body) != NGX_OK) {
        abort();
    }

    (void) ngx_certmate_ocsp_answer(&body, ngx_fuzz_answer_issuer,
                                    ngx_fuzz_answer_id, &answer);

    ERR_clear_error();
    ngx_destroy_pool(pool);

    return 0;
}


static X509 *
ngx_fuzz_answer_cert(char *name)
{
    BIO   *bio;
    X509  *x509;

    bio = BIO_new_file(name, "r");
    x509 = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    if (x509 == NULL) {
        fprintf(stderr, "cannot read %s (run from build/fuzz)\n", name);
        abort();
    }

    BIO_free(bio);

    return x509;
}
