
/*
 * certmate: the LMDB store.  One environment per process, opened after
 * fork; the only file that knows LMDB.
 */


#ifndef _NGX_CERTMATE_STORE_H_INCLUDED_
#define _NGX_CERTMATE_STORE_H_INCLUDED_


#include "ngx_certmate.h"


#define NGX_CERTMATE_STORE_SCHEMA  1

/* a write refused because the store reached its max_size */
#define NGX_CERTMATE_STORE_FULL    -100

/* a write the store failed to make; the error log says why */
#define NGX_CERTMATE_STORE_FAILED  -101


typedef struct {
    ngx_uint_t  schema;
    uint64_t    generation;
    ngx_uint_t  certificates;
    size_t      map_size;
    size_t      map_used;
    ngx_uint_t  readers;
    ngx_uint_t  max_readers;
} ngx_certmate_store_status_t;


/* what the helper knows of a name that certmate_acme keeps */

typedef struct {
    ngx_str_t   name;
    ngx_str_t   issuer;
    time_t      next;           /* when to order: renewal, or a retry */
    time_t      ari_check;      /* when to ask for renewalInfo again */
    time_t      last_attempt;
    time_t      last_success;
    ngx_uint_t  failures;       /* since the last success */
    u_char      cert_id[NGX_CERTMATE_ID_LEN];   /* zeros: none yet */
    ngx_str_t   order;          /* URL of an order under way */
    ngx_str_t   order_key;      /* the key for that order's CSR, DER */
    ngx_str_t   error;          /* of the last failure */
} ngx_certmate_acme_state_t;


/*
 * The built-in CA: the issuing CA and its chain, the delegated OCSP
 * signer and the current CRL.  One record; "version" grows with every
 * write, so that workers know when their parsed copy is stale.
 */

typedef struct {
    uint64_t    version;
    ngx_uint_t  key_type;       /* of the issuing CA's key */
    ngx_uint_t  root_key_type;  /* 0: imported, no root key */
    ngx_str_t   chain;          /* DER certificates, issuing CA first */
    ngx_str_t   key;            /* the issuing CA's key, DER */
    ngx_str_t   root_key;

    ngx_str_t   signer;         /* the OCSP signer: certificate, DER */
    ngx_str_t   signer_key;     /* P-256, SEC1 DER */
    time_t      signer_not_after;

    ngx_str_t   crl;            /* DER */
    uint64_t    crl_number;
    time_t      crl_this_update;
    time_t      crl_next_update;
    uint64_t    crl_revocations;    /* the revocation count it covers */
} ngx_certmate_ca_t;


/* a certificate the built-in CA issued, by serial */

#define NGX_CERTMATE_SERIAL_GOOD     0
#define NGX_CERTMATE_SERIAL_REVOKED  1
#define NGX_CERTMATE_SERIAL_UNKNOWN  2      /* an OCSP answer's */

typedef struct {
    ngx_str_t   serial;         /* the INTEGER's content octets */
    ngx_uint_t  status;
    ngx_uint_t  reason;         /* CRLReason, when revoked */
    time_t      revoked_at;
    time_t      not_after;
    u_char      cert_id[NGX_CERTMATE_ID_LEN];   /* zeros: a signed CSR */
    ngx_str_t   cert;           /* DER */
    ngx_str_t   profile;
} ngx_certmate_serial_t;


typedef ngx_int_t (*ngx_certmate_serial_pt)(ngx_certmate_serial_t *serial,
    void *data);


/*
 * What a foreign CA's CRL or OCSP responder says of a serial; foreign
 * CAs are known by the SHA-256 of their DER name (the "issuer hash").
 */

typedef struct {
    ngx_uint_t  status;         /* NGX_CERTMATE_SERIAL_* */
    ngx_uint_t  reason;
    time_t      revoked_at;
    time_t      this_update;
    time_t      next_update;    /* 0: none given */
    time_t      fetched;        /* when the helper last got it */
} ngx_certmate_revocation_t;


/* a CRL the helper fetches: configured, or a distribution point seen */

typedef struct {
    ngx_str_t   url;
    time_t      next_fetch;
    time_t      fetched;        /* 0: never */
    time_t      this_update;
    time_t      next_update;
    ngx_uint_t  failures;       /* since the last success */
    ngx_uint_t  entries;
    ngx_str_t   issuer;         /* the CA seen with it, DER; may be empty */
    ngx_str_t   error;          /* of the last failure */
} ngx_certmate_crl_source_t;


typedef struct {
    ngx_str_t   serial;         /* the INTEGER's content octets */
    ngx_uint_t  reason;
    time_t      revoked_at;
} ngx_certmate_crl_entry_t;


/* an OCSP answer the helper keeps for a foreign certificate seen */

typedef struct {
    u_char                     issuer_hash[NGX_CERTMATE_ISSUER_HASH_LEN];
    ngx_str_t                  serial;
    ngx_uint_t                 answered;    /* 0: asked for, none yet */
    ngx_certmate_revocation_t  answer;
    time_t                     next_fetch;
    ngx_uint_t                 failures;
    ngx_str_t                  url;
    ngx_str_t                  issuer;      /* the issuer's DER */
    ngx_str_t                  error;
} ngx_certmate_ocsp_entry_t;


/* an ACME account */

typedef struct {
    ngx_str_t   issuer;
    ngx_str_t   directory;
    ngx_str_t   url;            /* the account URL, JWS "kid" */
    ngx_str_t   key;            /* P-256, SEC1 DER */
} ngx_certmate_acme_account_t;


/* a one-time EST enrollment token, known by the SHA-256 of its text */

typedef struct {
    u_char      hash[SHA256_DIGEST_LENGTH];
    time_t      expires;
    ngx_str_t   names;          /* DNS names, each ending in '\0' */
    ngx_str_t   profile;
} ngx_certmate_est_token_t;


/*
 * An event of the audit log: the store numbers it and chains it to the
 * one before by the SHA-256 of both
 */

typedef struct {
    uint64_t    seq;
    time_t      time;
    ngx_str_t   type;           /* "certificate.import", ... */
    ngx_str_t   actor;          /* "token ops", "helper", ... */
    ngx_str_t   client;         /* the client's address; empty: none */
    ngx_str_t   object;         /* a certificate id, a serial, a name */
    ngx_str_t   detail;
    u_char      prev[SHA256_DIGEST_LENGTH];
    u_char      hash[SHA256_DIGEST_LENGTH];
} ngx_certmate_audit_t;


/* an OCSP response stapled to a certificate served from the store */

typedef struct {
    time_t      produced;       /* when the helper made or fetched it */
    time_t      next_update;
    time_t      refresh;        /* when the helper gets a new one */
    ngx_uint_t  failures;       /* since the last one got */
    ngx_str_t   der;            /* empty: none yet, only the schedule */
} ngx_certmate_staple_t;


/*
 * Threads.  The store belongs to the thread that opened it, a process's
 * event loop: opening and closing, and every read, which goes through
 * the process's one read transaction and its cursors (read_begin ...
 * read_end, and each function that reads inside it), are for that
 * thread only.  A thread of a pool may call only the writes that do
 * nothing but a write transaction of their own:
 *
 *     ngx_certmate_store_put()             ngx_certmate_store_delete()
 *     ngx_certmate_store_ca_issued()       ngx_certmate_store_revoke()
 *     ngx_certmate_store_est_token_put()   ngx_certmate_store_acme_renew()
 *     ngx_certmate_store_audit_put()
 *
 * In a thread these hold a mutex over the transaction, against the
 * event loop replacing the environment or its map meanwhile, and return
 * NGX_AGAIN, having written nothing, when the store must first be
 * opened, opened again or its map adopted: the event loop then makes
 * the same call.  No thread takes a reader slot (the environment has
 * MDB_NOTLS, so the event loop's read transaction is its slot whatever
 * thread writes).  Every other function is for the event loop only.
 */

void ngx_certmate_store_init(ngx_str_t *path, size_t max_size);
ngx_int_t ngx_certmate_store_open(ngx_log_t *log);
void ngx_certmate_store_close(void);

ngx_int_t ngx_certmate_store_read_begin(ngx_log_t *log);
void ngx_certmate_store_read_end(void);
ngx_int_t ngx_certmate_store_find(ngx_str_t *name,
    ngx_certmate_ref_t refs[NGX_CERTMATE_CLASSES], ngx_log_t *log);
ngx_int_t ngx_certmate_store_get(u_char *id, ngx_certmate_cert_t *cert,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_next(u_char *after, ngx_certmate_cert_t *cert,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_status(ngx_certmate_store_status_t *st,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_acme_get(ngx_str_t *name,
    ngx_certmate_acme_state_t *state, ngx_log_t *log);
ngx_int_t ngx_certmate_store_acme_next(ngx_str_t *after,
    ngx_certmate_acme_state_t *state, ngx_log_t *log);
ngx_int_t ngx_certmate_store_account_get(ngx_str_t *issuer,
    ngx_certmate_acme_account_t *account, ngx_log_t *log);
ngx_int_t ngx_certmate_store_token_get(ngx_str_t *token, ngx_str_t *keyauth,
    ngx_log_t *log);

ngx_int_t ngx_certmate_store_ca_get(ngx_certmate_ca_t *ca, ngx_log_t *log);
ngx_int_t ngx_certmate_store_counter(char *name, uint64_t *count,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_serial_get(ngx_str_t *serial,
    ngx_certmate_serial_t *s, ngx_log_t *log);
ngx_int_t ngx_certmate_store_serial_each(ngx_certmate_serial_pt handler,
    void *data, ngx_log_t *log);

ngx_int_t ngx_certmate_store_crl_find(u_char *issuer, ngx_str_t *serial,
    ngx_certmate_revocation_t *rv, ngx_log_t *log);
ngx_int_t ngx_certmate_store_ocsp_find(u_char *issuer, ngx_str_t *serial,
    ngx_certmate_revocation_t *rv, ngx_log_t *log);
ngx_int_t ngx_certmate_store_crl_source_next(ngx_str_t *after,
    ngx_certmate_crl_source_t *src, ngx_log_t *log);
ngx_int_t ngx_certmate_store_ocsp_next(ngx_str_t *after,
    ngx_certmate_ocsp_entry_t *entry, ngx_log_t *log);

ngx_int_t ngx_certmate_store_crl_want(ngx_str_t *url, ngx_str_t *issuer,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_ocsp_want(u_char *issuer, ngx_str_t *serial,
    ngx_str_t *url, ngx_str_t *issuer_cert, ngx_log_t *log);
ngx_int_t ngx_certmate_store_crl_source_put(ngx_certmate_crl_source_t *src,
    ngx_log_t *log);
/* entries NULL: the CRL is the one stored, only its times change */
ngx_int_t ngx_certmate_store_crl_replace(ngx_certmate_crl_source_t *src,
    u_char *issuer, ngx_certmate_crl_entry_t *entries, ngx_uint_t n,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_ocsp_put(ngx_certmate_ocsp_entry_t *entry,
    ngx_log_t *log);

ngx_int_t ngx_certmate_store_put(ngx_certmate_cert_t *cert,
    ngx_uint_t *replaced, ngx_certmate_audit_t *audit, ngx_log_t *log);
ngx_int_t ngx_certmate_store_delete(u_char *id, ngx_certmate_audit_t *audit,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_acme_put(ngx_certmate_acme_state_t *state,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_acme_issued(ngx_certmate_acme_state_t *state,
    ngx_certmate_cert_t *cert, u_char *old, ngx_certmate_audit_t *audit,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_ca_put(ngx_certmate_ca_t *ca, ngx_log_t *log);
ngx_int_t ngx_certmate_store_ca_issued(ngx_certmate_serial_t *serial,
    ngx_certmate_cert_t *cert, u_char *old, u_char *token,
    ngx_certmate_audit_t *audit, ngx_log_t *log);
ngx_int_t ngx_certmate_store_acme_renew(ngx_str_t *name, ngx_log_t *log);
ngx_int_t ngx_certmate_store_revoke(ngx_str_t *serial, ngx_uint_t reason,
    time_t when, ngx_certmate_audit_t *audit, ngx_log_t *log);
ngx_int_t ngx_certmate_store_account_put(ngx_certmate_acme_account_t *account,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_token_put(ngx_str_t *token, ngx_str_t *keyauth,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_token_delete(ngx_str_t *token, ngx_log_t *log);
ngx_int_t ngx_certmate_store_est_token_get(u_char *hash,
    ngx_certmate_est_token_t *token, ngx_log_t *log);
ngx_int_t ngx_certmate_store_est_token_put(ngx_certmate_est_token_t *token,
    ngx_certmate_audit_t *audit, ngx_log_t *log);
ngx_int_t ngx_certmate_store_audit_put(ngx_certmate_audit_t *audit,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_audit_next(uint64_t after,
    ngx_certmate_audit_t *audit, ngx_log_t *log);
ngx_int_t ngx_certmate_store_counter_set(char *name, uint64_t value,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_expiry_get(u_char *id, ngx_uint_t *days,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_staple_get(u_char *id,
    ngx_certmate_staple_t *staple, ngx_log_t *log);
ngx_int_t ngx_certmate_store_staple_put(u_char *id,
    ngx_certmate_staple_t *staple, ngx_log_t *log);
ngx_int_t ngx_certmate_store_expiry_put(u_char *id, ngx_uint_t days,
    ngx_certmate_audit_t *audit, ngx_log_t *log);
void ngx_certmate_store_est_tokens_expire(time_t now, ngx_log_t *log);

void ngx_certmate_store_check_readers(ngx_log_t *log);


#endif /* _NGX_CERTMATE_STORE_H_INCLUDED_ */
