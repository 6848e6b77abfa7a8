
/*
 * certmate: OCSP responses for the certificates served from the store,
 * kept by the helper process, stapled by the workers.
 */


#ifndef _NGX_CERTMATE_STAPLING_H_INCLUDED_
#define _NGX_CERTMATE_STAPLING_H_INCLUDED_


#include "ngx_certmate.h"


ngx_msec_t ngx_certmate_stapling_tick(ngx_log_t *log);


#endif /* _NGX_CERTMATE_STAPLING_H_INCLUDED_ */
