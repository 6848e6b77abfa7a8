
/*
 * certmate: notifications by webhook, sent by the helper process.
 */


#ifndef _NGX_CERTMATE_NOTIFY_H_INCLUDED_
#define _NGX_CERTMATE_NOTIFY_H_INCLUDED_


#include "ngx_certmate.h"


char *ngx_certmate_notify_parse(ngx_conf_t *cf, ngx_certmate_notify_t *nt);
ngx_msec_t ngx_certmate_notify_tick(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log);


#endif /* _NGX_CERTMATE_NOTIFY_H_INCLUDED_ */
