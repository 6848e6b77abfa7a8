
/*
 * certmate: the ACME client of the helper process.
 */


#ifndef _NGX_CERTMATE_ACME_H_INCLUDED_
#define _NGX_CERTMATE_ACME_H_INCLUDED_


#include "ngx_certmate.h"


ngx_msec_t ngx_certmate_acme_tick(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log);


#endif /* _NGX_CERTMATE_ACME_H_INCLUDED_ */
