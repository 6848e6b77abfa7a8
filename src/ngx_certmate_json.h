
/*
 * certmate: JSON in and out of the admin API; the only file that knows
 * jansson.  Documents live in a pool: a pool cleanup frees them.
 */


#ifndef _NGX_CERTMATE_JSON_H_INCLUDED_
#define _NGX_CERTMATE_JSON_H_INCLUDED_


#include "ngx_certmate.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_store.h"


typedef struct ngx_certmate_json_s  ngx_certmate_json_t;


ngx_int_t ngx_certmate_json_import(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *certificate, ngx_str_t *private_key,
    ngx_certmate_problem_t *problem);

ngx_int_t ngx_certmate_json_problem(ngx_pool_t *pool,
    ngx_certmate_problem_t *problem, ngx_str_t *out);
ngx_int_t ngx_certmate_json_certificate(ngx_pool_t *pool,
    ngx_certmate_cert_info_t *info, ngx_str_t *out);
ngx_int_t ngx_certmate_json_health(ngx_pool_t *pool,
    ngx_certmate_store_status_t *status, ngx_str_t *out);

ngx_certmate_json_t *ngx_certmate_json_list(ngx_pool_t *pool);
ngx_int_t ngx_certmate_json_list_add(ngx_certmate_json_t *list,
    ngx_certmate_cert_info_t *info);
ngx_int_t ngx_certmate_json_list_done(ngx_pool_t *pool,
    ngx_certmate_json_t *list, ngx_str_t *next_cursor, ngx_str_t *out);


#endif /* _NGX_CERTMATE_JSON_H_INCLUDED_ */
