
/*
 * certmate: the built-in CA: made or imported by the helper, issuing
 * certificates by profile, revoking them, signing the CRL.
 */


#ifndef _NGX_CERTMATE_CA_H_INCLUDED_
#define _NGX_CERTMATE_CA_H_INCLUDED_


#include "ngx_certmate.h"
#include "ngx_certmate_store.h"


/* the CA as a worker uses it, parsed from the store's record */

typedef struct {
    uint64_t         version;
    X509            *cert;          /* the issuing CA */
    EVP_PKEY        *key;
    STACK_OF(X509)  *chain;         /* the issuing CA up to the root */
    X509            *signer;        /* the delegated OCSP signer */
    EVP_PKEY        *signer_key;
    ngx_str_t        chain_pem;     /* to serve: the issuing CA up */
    ngx_str_t        chain_der;     /* the same */
} ngx_certmate_ca_signing_t;


/* what to issue */

typedef struct {
    ngx_str_t                *names;
    ngx_uint_t                nnames;
    ngx_certmate_profile_t   *profile;
    ngx_uint_t                key_type;     /* 0: the profile's first */
    time_t                    validity;     /* 0: the profile's */
    EVP_PKEY                 *key;
    ngx_uint_t                kept;         /* the key is ours, stored */
    ngx_uint_t                source;       /* of the record; 0: none */
    X509_REQ                 *csr;          /* the CSR it came from */
    u_char                   *token;        /* an EST token it uses up */
    ngx_certmate_audit_t     *audit;        /* its event, for the serial */
} ngx_certmate_ca_request_t;


/* what was issued */

typedef struct {
    ngx_certmate_cert_t       cert;         /* key empty for a CSR */
    ngx_str_t                 pem;          /* the certificate */
    ngx_str_t                 serial;       /* hex */
    ngx_str_t                 chain;        /* PEM, the issuing CA up */
} ngx_certmate_ca_issued_t;


ngx_certmate_profile_t *ngx_certmate_profile_find(
    ngx_http_certmate_main_conf_t *cmmcf, ngx_str_t *name);
char *ngx_certmate_profile_parse(ngx_conf_t *cf,
    ngx_certmate_profile_t *profile);
char *ngx_certmate_ca_parse(ngx_conf_t *cf, ngx_certmate_ca_conf_t *cacf);

ngx_certmate_ca_signing_t *ngx_certmate_ca_current(ngx_log_t *log);
ngx_int_t ngx_certmate_ca_csr(ngx_pool_t *pool, ngx_str_t *der,
    ngx_certmate_ca_request_t *req, ngx_certmate_problem_t *problem);
ngx_int_t ngx_certmate_ca_check(ngx_pool_t *pool,
    ngx_certmate_ca_request_t *req, ngx_certmate_problem_t *problem);
ngx_int_t ngx_certmate_ca_hold(ngx_pool_t *pool,
    ngx_certmate_ca_signing_t **held, ngx_log_t *log);
ngx_int_t ngx_certmate_ca_issue(ngx_pool_t *pool,
    ngx_certmate_ca_signing_t *ca, ngx_certmate_ca_request_t *req,
    u_char *old, ngx_certmate_ca_issued_t *issued,
    ngx_certmate_problem_t *problem, ngx_log_t *log);
ngx_int_t ngx_certmate_ca_reason_parse(ngx_str_t *name);
ngx_str_t *ngx_certmate_ca_reason_name(ngx_uint_t reason);
ngx_int_t ngx_certmate_ca_serial_parse(ngx_pool_t *pool, ngx_str_t *hex,
    ngx_str_t *serial);
ngx_int_t ngx_certmate_ca_serial_hex(ngx_pool_t *pool, ngx_str_t *serial,
    ngx_str_t *hex);

ngx_msec_t ngx_certmate_ca_tick(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log);
void ngx_certmate_ca_done(void);


#endif /* _NGX_CERTMATE_CA_H_INCLUDED_ */
