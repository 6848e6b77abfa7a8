
/*
 * What an ACME server sends the helper: a directory, an order, an
 * authorization, a problem document, renewal information; the input is
 * read as each of them.
 */


#include "fuzz.h"
#include "ngx_certmate_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t                          start, end;
    ngx_str_t                       text;
    ngx_pool_t                     *pool;
    ngx_certmate_acme_problem_t     problem;
    ngx_certmate_acme_authz_msg_t   authz;
    ngx_certmate_acme_order_msg_t   order;
    ngx_certmate_acme_directory_t   dir;

    pool = ngx_fuzz_pool();

    if (ngx_fuzz_input(pool, data, size, &text) != NGX_OK) {
        abort();
    }

    (void) ngx_certmate_json_acme_directory(pool, &text, &dir);
    (void) ngx_certmate_json_acme_order(pool, &text, &order);
    (void) ngx_certmate_json_acme_authz(pool, &text, &authz);
    ngx_certmate_json_acme_problem(pool, &text, &problem);
    (void) ngx_certmate_json_acme_ari(pool, &text, &start, &end);

    ngx_destroy_pool(pool);

    return 0;
}
