
/*
 * certmate: certificates for nginx from a shared LMDB store.
 * The common header: includes, shared types and constants.
 */


#ifndef _NGX_CERTMATE_H_INCLUDED_
#define _NGX_CERTMATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_CERTMATE_ID_LEN           16
#define NGX_CERTMATE_ID_HEX_LEN       (2 * NGX_CERTMATE_ID_LEN)
#define NGX_CERTMATE_FINGERPRINT_LEN  32
#define NGX_CERTMATE_ISSUER_HASH_LEN  32      /* SHA-256 of a DER name */
#define NGX_CERTMATE_NAME_MAX         253
#define NGX_CERTMATE_CHAIN_MAX        10      /* certificates in a chain */


/* key types, as stored: never renumber */

#define NGX_CERTMATE_KEY_EC_P256      1
#define NGX_CERTMATE_KEY_EC_P384      2
#define NGX_CERTMATE_KEY_RSA_2048     3
#define NGX_CERTMATE_KEY_RSA_3072     4
#define NGX_CERTMATE_KEY_RSA_4096     5

/* every key type, as bits (1 << type) */
#define NGX_CERTMATE_KEY_ALL                                                  \
    ((1 << (NGX_CERTMATE_KEY_RSA_4096 + 1)) - 2)


/* key classes: a handshake gets at most one certificate of each */

#define NGX_CERTMATE_CLASS_EC         0
#define NGX_CERTMATE_CLASS_RSA        1
#define NGX_CERTMATE_CLASSES          2

#define ngx_certmate_key_class(type)                                          \
    ((type) <= NGX_CERTMATE_KEY_EC_P384 ? NGX_CERTMATE_CLASS_EC               \
                                        : NGX_CERTMATE_CLASS_RSA)


/* where a certificate came from, as stored: never renumber */

#define NGX_CERTMATE_SOURCE_IMPORT    1
#define NGX_CERTMATE_SOURCE_CA        2
#define NGX_CERTMATE_SOURCE_ACME      3
#define NGX_CERTMATE_SOURCE_EST       4


/* one certificate as the store keeps it */

typedef struct {
    u_char                  id[NGX_CERTMATE_ID_LEN];
    uint64_t                version;
    time_t                  not_before;
    time_t                  not_after;
    ngx_uint_t              key_type;
    ngx_uint_t              source;
    ngx_uint_t              revoked;    /* by the built-in CA: not served */
    ngx_uint_t              client_only;    /* clientAuth only: not served */
    u_char                  fingerprint[NGX_CERTMATE_FINGERPRINT_LEN];
    ngx_str_t               chain;      /* DER certificates, leaf first */
    ngx_str_t               key;        /* DER: SEC1 or PKCS#1 */
    ngx_str_t               names;      /* DNS names, each ending in '\0' */
    ngx_str_t               profile;
    ngx_str_t               serial;     /* the leaf's, in hex */
    ngx_str_t               subject;    /* the leaf's, RFC 2253 */
    ngx_str_t               issuer;
} ngx_certmate_cert_t;


/* why a request was refused: a short code and a sentence for people */

typedef struct {
    const char             *code;
    ngx_str_t               message;
} ngx_certmate_problem_t;


/* what the names index says a name gets, per key class */

typedef struct {
    u_char                  id[NGX_CERTMATE_ID_LEN];
    uint64_t                version;    /* 0: no certificate */
} ngx_certmate_ref_t;


/* "certmate_acme_issuer": an ACME CA and our account there */

typedef struct {
    ngx_str_t               name;
    ngx_str_t               directory;
    ngx_str_t               contact;
    ngx_str_t               eab_kid;
    ngx_str_t               eab_hmac_key;   /* decoded */
    ngx_str_t               ca_bundle;
    ngx_uint_t              key_type;       /* of the certificates */
    time_t                  renew_before;   /* 0: ARI or 2/3 of lifetime */
    time_t                  retry;          /* first delay after failure */
    ngx_msec_t              timeout;        /* of one HTTP exchange */
    u_char                 *file;
    ngx_uint_t              line;
} ngx_certmate_acme_issuer_t;


/* a name "certmate_acme" keeps a certificate for */

typedef struct {
    ngx_str_t                    name;
    ngx_certmate_acme_issuer_t  *issuer;
    u_char                      *file;
    ngx_uint_t                   line;
} ngx_certmate_acme_name_t;


/* "certmate_ca": the built-in CA, made by the helper or imported */

typedef struct {
    ngx_uint_t              key_type;       /* of a root certmate makes */
    ngx_str_t               subject;        /* "CN=...,O=..." */
    time_t                  validity;
    ngx_str_t               cert;           /* imported: PEM, CA first */
    ngx_str_t               key;            /* imported: PEM */
    ngx_str_t               crl_url;
    ngx_str_t               ocsp_url;
    u_char                 *file;
    ngx_uint_t              line;
} ngx_certmate_ca_conf_t;


/* "certmate_profile": what the built-in CA issues, and to whom */

#define NGX_CERTMATE_USAGE_SERVER     1
#define NGX_CERTMATE_USAGE_CLIENT     2

typedef struct {
    ngx_str_t               name;
    ngx_uint_t              usage;
    ngx_uint_t              key_types;      /* bits: 1 << key type */
    ngx_uint_t              key_type;       /* the first of "key=" */
    time_t                  validity;
    time_t                  max_validity;
    ngx_array_t            *names;          /* ngx_str_t patterns; NULL: any */
    ngx_uint_t              pop;            /* EST: channel binding needed */
    u_char                 *file;
    ngx_uint_t              line;
} ngx_certmate_profile_t;


/* "certmate_crl_fetch": a foreign CA's CRL the helper keeps */

typedef struct {
    ngx_str_t               url;
    time_t                  interval;
    u_char                 *file;
    ngx_uint_t              line;
} ngx_certmate_crl_fetch_t;


/* "certmate_notify": a webhook the helper posts events to */

#define NGX_CERTMATE_NOTIFY_EXPIRY      1
#define NGX_CERTMATE_NOTIFY_RENEWAL     2
#define NGX_CERTMATE_NOTIFY_REVOCATION  4

typedef struct {
    ngx_str_t               url;
    ngx_uint_t              events;         /* NGX_CERTMATE_NOTIFY_* bits */
    ngx_array_t            *expiry;         /* ngx_uint_t days, descending */
    u_char                  cursor[48];     /* its meta counter's name */
    u_char                 *file;
    ngx_uint_t              line;
} ngx_certmate_notify_t;


typedef struct {
    ngx_path_t             *store;
    size_t                  max_size;
    ngx_uint_t              cache_size;
    ngx_array_t             issuers;        /* ngx_certmate_acme_issuer_t */
    ngx_array_t             acme_names;     /* ngx_certmate_acme_name_t */
    ngx_certmate_ca_conf_t *ca;
    ngx_array_t             profiles;       /* ngx_certmate_profile_t */
    ngx_array_t             crl_fetches;    /* ngx_certmate_crl_fetch_t */
    STACK_OF(X509)         *client_cas;     /* of every "certmate_client_ca" */
    ngx_str_t               audit_log;      /* the JSON-lines mirror */
    ngx_array_t             notifies;       /* ngx_certmate_notify_t */
} ngx_http_certmate_main_conf_t;


/* "certmate_verify_client" */

#define NGX_HTTP_CERTMATE_VERIFY_ON        1
#define NGX_HTTP_CERTMATE_VERIFY_OPTIONAL  2


typedef struct {
    ngx_flag_t              certificate;
    ngx_str_t               default_name;
    ngx_uint_t              fallback;   /* has an "ssl_certificate" */
    u_char                 *file;
    ngx_uint_t              line;

    ngx_array_t            *acme;       /* "certmate_acme" arguments */
    u_char                 *acme_file;
    ngx_uint_t              acme_line;

    ngx_uint_t              verify;
    ngx_int_t               verify_depth;
    u_char                 *verify_file;
    ngx_uint_t              verify_line;
    ngx_str_t               client_ca;
    STACK_OF(X509)         *anchors;    /* of "certmate_client_ca" */
    X509_STORE             *trust;      /* per worker: anchors and the CA */
    X509                   *trust_ca;   /* the store's CA in it, or NULL */
    uint64_t                trust_version;
} ngx_http_certmate_srv_conf_t;


typedef struct {
    ngx_str_t               name;
    u_char                  hash[32];   /* SHA-256 of the token */
} ngx_http_certmate_token_t;


/* "certmate_revocation" */

#define NGX_HTTP_CERTMATE_REVOCATION_HARD  1
#define NGX_HTTP_CERTMATE_REVOCATION_SOFT  2


/* one "certmate_client_require": all of its conditions must hold */

typedef struct {
    ngx_str_t               profile;
#if (NGX_PCRE)
    ngx_regex_t            *san;
    ngx_regex_t            *subject;
#endif
} ngx_http_certmate_require_t;


/* "certmate_est_auth": bits of the methods a location accepts */

#define NGX_HTTP_CERTMATE_EST_BASIC        1
#define NGX_HTTP_CERTMATE_EST_TOKEN        2
#define NGX_HTTP_CERTMATE_EST_CERT         4


/* "certmate_est_profile": the profile of the paths of a label */

typedef struct {
    ngx_str_t                 label;        /* empty: no label */
    ngx_str_t                 name;
    ngx_certmate_profile_t   *profile;      /* found at merge */
    u_char                   *file;
    ngx_uint_t                line;
} ngx_http_certmate_est_label_t;


/* "certmate_ocsp signer=" */

#define NGX_HTTP_CERTMATE_OCSP_CA          1
#define NGX_HTTP_CERTMATE_OCSP_DELEGATED   2

typedef struct {
    ngx_flag_t              admin;
    ngx_flag_t              crl;
    ngx_flag_t              metrics;
    ngx_uint_t              ocsp_signer;
    ngx_str_t               prefix;     /* the location's name */
    off_t                   body_limit;
    ngx_array_t            *tokens;     /* ngx_http_certmate_token_t */
    ngx_uint_t              revocation;
    time_t                  revocation_max_age;
    ngx_array_t            *requires;   /* ngx_http_certmate_require_t */
    u_char                 *require_file;
    ngx_uint_t              require_line;
    ngx_flag_t              est;
    ngx_flag_t              est_revoke_superseded;
    ngx_uint_t              est_auth;   /* NGX_HTTP_CERTMATE_EST_* bits */
    ngx_str_t               est_passwd; /* of "basic" */
    ngx_array_t            *est_labels; /* ngx_http_certmate_est_label_t */
    u_char                 *file;
    ngx_uint_t              line;
} ngx_http_certmate_loc_conf_t;


typedef struct ngx_http_certmate_client_s     ngx_http_certmate_client_t;
typedef struct ngx_http_certmate_admin_ctx_s  ngx_http_certmate_admin_ctx_t;
typedef struct ngx_http_certmate_est_ctx_s    ngx_http_certmate_est_ctx_t;


/*
 * a request's state: its client certificate, the admin call or EST
 * enrollment under way
 */

typedef struct {
    ngx_http_certmate_client_t     *client;
    ngx_http_certmate_admin_ctx_t  *admin;
    ngx_http_certmate_est_ctx_t    *est;
    ngx_str_t                       actor;      /* for the audit log */
} ngx_http_certmate_ctx_t;


extern ngx_module_t  ngx_certmate_module;


#endif /* _NGX_CERTMATE_H_INCLUDED_ */
