
/*
 * OCSP requests to the responder of the built-in CA: the input as a
 * POST body (DER) and as the path of a GET (percent-encoded base64 after
 * the location's prefix), answered as a worker answers them, signed by
 * the CA or by its delegated signer.  The CA is imported from
 * ocsp-ca/ca.pem and ocsp-ca/ca.key (fuzz/seeds.sh writes them, and the
 * seed requests for it), into a real store.
 */


#include "fuzz.h"

#include "ngx_http_certmate_ocsp.c"


static void ngx_fuzz_ocsp_init(ngx_log_t *log);
static void ngx_fuzz_ocsp_file(char *name, ngx_str_t *text);


static ngx_http_request_t             ngx_fuzz_ocsp_r;
static ngx_connection_t               ngx_fuzz_ocsp_c;
static ngx_http_certmate_loc_conf_t   ngx_fuzz_ocsp_cmlcf;
static void                          *ngx_fuzz_ocsp_loc_conf[1];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t               expires;
    ngx_str_t            input, der, answer;
    ngx_log_t           *log;
    ngx_http_request_t  *r;

    static ngx_uint_t    ready;

    log = ngx_fuzz_init();

    if (!ready) {
        ngx_fuzz_ocsp_init(log);
        ready = 1;
    }

    r = &ngx_fuzz_ocsp_r;
    r->pool = ngx_fuzz_pool();

    if (ngx_fuzz_input(r->pool, data, size, &input) != NGX_OK) {
        abort();
    }

    ngx_fuzz_ocsp_cmlcf.ocsp_signer = (size & 1) ? NGX_HTTP_CERTMATE_OCSP_CA
                                      : NGX_HTTP_CERTMATE_OCSP_DELEGATED;

    if (ngx_http_certmate_ocsp_answer(r, &input, &answer, &expires)
        != NGX_OK)
    {
        abort();
    }

    r->unparsed_uri = input;

    if (ngx_http_certmate_ocsp_get(r, &der) != NGX_OK
        || ngx_http_certmate_ocsp_answer(r, &der, &answer, &expires)
           != NGX_OK)
    {
        abort();
    }

    ERR_clear_error();
    ngx_destroy_pool(r->pool);

    return 0;
}


static void
ngx_fuzz_ocsp_init(ngx_log_t *log)
{
    ngx_certmate_ca_conf_t          cacf;
    ngx_http_certmate_main_conf_t   cmmcf;

    ngx_fuzz_store(16 * 1024 * 1024);

    ngx_memzero(&cacf, sizeof(ngx_certmate_ca_conf_t));
    ngx_memzero(&cmmcf, sizeof(ngx_http_certmate_main_conf_t));

    ngx_fuzz_ocsp_file("ocsp-ca/ca.pem", &cacf.cert);
    ngx_fuzz_ocsp_file("ocsp-ca/ca.key", &cacf.key);
    cacf.validity = 86400;
    cmmcf.ca = &cacf;

    (void) ngx_certmate_ca_tick(&cmmcf, log);

    free(cacf.cert.data);
    free(cacf.key.data);

    if (ngx_certmate_store_read_begin(log) != NGX_OK
        || ngx_certmate_ca_current(log) == NULL)
    {
        abort();
    }

    ngx_certmate_store_read_end();

    /* what a request needs of nginx: a log, the location's configuration */

    ngx_certmate_module.ctx_index = 0;
    ngx_fuzz_ocsp_loc_conf[0] = &ngx_fuzz_ocsp_cmlcf;
    ngx_str_set(&ngx_fuzz_ocsp_cmlcf.prefix, "/ocsp");

    ngx_fuzz_ocsp_c.log = log;
    ngx_fuzz_ocsp_r.connection = &ngx_fuzz_ocsp_c;
    ngx_fuzz_ocsp_r.loc_conf = ngx_fuzz_ocsp_loc_conf;
}


static void
ngx_fuzz_ocsp_file(char *name, ngx_str_t *text)
{
    FILE  *f;

    text->data = malloc(65536);

    f = fopen(name, "r");

    if (f == NULL || text->data == NULL) {
        fprintf(stderr, "cannot read %s (run from build/fuzz)\n", name);
        abort();
    }

    text->len = fread(text->data, 1, 65536, f);
    fclose(f);
}
