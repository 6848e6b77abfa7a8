
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


/* ACME messages (RFC 8555, RFC 9773) */

typedef struct {
    ngx_str_t     new_nonce;
    ngx_str_t     new_account;
    ngx_str_t     new_order;
    ngx_str_t     renewal_info;         /* empty: no ARI */
    ngx_uint_t    eab_required;
} ngx_certmate_acme_directory_t;


typedef struct {
    ngx_str_t     status;
    ngx_array_t   authorizations;       /* ngx_str_t, URLs */
    ngx_str_t     finalize;
    ngx_str_t     certificate;
    ngx_str_t     error;                /* detail of the order's error */
} ngx_certmate_acme_order_msg_t;


typedef struct {
    ngx_str_t     status;
    ngx_str_t     challenge;            /* URL of its http-01 challenge */
    ngx_str_t     token;
    ngx_str_t     error;                /* detail of the challenge's error */
} ngx_certmate_acme_authz_msg_t;


typedef struct {
    ngx_str_t     type;
    ngx_str_t     detail;
} ngx_certmate_acme_problem_t;


/* the members a request body may have */

#define NGX_CERTMATE_JSON_STRING   1
#define NGX_CERTMATE_JSON_STRINGS  2       /* an array of strings */

typedef struct {
    const char   *name;
    ngx_uint_t    type;
    ngx_uint_t    required;
    void         *value;    /* ngx_str_t, or ngx_array_t of ngx_str_t */
} ngx_certmate_json_field_t;


ngx_int_t ngx_certmate_json_fields(ngx_pool_t *pool, ngx_str_t *body,
    ngx_certmate_json_field_t *fields, ngx_certmate_problem_t *problem);

ngx_int_t ngx_certmate_json_problem(ngx_pool_t *pool,
    ngx_certmate_problem_t *problem, ngx_str_t *out);
ngx_int_t ngx_certmate_json_certificate(ngx_pool_t *pool,
    ngx_certmate_cert_info_t *info, ngx_str_t *out);
ngx_int_t ngx_certmate_json_health(ngx_pool_t *pool,
    ngx_certmate_store_status_t *status, ngx_str_t *out);

ngx_int_t ngx_certmate_json_acme_directory(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_directory_t *dir);
ngx_int_t ngx_certmate_json_acme_order(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_order_msg_t *order);
ngx_int_t ngx_certmate_json_acme_authz(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_authz_msg_t *authz);
void ngx_certmate_json_acme_problem(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_problem_t *problem);
ngx_int_t ngx_certmate_json_acme_ari(ngx_pool_t *pool, ngx_str_t *text,
    time_t *start, time_t *end);
ngx_int_t ngx_certmate_json_acme_account(ngx_pool_t *pool,
    ngx_str_t *contact, ngx_str_t *eab, ngx_str_t *out);
ngx_int_t ngx_certmate_json_acme_new_order(ngx_pool_t *pool,
    ngx_str_t *names, ngx_uint_t n, ngx_str_t *replaces, ngx_str_t *out);
ngx_int_t ngx_certmate_json_acme_finalize(ngx_pool_t *pool, ngx_str_t *csr,
    ngx_str_t *out);
ngx_int_t ngx_certmate_json_jwk(ngx_pool_t *pool, ngx_str_t *x, ngx_str_t *y,
    ngx_str_t *out);
ngx_int_t ngx_certmate_json_jws_header(ngx_pool_t *pool, const char *alg,
    ngx_str_t *nonce, ngx_str_t *url, ngx_str_t *kid, ngx_str_t *jwk,
    ngx_str_t *out);
ngx_int_t ngx_certmate_json_jws(ngx_pool_t *pool, ngx_str_t *header,
    ngx_str_t *payload, ngx_str_t *signature, ngx_str_t *out);

ngx_certmate_json_t *ngx_certmate_json_object(ngx_pool_t *pool);
ngx_int_t ngx_certmate_json_set_str(ngx_certmate_json_t *obj,
    const char *key, ngx_str_t *value);
ngx_int_t ngx_certmate_json_set_strs(ngx_certmate_json_t *obj,
    const char *key, ngx_str_t *values, ngx_uint_t n);
ngx_int_t ngx_certmate_json_set_time(ngx_certmate_json_t *obj,
    const char *key, time_t value);
ngx_int_t ngx_certmate_json_set_uint(ngx_certmate_json_t *obj,
    const char *key, uint64_t value);
ngx_int_t ngx_certmate_json_set_object(ngx_certmate_json_t *obj,
    const char *key, ngx_certmate_json_t *value);
ngx_int_t ngx_certmate_json_object_done(ngx_pool_t *pool,
    ngx_certmate_json_t *obj, ngx_str_t *out);

ngx_certmate_json_t *ngx_certmate_json_list(ngx_pool_t *pool);
ngx_int_t ngx_certmate_json_list_add(ngx_certmate_json_t *list,
    ngx_certmate_cert_info_t *info);
ngx_int_t ngx_certmate_json_list_add_acme(ngx_certmate_json_t *list,
    ngx_certmate_acme_state_t *state);
ngx_int_t ngx_certmate_json_list_add_audit(ngx_certmate_json_t *list,
    ngx_certmate_audit_t *audit);
ngx_int_t ngx_certmate_json_audit_line(ngx_pool_t *pool,
    ngx_certmate_audit_t *audit, ngx_str_t *out);
ngx_int_t ngx_certmate_json_list_done(ngx_pool_t *pool,
    ngx_certmate_json_t *list, ngx_str_t *next_cursor, ngx_str_t *out);


#endif /* _NGX_CERTMATE_JSON_H_INCLUDED_ */
