
/*
 * Admin API bodies and arguments: the JSON of each kind of body (its
 * first byte picks which), then every value through the parsers the
 * admin API hands them to: names checked as for issuance, ids, serials,
 * times, reasons, key types, sources.
 */


#include "fuzz.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_json.h"


static void ngx_fuzz_admin_value(ngx_pool_t *pool, ngx_str_t *value);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t                   body, *s;
    ngx_str_t                   a, b, c;
    ngx_uint_t                  i;
    ngx_array_t                 names;
    ngx_pool_t                 *pool;
    ngx_certmate_problem_t      problem;
    ngx_certmate_profile_t      profile;
    ngx_certmate_ca_request_t   req;
    ngx_certmate_json_field_t   import[] = {
        { "certificate", NGX_CERTMATE_JSON_STRING, 1, &a },
        { "private_key", NGX_CERTMATE_JSON_STRING, 1, &b },
        { NULL, 0, 0, NULL }
    };
    ngx_certmate_json_field_t   issue[] = {
        { "names", NGX_CERTMATE_JSON_STRINGS, 1, &names },
        { "profile", NGX_CERTMATE_JSON_STRING, 0, &a },
        { "key", NGX_CERTMATE_JSON_STRING, 0, &b },
        { "validity", NGX_CERTMATE_JSON_STRING, 0, &c },
        { NULL, 0, 0, NULL }
    };
    ngx_certmate_json_field_t   revoke[] = {
        { "reason", NGX_CERTMATE_JSON_STRING, 0, &a },
        { NULL, 0, 0, NULL }
    };
    ngx_certmate_json_field_t  *kinds[] = { import, issue, revoke };

    if (size == 0) {
        return 0;
    }

    pool = ngx_fuzz_pool();

    if (ngx_fuzz_input(pool, data + 1, size - 1, &body) != NGX_OK) {
        abort();
    }

    ngx_str_null(&a);
    ngx_str_null(&b);
    ngx_str_null(&c);
    ngx_memzero(&names, sizeof(ngx_array_t));

    if (ngx_certmate_json_fields(pool, &body, kinds[data[0] % 3], &problem)
        != NGX_OK)
    {
        goto done;
    }

    ngx_fuzz_admin_value(pool, &a);
    ngx_fuzz_admin_value(pool, &b);
    ngx_fuzz_admin_value(pool, &c);

    s = names.elts;

    for (i = 0; i < names.nelts; i++) {
        ngx_fuzz_admin_value(pool, &s[i]);
    }

    if (names.nelts) {
        ngx_memzero(&profile, sizeof(ngx_certmate_profile_t));
        ngx_str_set(&profile.name, "fuzz");
        profile.key_types = NGX_CERTMATE_KEY_ALL;
        profile.key_type = NGX_CERTMATE_KEY_EC_P256;
        profile.validity = 86400;
        profile.max_validity = 86400;

        ngx_memzero(&req, sizeof(ngx_certmate_ca_request_t));
        req.names = names.elts;
        req.nnames = names.nelts;
        req.profile = &profile;

        (void) ngx_certmate_ca_check(pool, &req, &problem);
    }

done:

    ngx_destroy_pool(pool);

    return 0;
}


static void
ngx_fuzz_admin_value(ngx_pool_t *pool, ngx_str_t *value)
{
    u_char     id[NGX_CERTMATE_ID_LEN];
    ngx_str_t  serial;

    /* a member the body does not have */

    if (value->data == NULL) {
        return;
    }

    (void) ngx_certmate_name_valid(value);
    (void) ngx_certmate_id_parse(value, id);
    (void) ngx_certmate_ca_serial_parse(pool, value, &serial);
    (void) ngx_certmate_time_parse(value);
    (void) ngx_certmate_ca_reason_parse(value);
    (void) ngx_certmate_key_type_parse(value);
    (void) ngx_certmate_source_parse(value);
    (void) ngx_parse_time(value, 1);
}
