
/*
 * certmate: the helper process.  nginx calls the manager callback of
 * the store's path at the helper's start and then as often as the
 * callback asks; every tick's work is bounded.
 */


#include "ngx_certmate_helper.h"
#include "ngx_certmate_store.h"


#define NGX_CERTMATE_HELPER_TICK  10000


/* helper process only */

ngx_msec_t
ngx_certmate_helper_manager(void *data)
{
    ngx_certmate_store_check_readers(ngx_cycle->log);

    return NGX_CERTMATE_HELPER_TICK;
}
