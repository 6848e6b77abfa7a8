
/*
 * certmate: revocation data of foreign CAs, kept by the helper: CRLs
 * ("certmate_crl_fetch" and distribution points seen at handshakes)
 * and OCSP answers for the foreign certificates seen.
 */


#ifndef _NGX_CERTMATE_REVOCATION_H_INCLUDED_
#define _NGX_CERTMATE_REVOCATION_H_INCLUDED_


#include "ngx_certmate.h"


char *ngx_certmate_crl_fetch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_msec_t ngx_certmate_revocation_tick(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log);


#endif /* _NGX_CERTMATE_REVOCATION_H_INCLUDED_ */
