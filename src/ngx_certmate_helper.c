
/*
 * certmate: the helper process.  nginx calls the manager callback of
 * the store's path at the helper's start and then as often as the
 * callback asks; every tick's work is bounded and nothing in it waits
 * on the network.
 */


#include "ngx_certmate_helper.h"
#include "ngx_certmate_acme.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_revocation.h"
#include "ngx_certmate_store.h"
#include "ngx_http_certmate_metrics.h"


#define NGX_CERTMATE_HELPER_READERS  10
#define NGX_CERTMATE_HELPER_TOKENS   3600


/* helper process only */

ngx_msec_t
ngx_certmate_helper_manager(void *data)
{
    ngx_http_certmate_main_conf_t *cmmcf = data;

    static time_t  readers, tokens;

    time_t      now;
    ngx_msec_t  wait;

    now = ngx_time();

    if (ngx_certmate_counters) {
        ngx_certmate_counters->helper_run = now;
    }

    if (now >= readers) {
        ngx_certmate_store_check_readers(ngx_cycle->log);
        readers = now + NGX_CERTMATE_HELPER_READERS;
    }

    if (now >= tokens) {
        ngx_certmate_store_est_tokens_expire(now, ngx_cycle->log);
        tokens = now + NGX_CERTMATE_HELPER_TOKENS;
    }

    wait = ngx_certmate_acme_tick(cmmcf, ngx_cycle->log);
    wait = ngx_min(wait, ngx_certmate_ca_tick(cmmcf, ngx_cycle->log));
    wait = ngx_min(wait, ngx_certmate_revocation_tick(cmmcf, ngx_cycle->log));

    return ngx_min(wait, (ngx_msec_t) (readers - now) * 1000);
}
