
/*
 * certmate: certificate records: built from PEM, parsed from DER,
 * described for people.
 */


#ifndef _NGX_CERTMATE_CERT_H_INCLUDED_
#define _NGX_CERTMATE_CERT_H_INCLUDED_


#include "ngx_certmate.h"


typedef struct {
    ngx_str_t     id;
    ngx_array_t   names;            /* ngx_str_t */
    ngx_str_t     key_type;
    ngx_str_t     serial;
    ngx_str_t     subject;
    ngx_str_t     issuer;
    time_t        not_before;
    time_t        not_after;
    ngx_str_t     fingerprint;
    ngx_str_t     source;
    ngx_str_t     profile;
    ngx_str_t     status;
    uint64_t      version;
} ngx_certmate_cert_info_t;


ngx_int_t ngx_certmate_cert_import(ngx_pool_t *pool, ngx_str_t *chain_pem,
    ngx_str_t *key_pem, ngx_certmate_cert_t *cert,
    ngx_certmate_problem_t *problem);
ngx_int_t ngx_certmate_cert_build(ngx_pool_t *pool, ngx_str_t *chain_pem,
    EVP_PKEY *key, ngx_uint_t source, ngx_certmate_cert_t *cert,
    ngx_certmate_problem_t *problem);
ngx_int_t ngx_certmate_cert_issued(ngx_pool_t *pool, X509 *leaf,
    ngx_str_t *der, ngx_str_t *ca_der, EVP_PKEY *key, ngx_uint_t kept,
    ngx_uint_t source, ngx_certmate_cert_t *cert);
ngx_int_t ngx_certmate_cert_split(ngx_str_t *chain, ngx_str_t *ders,
    ngx_uint_t *n);
X509 *ngx_certmate_cert_x509(ngx_str_t *der, ngx_log_t *log);
ngx_int_t ngx_certmate_cert_serial(ngx_pool_t *pool, X509 *x,
    ngx_str_t *serial);
ngx_int_t ngx_certmate_cert_x509_name(ngx_pool_t *pool, X509_NAME *name,
    ngx_str_t *text);
time_t ngx_certmate_cert_time(const ASN1_TIME *t);
ngx_int_t ngx_certmate_issuer_hash(X509_NAME *name, u_char *hash);

ngx_int_t ngx_certmate_key_encode(ngx_pool_t *pool, EVP_PKEY *key,
    ngx_str_t *der);
EVP_PKEY *ngx_certmate_key_decode(ngx_uint_t type, ngx_str_t *der,
    ngx_log_t *log);
EVP_PKEY *ngx_certmate_key_generate(ngx_uint_t type, ngx_log_t *log);
ngx_uint_t ngx_certmate_key_type(EVP_PKEY *key);
ngx_int_t ngx_certmate_key_type_parse(ngx_str_t *name);
ngx_int_t ngx_certmate_key_type_conf(ngx_conf_t *cf, ngx_str_t *name);
ngx_int_t ngx_certmate_csr(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *names,
    ngx_uint_t n, ngx_str_t *der);
ngx_int_t ngx_certmate_name_valid(ngx_str_t *name);
ngx_int_t ngx_certmate_cert_info(ngx_pool_t *pool, ngx_certmate_cert_t *cert,
    ngx_certmate_cert_info_t *info);
ngx_uint_t ngx_certmate_cert_has_name(ngx_certmate_cert_t *cert,
    ngx_str_t *name);
ngx_str_t *ngx_certmate_key_type_name(ngx_uint_t type);
ngx_str_t *ngx_certmate_source_name(ngx_uint_t source);
ngx_int_t ngx_certmate_source_parse(ngx_str_t *name);

void ngx_certmate_problem(ngx_pool_t *pool, ngx_certmate_problem_t *problem,
    const char *code, const char *fmt, ...);

time_t ngx_certmate_time_parse(ngx_str_t *text);
ngx_int_t ngx_certmate_id_parse(ngx_str_t *hex, u_char *id);
u_char *ngx_certmate_id_hex(u_char *dst, u_char *id);


#endif /* _NGX_CERTMATE_CERT_H_INCLUDED_ */
