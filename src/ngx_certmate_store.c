
/*
 * certmate: the LMDB store.
 *
 * Schema (one environment, named databases):
 *
 *   meta      "schema"      -> uint32, NGX_CERTMATE_STORE_SCHEMA
 *             "generation"  -> uint64, bumped by every change that TLS
 *                              sees
 *   certs     id (16 bytes) -> a certificate record: flags (revoked; not
 *                              served: for clients only, or without a key
 *                              here; such are not in names), the chain DER
 *                              (leaf first), the key DER (SEC1 for ECDSA,
 *                              PKCS#1 for RSA; empty when not served and
 *                              the key is the holder's), the names (each
 *                              ending in '\0'), the profile, and the
 *                              leaf's serial (hex), subject and issuer
 *   names     name          -> dups of ngx_certmate_store_ref_t, sorted
 *                              so that the newest certificate of each key
 *                              class comes first; names are lowercase,
 *                              wildcards stored as "*.example.com"
 *   acme      name          -> the ACME state of a name: the issuer, the
 *                              order under way and its key, the last error
 *   accounts  issuer name   -> an ACME account: directory, URL, key
 *   tokens    token         -> the key authorization of an HTTP-01
 *                              challenge under way
 *   ca        "ca"          -> the built-in CA: its chain and key (and
 *                              the root's key when certmate made it),
 *                              the delegated OCSP signer, the current CRL
 *   serials   serial        -> a certificate the built-in CA issued, by
 *                              the content octets of its serial: status,
 *                              revocation time and reason, the DER, the
 *                              profile, the id of its stored record
 *             meta "revocations" -> uint64, bumped by every revocation
 *   crls      URL           -> a foreign CRL the helper fetches: when,
 *                              what it had, the CA certificate seen with
 *                              it (for distribution points), the error
 *   revoked   issuer hash   -> the CRL state of a foreign CA: its
 *                              thisUpdate, nextUpdate, when fetched
 *             issuer hash + serial
 *                           -> an entry of that CRL: time and reason
 *   ocsp      issuer hash + serial
 *                           -> an OCSP answer for a foreign certificate
 *                              seen at a handshake (or the wish for one):
 *                              status, times, the responder URL and the
 *                              issuer's certificate
 *   audit     sequence number (uint64, big-endian)
 *                           -> an event of the audit log: time, type,
 *                              actor, client, object, detail, and the
 *                              SHA-256 of the event before it and of
 *                              this one with that
 *             meta "audit_mirrored" -> uint64, the last event the
 *                              helper wrote to "certmate_audit_log"
 *   staples   certificate id -> the OCSP response stapled to it: when
 *                              the helper made or fetched it, its
 *                              nextUpdate, when to refresh it, the DER;
 *                              removed with the certificate
 *   expiry    certificate id -> uint32, the smallest threshold (days) of
 *                              "certmate_notify expiry=" that the
 *                              certificate's expiry crossed and that an
 *                              audit event told; removed with the
 *                              certificate
 *   est_tokens
 *             SHA-256 of a token
 *                           -> a one-time EST enrollment token: when it
 *                              expires, the names and the profile it
 *                              allows; removed when used
 *
 * An issuer hash is the SHA-256 of the CA's DER name.
 *
 * Records are a fixed header, the lengths of the blobs that follow it
 * (uint32 each) and the blobs.  A certificate's version is the
 * generation that wrote it.
 */


#include "ngx_certmate_store.h"

#include <lmdb.h>


#define NGX_CERTMATE_STORE_FORMAT   1
#define NGX_CERTMATE_STORE_DBS      16
#define NGX_CERTMATE_STORE_READERS  510
#define NGX_CERTMATE_STORE_RETRY    1

#define NGX_CERTMATE_STORE_CERT_BLOBS     7
#define NGX_CERTMATE_STORE_ACME_BLOBS     4
#define NGX_CERTMATE_STORE_ACCOUNT_BLOBS  3
#define NGX_CERTMATE_STORE_CA_BLOBS       6
#define NGX_CERTMATE_STORE_SERIAL_BLOBS   2
#define NGX_CERTMATE_STORE_CRL_BLOBS      2
#define NGX_CERTMATE_STORE_OCSP_BLOBS     3
#define NGX_CERTMATE_STORE_EST_BLOBS      2
#define NGX_CERTMATE_STORE_AUDIT_BLOBS    5
#define NGX_CERTMATE_STORE_STAPLE_BLOBS   1

#define NGX_CERTMATE_STORE_CERT_REVOKED   0x0001
#define NGX_CERTMATE_STORE_CERT_CLIENT    0x0002


typedef struct {
    uint32_t        format;
    uint8_t         key_type;
    uint8_t         source;
    uint16_t        flags;
    uint64_t        version;
    int64_t         not_before;
    int64_t         not_after;
    u_char          fingerprint[NGX_CERTMATE_FINGERPRINT_LEN];
} ngx_certmate_store_cert_rec_t;


typedef struct {
    uint32_t        format;
    uint32_t        failures;
    int64_t         next;
    int64_t         ari_check;
    int64_t         last_attempt;
    int64_t         last_success;
    u_char          cert_id[NGX_CERTMATE_ID_LEN];
} ngx_certmate_store_acme_rec_t;


typedef struct {
    uint32_t        format;
} ngx_certmate_store_account_rec_t;


typedef struct {
    uint32_t        format;
    uint8_t         key_type;
    uint8_t         root_key_type;
    uint16_t        reserved;
    uint64_t        version;
    int64_t         signer_not_after;
    uint64_t        crl_number;
    int64_t         crl_this_update;
    int64_t         crl_next_update;
    uint64_t        crl_revocations;
} ngx_certmate_store_ca_rec_t;


typedef struct {
    uint32_t        format;
    uint8_t         status;
    uint8_t         reason;
    uint16_t        reserved;
    int64_t         revoked_at;
    int64_t         not_after;
    u_char          cert_id[NGX_CERTMATE_ID_LEN];
} ngx_certmate_store_serial_rec_t;


typedef struct {
    uint32_t        format;
    uint32_t        failures;
    int64_t         next_fetch;
    int64_t         fetched;
    int64_t         this_update;
    int64_t         next_update;
    uint64_t        entries;
} ngx_certmate_store_crl_rec_t;


/* "revoked": the state of a CA's CRL, and its entries */

typedef struct {
    uint32_t        format;
    uint32_t        reserved;
    int64_t         this_update;
    int64_t         next_update;
    int64_t         fetched;
} ngx_certmate_store_crl_state_rec_t;


typedef struct {
    int64_t         revoked_at;
    uint32_t        reason;
    uint32_t        reserved;
} ngx_certmate_store_revoked_rec_t;


typedef struct {
    uint32_t        format;
    uint8_t         answered;
    uint8_t         status;
    uint8_t         reason;
    uint8_t         failures;
    int64_t         revoked_at;
    int64_t         this_update;
    int64_t         next_update;
    int64_t         fetched;
    int64_t         next_fetch;
} ngx_certmate_store_ocsp_rec_t;


typedef struct {
    uint32_t        format;
    uint32_t        reserved;
    int64_t         expires;
} ngx_certmate_store_est_rec_t;


typedef struct {
    uint32_t        format;
    uint32_t        failures;
    int64_t         produced;
    int64_t         next_update;
    int64_t         refresh;
} ngx_certmate_store_staple_rec_t;


typedef struct {
    uint32_t        format;
    uint32_t        reserved;
    uint64_t        seq;
    int64_t         time;
    u_char          prev[SHA256_DIGEST_LENGTH];
    u_char          hash[SHA256_DIGEST_LENGTH];
} ngx_certmate_store_audit_rec_t;


typedef struct {
    u_char          key_class;
    u_char          newness[8];     /* ~version, big-endian */
    u_char          id[NGX_CERTMATE_ID_LEN];
} ngx_certmate_store_ref_t;


typedef struct {
    ngx_str_t       path;
    size_t          max_size;
    time_t          retry;

    MDB_env        *env;
    MDB_dbi         meta;
    MDB_dbi         certs;
    MDB_dbi         names;
    MDB_dbi         acme;
    MDB_dbi         accounts;
    MDB_dbi         tokens;
    MDB_dbi         ca;
    MDB_dbi         serials;
    MDB_dbi         crls;
    MDB_dbi         revoked;
    MDB_dbi         ocsp;
    MDB_dbi         est_tokens;
    MDB_dbi         audit;
    MDB_dbi         expiry;
    MDB_dbi         staples;

    MDB_txn        *rtxn;           /* reset between uses */
    MDB_cursor     *names_cursor;
    MDB_cursor     *certs_cursor;
    ngx_uint_t      reading;
#if (NGX_THREADS)
    ngx_tid_t       tid;            /* of the event loop, which opens */
#endif
} ngx_certmate_store_t;


static ngx_int_t ngx_certmate_store_setup(ngx_log_t *log);
static void ngx_certmate_store_reader_close(void);
static ngx_int_t ngx_certmate_store_txn_begin(MDB_txn **txn,
    unsigned int flags, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_read(MDB_dbi dbi, MDB_val *key,
    MDB_val *data, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_find_name(MDB_val *key,
    ngx_certmate_ref_t refs[NGX_CERTMATE_CLASSES], ngx_log_t *log);
static ngx_int_t ngx_certmate_store_cert_decode(MDB_val *data,
    ngx_certmate_cert_t *cert, ngx_log_t *log);
static void ngx_certmate_store_cert_blobs(ngx_certmate_cert_t *cert,
    ngx_str_t **blobs);
static ngx_int_t ngx_certmate_store_acme_decode(MDB_val *key, MDB_val *data,
    ngx_certmate_acme_state_t *state, ngx_log_t *log);
static void ngx_certmate_store_acme_blobs(ngx_certmate_acme_state_t *state,
    ngx_str_t **blobs);
static ngx_int_t ngx_certmate_store_write_begin(MDB_txn **txn,
    ngx_log_t *log);
#if (NGX_THREADS)
static ngx_int_t ngx_certmate_store_thread_begin(MDB_txn **txn,
    ngx_log_t *log);
#endif
static ngx_uint_t ngx_certmate_store_threaded(void);
static void ngx_certmate_store_lock(ngx_log_t *log);
static void ngx_certmate_store_unlock(ngx_log_t *log);
static ngx_int_t ngx_certmate_store_linked(ngx_log_t *log);
static ngx_int_t ngx_certmate_store_write_end(MDB_txn *txn, ngx_int_t rc,
    ngx_certmate_audit_t *audit, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_cert_write(MDB_txn *txn,
    ngx_certmate_cert_t *cert, ngx_uint_t *replaced, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_cert_remove(MDB_txn *txn, u_char *id,
    ngx_uint_t *found, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_acme_write(MDB_txn *txn,
    ngx_certmate_acme_state_t *state, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_unlink(MDB_txn *txn, u_char *id,
    ngx_uint_t *found, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_link(MDB_txn *txn,
    ngx_certmate_cert_t *cert, ngx_log_t *log);
static void ngx_certmate_store_ref(ngx_certmate_store_ref_t *ref,
    ngx_certmate_cert_t *cert);
static ngx_int_t ngx_certmate_store_bump(MDB_txn *txn, char *counter,
    uint64_t *value, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_ca_decode(MDB_val *data,
    ngx_certmate_ca_t *ca, ngx_log_t *log);
static void ngx_certmate_store_ca_blobs(ngx_certmate_ca_t *ca,
    ngx_str_t **blobs);
static ngx_int_t ngx_certmate_store_serial_decode(MDB_val *key,
    MDB_val *data, ngx_certmate_serial_t *s, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_revocation_key(u_char *buf,
    u_char *issuer, ngx_str_t *serial, MDB_val *key);
static ngx_int_t ngx_certmate_store_next_key(MDB_dbi dbi, ngx_str_t *after,
    MDB_val *key, MDB_val *data, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_crl_decode(MDB_val *key, MDB_val *data,
    ngx_certmate_crl_source_t *src, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_ocsp_decode(MDB_val *key, MDB_val *data,
    ngx_certmate_ocsp_entry_t *entry, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_known(MDB_dbi dbi, MDB_val *key,
    ngx_log_t *log);
static ngx_int_t ngx_certmate_store_crl_write(MDB_txn *txn,
    ngx_certmate_crl_source_t *src, unsigned int flags, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_ocsp_write(MDB_txn *txn,
    ngx_certmate_ocsp_entry_t *entry, unsigned int flags, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_get_copy(MDB_txn *txn, MDB_dbi dbi,
    MDB_val *key, MDB_val *data, u_char **copy, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_serial_write(MDB_txn *txn,
    ngx_certmate_serial_t *s, unsigned int flags, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_audit_write(MDB_txn *txn,
    ngx_certmate_audit_t *audit, ngx_log_t *log);
static void ngx_certmate_store_audit_blobs(ngx_certmate_audit_t *audit,
    ngx_str_t **blobs);
static ngx_int_t ngx_certmate_store_audit_hash(ngx_certmate_audit_t *audit,
    ngx_log_t *log);
static void ngx_certmate_store_be64(u_char *p, uint64_t v);
static ngx_int_t ngx_certmate_store_commit(MDB_txn *txn, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_encode(MDB_txn *txn, MDB_dbi dbi,
    MDB_val *key, void *head, size_t size, ngx_str_t **blobs, ngx_uint_t n,
    unsigned int flags, ngx_log_t *log);
static ngx_int_t ngx_certmate_store_decode(MDB_val *data, void *head,
    size_t size, ngx_str_t **blobs, ngx_uint_t n);
static ngx_int_t ngx_certmate_store_error(int rc, const char *call,
    ngx_log_t *log);


static ngx_certmate_store_t  ngx_certmate_store;

#if (NGX_THREADS)
/* recursive: the event loop takes it again to reopen while it opens */
static ngx_thread_mutex_t    ngx_certmate_store_mutex =
    PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
#endif

static u_char  ngx_certmate_store_no_id[NGX_CERTMATE_ID_LEN];


void
ngx_certmate_store_init(ngx_str_t *path, size_t max_size)
{
    ngx_certmate_store.path = *path;
    ngx_certmate_store.max_size = max_size;
}


ngx_int_t
ngx_certmate_store_open(ngx_log_t *log)
{
    int                    rc;
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    if (st->env) {
        return NGX_OK;
    }

    if (st->path.len == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store is not configured");
        return NGX_ERROR;
    }

#if (NGX_THREADS)
    st->tid = ngx_thread_tid();
#endif

    if (ngx_time() < st->retry) {
        return NGX_ERROR;
    }

    st->retry = ngx_time() + NGX_CERTMATE_STORE_RETRY;

    ngx_certmate_store_lock(log);

    rc = mdb_env_create(&st->env);
    if (rc != MDB_SUCCESS) {
        st->env = NULL;
        ngx_certmate_store_unlock(log);
        return ngx_certmate_store_error(rc, "mdb_env_create()", log);
    }

    rc = mdb_env_set_maxdbs(st->env, NGX_CERTMATE_STORE_DBS);
    if (rc != MDB_SUCCESS) {
        ngx_certmate_store_error(rc, "mdb_env_set_maxdbs()", log);
        goto failed;
    }

    rc = mdb_env_set_maxreaders(st->env, NGX_CERTMATE_STORE_READERS);
    if (rc != MDB_SUCCESS) {
        ngx_certmate_store_error(rc, "mdb_env_set_maxreaders()", log);
        goto failed;
    }

    rc = mdb_env_set_mapsize(st->env, st->max_size);
    if (rc != MDB_SUCCESS) {
        ngx_certmate_store_error(rc, "mdb_env_set_mapsize()", log);
        goto failed;
    }

    rc = mdb_env_open(st->env, (char *) st->path.data, MDB_NOTLS, 0600);
    if (rc != MDB_SUCCESS) {
        ngx_log_error(NGX_LOG_CRIT, log, 0,
                      "mdb_env_open(\"%V\") failed (%d: %s)",
                      &st->path, rc, mdb_strerror(rc));
        goto failed;
    }

    if (ngx_certmate_store_setup(log) != NGX_OK) {
        goto failed;
    }

    ngx_certmate_store_unlock(log);

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, log, 0,
                   "certmate store opened \"%V\"", &st->path);

    return NGX_OK;

failed:

    mdb_env_close(st->env);
    st->env = NULL;

    ngx_certmate_store_unlock(log);

    return NGX_ERROR;
}


static ngx_int_t
ngx_certmate_store_setup(ngx_log_t *log)
{
    int                    rc;
    MDB_txn               *txn;
    MDB_val                key, data;
    uint32_t               schema;
    uint64_t               generation;
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    if (ngx_certmate_store_txn_begin(&txn, 0, log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta);
    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "certs", MDB_CREATE, &st->certs);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "names", MDB_CREATE|MDB_DUPSORT, &st->names);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "acme", MDB_CREATE, &st->acme);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "accounts", MDB_CREATE, &st->accounts);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "tokens", MDB_CREATE, &st->tokens);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "ca", MDB_CREATE, &st->ca);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "serials", MDB_CREATE, &st->serials);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "crls", MDB_CREATE, &st->crls);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "revoked", MDB_CREATE, &st->revoked);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "ocsp", MDB_CREATE, &st->ocsp);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "est_tokens", MDB_CREATE, &st->est_tokens);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &st->audit);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &st->expiry);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "staples", MDB_CREATE, &st->staples);
    }

    if (rc != MDB_SUCCESS) {
        ngx_certmate_store_error(rc, "mdb_dbi_open()", log);
        goto failed;
    }

    key.mv_data = "schema";
    key.mv_size = sizeof("schema") - 1;

    rc = mdb_get(txn, st->meta, &key, &data);

    if (rc == MDB_NOTFOUND) {
        schema = NGX_CERTMATE_STORE_SCHEMA;
        data.mv_data = &schema;
        data.mv_size = sizeof(uint32_t);

        rc = mdb_put(txn, st->meta, &key, &data, 0);
        if (rc != MDB_SUCCESS) {
            ngx_certmate_store_error(rc, "mdb_put()", log);
            goto failed;
        }

        key.mv_data = "generation";
        key.mv_size = sizeof("generation") - 1;
        generation = 0;
        data.mv_data = &generation;
        data.mv_size = sizeof(uint64_t);

        rc = mdb_put(txn, st->meta, &key, &data, 0);
        if (rc != MDB_SUCCESS) {
            ngx_certmate_store_error(rc, "mdb_put()", log);
            goto failed;
        }

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "certmate store \"%V\" created, schema %d",
                      &st->path, NGX_CERTMATE_STORE_SCHEMA);

    } else if (rc != MDB_SUCCESS) {
        ngx_certmate_store_error(rc, "mdb_get()", log);
        goto failed;

    } else {
        if (data.mv_size != sizeof(uint32_t)) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "certmate store \"%V\" has a damaged schema record",
                          &st->path);
            goto failed;
        }

        ngx_memcpy(&schema, data.mv_data, sizeof(uint32_t));

        if (schema != NGX_CERTMATE_STORE_SCHEMA) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "certmate store \"%V\" has schema %uD, "
                          "this module reads schema %d",
                          &st->path, schema, NGX_CERTMATE_STORE_SCHEMA);
            goto failed;
        }
    }

    return ngx_certmate_store_commit(txn, log);

failed:

    mdb_txn_abort(txn);
    return NGX_ERROR;
}


void
ngx_certmate_store_close(void)
{
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    ngx_certmate_store_reader_close();

    ngx_certmate_store_lock(ngx_cycle->log);

    if (st->env) {
        mdb_env_close(st->env);
        st->env = NULL;
    }

    ngx_certmate_store_unlock(ngx_cycle->log);
}


static void
ngx_certmate_store_reader_close(void)
{
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    if (st->names_cursor) {
        mdb_cursor_close(st->names_cursor);
        st->names_cursor = NULL;
    }

    if (st->certs_cursor) {
        mdb_cursor_close(st->certs_cursor);
        st->certs_cursor = NULL;
    }

    if (st->rtxn) {
        mdb_txn_abort(st->rtxn);
        st->rtxn = NULL;
    }

    st->reading = 0;
}


/*
 * Starts a transaction, adopting a map that another process grew,
 * clearing the reader slots of dead processes when the table is full,
 * and opening the store again after a commit failed so that LMDB gave
 * up the environment (MDB_PANIC: a failed write of the meta page).
 */

static ngx_int_t
ngx_certmate_store_txn_begin(MDB_txn **txn, unsigned int flags,
    ngx_log_t *log)
{
    int                    rc, dead;
    ngx_uint_t             tries;
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    for (tries = 0; /* void */; tries++) {

        if ((flags & MDB_RDONLY) && *txn) {
            rc = mdb_txn_renew(*txn);

        } else {
            rc = mdb_txn_begin(st->env, NULL, flags, txn);
            if (rc != MDB_SUCCESS) {
                *txn = NULL;
            }
        }

        if (rc == MDB_SUCCESS) {
            return NGX_OK;
        }

        if (tries == 2) {
            break;
        }

        if (rc == MDB_MAP_RESIZED) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "certmate store \"%V\" was grown by another "
                          "process, adopting its size", &st->path);

            ngx_certmate_store_lock(log);
            rc = mdb_env_set_mapsize(st->env, 0);
            ngx_certmate_store_unlock(log);

            if (rc != MDB_SUCCESS) {
                return ngx_certmate_store_error(rc, "mdb_env_set_mapsize()",
                                                log);
            }

            continue;
        }

        if (rc == MDB_PANIC && !st->reading) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "certmate store \"%V\" had a fatal error, "
                          "opening it again", &st->path);

            ngx_certmate_store_close();
            st->retry = 0;

            if (ngx_certmate_store_open(log) != NGX_OK) {
                return NGX_ERROR;
            }

            *txn = NULL;
            continue;
        }

        if (rc == MDB_READERS_FULL) {
            rc = mdb_reader_check(st->env, &dead);
            if (rc != MDB_SUCCESS) {
                return ngx_certmate_store_error(rc, "mdb_reader_check()",
                                                log);
            }

            if (dead) {
                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "certmate store cleared %d stale reader slots",
                              dead);
                continue;
            }

            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "certmate store \"%V\" has no free reader slot",
                          &st->path);
            return NGX_ERROR;
        }

        break;
    }

    return ngx_certmate_store_error(rc, "mdb_txn_begin()", log);
}


ngx_int_t
ngx_certmate_store_read_begin(ngx_log_t *log)
{
    int                    rc;
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    if (st->reading) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "certmate store read nested");
        return NGX_ERROR;
    }

    if (ngx_certmate_store_open(log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_certmate_store_txn_begin(&st->rtxn, MDB_RDONLY, log) != NGX_OK) {
        ngx_certmate_store_reader_close();
        return NGX_ERROR;
    }

    if (st->names_cursor == NULL) {
        rc = mdb_cursor_open(st->rtxn, st->names, &st->names_cursor);
        if (rc == MDB_SUCCESS) {
            rc = mdb_cursor_open(st->rtxn, st->certs, &st->certs_cursor);
        }

    } else {
        rc = mdb_cursor_renew(st->rtxn, st->names_cursor);
        if (rc == MDB_SUCCESS) {
            rc = mdb_cursor_renew(st->rtxn, st->certs_cursor);
        }
    }

    if (rc != MDB_SUCCESS) {
        ngx_certmate_store_reader_close();
        return ngx_certmate_store_error(rc, "mdb_cursor_open()", log);
    }

    st->reading = 1;

    return NGX_OK;
}


void
ngx_certmate_store_read_end(void)
{
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    if (st->reading) {
        mdb_txn_reset(st->rtxn);
        st->reading = 0;
    }
}


/*
 * The certificates a name gets: the exact name's if it has any,
 * else those of the wildcard one level up.
 */

ngx_int_t
ngx_certmate_store_find(ngx_str_t *name,
    ngx_certmate_ref_t refs[NGX_CERTMATE_CLASSES], ngx_log_t *log)
{
    u_char     *dot;
    MDB_val     key;
    ngx_int_t   rc;
    u_char      wildcard[NGX_CERTMATE_NAME_MAX + 2];

    ngx_memzero(refs, NGX_CERTMATE_CLASSES * sizeof(ngx_certmate_ref_t));

    if (name->len == 0 || name->len > NGX_CERTMATE_NAME_MAX) {
        return NGX_DECLINED;
    }

    key.mv_data = name->data;
    key.mv_size = name->len;

    rc = ngx_certmate_store_find_name(&key, refs, log);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    dot = ngx_strlchr(name->data, name->data + name->len, '.');
    if (dot == NULL || dot == name->data + name->len - 1) {
        return NGX_DECLINED;
    }

    wildcard[0] = '*';
    key.mv_size = ngx_cpymem(wildcard + 1, dot, name->data + name->len - dot)
                  - wildcard;
    key.mv_data = wildcard;

    return ngx_certmate_store_find_name(&key, refs, log);
}


/* a value in the reader's transaction; NGX_DECLINED: there is none */

static ngx_int_t
ngx_certmate_store_read(MDB_dbi dbi, MDB_val *key, MDB_val *data,
    ngx_log_t *log)
{
    int  rc;

    rc = mdb_get(ngx_certmate_store.rtxn, dbi, key, data);

    if (rc == MDB_NOTFOUND) {
        return NGX_DECLINED;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_get()", log);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_store_find_name(MDB_val *key,
    ngx_certmate_ref_t refs[NGX_CERTMATE_CLASSES], ngx_log_t *log)
{
    int                        rc;
    u_char                     key_class;
    uint64_t                   newness;
    MDB_val                    data;
    ngx_uint_t                 i, found;
    ngx_certmate_store_ref_t   ref;

    found = 0;

    for (key_class = 0; key_class < NGX_CERTMATE_CLASSES; key_class++) {

        if (refs[key_class].version) {
            continue;
        }

        data.mv_data = &key_class;
        data.mv_size = 1;

        rc = mdb_cursor_get(ngx_certmate_store.names_cursor, key, &data,
                            MDB_GET_BOTH_RANGE);

        if (rc == MDB_NOTFOUND) {
            if (found) {
                continue;
            }

            return NGX_DECLINED;
        }

        if (rc != MDB_SUCCESS) {
            return ngx_certmate_store_error(rc, "mdb_cursor_get()", log);
        }

        if (data.mv_size != sizeof(ngx_certmate_store_ref_t)) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "certmate store names index is damaged");
            return NGX_ERROR;
        }

        ngx_memcpy(&ref, data.mv_data, sizeof(ngx_certmate_store_ref_t));

        if (ref.key_class >= NGX_CERTMATE_CLASSES) {
            continue;
        }

        newness = 0;
        for (i = 0; i < 8; i++) {
            newness = (newness << 8) | ref.newness[i];
        }

        ngx_memcpy(refs[ref.key_class].id, ref.id, NGX_CERTMATE_ID_LEN);
        refs[ref.key_class].version = ~newness;

        found = 1;
    }

    return found ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_certmate_store_get(u_char *id, ngx_certmate_cert_t *cert, ngx_log_t *log)
{
    int      rc;
    MDB_val  key, data;

    key.mv_data = id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = mdb_cursor_get(ngx_certmate_store.certs_cursor, &key, &data,
                        MDB_SET_KEY);

    if (rc == MDB_NOTFOUND) {
        return NGX_DECLINED;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_cursor_get()", log);
    }

    ngx_memcpy(cert->id, id, NGX_CERTMATE_ID_LEN);

    return ngx_certmate_store_cert_decode(&data, cert, log);
}


/* the certificate with the next id after "after", or the first one */

ngx_int_t
ngx_certmate_store_next(u_char *after, ngx_certmate_cert_t *cert,
    ngx_log_t *log)
{
    int          rc;
    MDB_val      key, data;
    MDB_cursor  *cursor;

    cursor = ngx_certmate_store.certs_cursor;

    if (after == NULL) {
        rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST);

    } else {
        key.mv_data = after;
        key.mv_size = NGX_CERTMATE_ID_LEN;

        rc = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE);

        if (rc == MDB_SUCCESS
            && key.mv_size == NGX_CERTMATE_ID_LEN
            && ngx_memcmp(key.mv_data, after, NGX_CERTMATE_ID_LEN) == 0)
        {
            rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT);
        }
    }

    if (rc == MDB_NOTFOUND) {
        return NGX_DECLINED;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_cursor_get()", log);
    }

    if (key.mv_size != NGX_CERTMATE_ID_LEN) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged certificate key");
        return NGX_ERROR;
    }

    ngx_memcpy(cert->id, key.mv_data, NGX_CERTMATE_ID_LEN);

    return ngx_certmate_store_cert_decode(&data, cert, log);
}


static ngx_int_t
ngx_certmate_store_cert_decode(MDB_val *data, ngx_certmate_cert_t *cert,
    ngx_log_t *log)
{
    ngx_str_t                      *blobs[NGX_CERTMATE_STORE_CERT_BLOBS];
    ngx_certmate_store_cert_rec_t   rec;

    ngx_certmate_store_cert_blobs(cert, blobs);

    if (ngx_certmate_store_decode(data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_CERT_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT
        || cert->chain.len == 0
        || (cert->key.len == 0
            && !(rec.flags & NGX_CERTMATE_STORE_CERT_CLIENT))
        || cert->names.len == 0
        || cert->names.data[cert->names.len - 1] != '\0')
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged certificate record");
        return NGX_ERROR;
    }

    cert->version = rec.version;
    cert->not_before = rec.not_before;
    cert->not_after = rec.not_after;
    cert->key_type = rec.key_type;
    cert->source = rec.source;
    cert->revoked = (rec.flags & NGX_CERTMATE_STORE_CERT_REVOKED) ? 1 : 0;
    cert->client_only = (rec.flags & NGX_CERTMATE_STORE_CERT_CLIENT) ? 1 : 0;
    ngx_memcpy(cert->fingerprint, rec.fingerprint,
               NGX_CERTMATE_FINGERPRINT_LEN);

    return NGX_OK;
}


static void
ngx_certmate_store_cert_blobs(ngx_certmate_cert_t *cert, ngx_str_t **blobs)
{
    blobs[0] = &cert->chain;
    blobs[1] = &cert->key;
    blobs[2] = &cert->names;
    blobs[3] = &cert->profile;
    blobs[4] = &cert->serial;
    blobs[5] = &cert->subject;
    blobs[6] = &cert->issuer;
}


ngx_int_t
ngx_certmate_store_status(ngx_certmate_store_status_t *status,
    ngx_log_t *log)
{
    int                    rc;
    MDB_val                key, data;
    MDB_stat               stat;
    MDB_envinfo            info;
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    rc = mdb_env_info(st->env, &info);
    if (rc == MDB_SUCCESS) {
        rc = mdb_env_stat(st->env, &stat);
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_env_info()", log);
    }

    status->map_size = info.me_mapsize;
    status->map_used = (info.me_last_pgno + 1) * stat.ms_psize;
    status->readers = info.me_numreaders;
    status->max_readers = info.me_maxreaders;

    rc = mdb_stat(st->rtxn, st->certs, &stat);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_stat()", log);
    }

    status->certificates = stat.ms_entries;
    status->schema = NGX_CERTMATE_STORE_SCHEMA;

    key.mv_data = "generation";
    key.mv_size = sizeof("generation") - 1;

    rc = mdb_get(st->rtxn, st->meta, &key, &data);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_get()", log);
    }

    if (data.mv_size != sizeof(uint64_t)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged generation record");
        return NGX_ERROR;
    }

    ngx_memcpy(&status->generation, data.mv_data, sizeof(uint64_t));

    return NGX_OK;
}


ngx_int_t
ngx_certmate_store_acme_get(ngx_str_t *name, ngx_certmate_acme_state_t *state,
    ngx_log_t *log)
{
    MDB_val    key, data;
    ngx_int_t  rc;

    key.mv_data = name->data;
    key.mv_size = name->len;

    rc = ngx_certmate_store_read(ngx_certmate_store.acme, &key, &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_certmate_store_acme_decode(&key, &data, state, log);
}


/* the state of the next name after "after", or of the first one */

ngx_int_t
ngx_certmate_store_acme_next(ngx_str_t *after,
    ngx_certmate_acme_state_t *state, ngx_log_t *log)
{
    MDB_val    key, data;
    ngx_int_t  rc;

    rc = ngx_certmate_store_next_key(ngx_certmate_store.acme, after, &key,
                                     &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_certmate_store_acme_decode(&key, &data, state, log);
}


static ngx_int_t
ngx_certmate_store_acme_decode(MDB_val *key, MDB_val *data,
    ngx_certmate_acme_state_t *state, ngx_log_t *log)
{
    ngx_str_t                      *blobs[NGX_CERTMATE_STORE_ACME_BLOBS];
    ngx_certmate_store_acme_rec_t   rec;

    ngx_certmate_store_acme_blobs(state, blobs);

    if (ngx_certmate_store_decode(data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_ACME_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged ACME record");
        return NGX_ERROR;
    }

    state->name.data = key->mv_data;
    state->name.len = key->mv_size;
    state->next = rec.next;
    state->ari_check = rec.ari_check;
    state->last_attempt = rec.last_attempt;
    state->last_success = rec.last_success;
    state->failures = rec.failures;
    ngx_memcpy(state->cert_id, rec.cert_id, NGX_CERTMATE_ID_LEN);

    return NGX_OK;
}


static void
ngx_certmate_store_acme_blobs(ngx_certmate_acme_state_t *state,
    ngx_str_t **blobs)
{
    blobs[0] = &state->issuer;
    blobs[1] = &state->order;
    blobs[2] = &state->order_key;
    blobs[3] = &state->error;
}


ngx_int_t
ngx_certmate_store_account_get(ngx_str_t *issuer,
    ngx_certmate_acme_account_t *account, ngx_log_t *log)
{
    MDB_val                           key, data;
    ngx_int_t                         rc;
    ngx_str_t                        *blobs[NGX_CERTMATE_STORE_ACCOUNT_BLOBS];
    ngx_certmate_store_account_rec_t  rec;

    key.mv_data = issuer->data;
    key.mv_size = issuer->len;

    rc = ngx_certmate_store_read(ngx_certmate_store.accounts, &key, &data,
                                 log);
    if (rc != NGX_OK) {
        return rc;
    }

    blobs[0] = &account->directory;
    blobs[1] = &account->url;
    blobs[2] = &account->key;

    if (ngx_certmate_store_decode(&data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_ACCOUNT_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged ACME account record");
        return NGX_ERROR;
    }

    account->issuer = *issuer;

    return NGX_OK;
}


ngx_int_t
ngx_certmate_store_token_get(ngx_str_t *token, ngx_str_t *keyauth,
    ngx_log_t *log)
{
    MDB_val    key, data;
    ngx_int_t  rc;

    key.mv_data = token->data;
    key.mv_size = token->len;

    rc = ngx_certmate_store_read(ngx_certmate_store.tokens, &key, &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    keyauth->data = data.mv_data;
    keyauth->len = data.mv_size;

    return NGX_OK;
}


ngx_int_t
ngx_certmate_store_ca_get(ngx_certmate_ca_t *ca, ngx_log_t *log)
{
    MDB_val    key, data;
    ngx_int_t  rc;

    key.mv_data = "ca";
    key.mv_size = sizeof("ca") - 1;

    rc = ngx_certmate_store_read(ngx_certmate_store.ca, &key, &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_certmate_store_ca_decode(&data, ca, log);
}


static ngx_int_t
ngx_certmate_store_ca_decode(MDB_val *data, ngx_certmate_ca_t *ca,
    ngx_log_t *log)
{
    ngx_str_t                    *blobs[NGX_CERTMATE_STORE_CA_BLOBS];
    ngx_certmate_store_ca_rec_t   rec;

    ngx_certmate_store_ca_blobs(ca, blobs);

    if (ngx_certmate_store_decode(data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_CA_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT
        || ca->chain.len == 0
        || ca->key.len == 0)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged CA record");
        return NGX_ERROR;
    }

    ca->version = rec.version;
    ca->key_type = rec.key_type;
    ca->root_key_type = rec.root_key_type;
    ca->signer_not_after = rec.signer_not_after;
    ca->crl_number = rec.crl_number;
    ca->crl_this_update = rec.crl_this_update;
    ca->crl_next_update = rec.crl_next_update;
    ca->crl_revocations = rec.crl_revocations;

    return NGX_OK;
}


static void
ngx_certmate_store_ca_blobs(ngx_certmate_ca_t *ca, ngx_str_t **blobs)
{
    blobs[0] = &ca->chain;
    blobs[1] = &ca->key;
    blobs[2] = &ca->root_key;
    blobs[3] = &ca->signer;
    blobs[4] = &ca->signer_key;
    blobs[5] = &ca->crl;
}


/* a counter of the meta database: "revocations", "renewals" */

ngx_int_t
ngx_certmate_store_counter(char *name, uint64_t *count, ngx_log_t *log)
{
    int      rc;
    MDB_val  key, data;

    key.mv_data = name;
    key.mv_size = ngx_strlen(name);

    rc = mdb_get(ngx_certmate_store.rtxn, ngx_certmate_store.meta, &key,
                 &data);

    if (rc == MDB_NOTFOUND) {
        *count = 0;
        return NGX_OK;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_get()", log);
    }

    if (data.mv_size != sizeof(uint64_t)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged \"%s\" record", name);
        return NGX_ERROR;
    }

    ngx_memcpy(count, data.mv_data, sizeof(uint64_t));

    return NGX_OK;
}


ngx_int_t
ngx_certmate_store_serial_get(ngx_str_t *serial, ngx_certmate_serial_t *s,
    ngx_log_t *log)
{
    MDB_val    key, data;
    ngx_int_t  rc;

    if (serial->len == 0 || serial->len > 20) {
        return NGX_DECLINED;
    }

    key.mv_data = serial->data;
    key.mv_size = serial->len;

    rc = ngx_certmate_store_read(ngx_certmate_store.serials, &key, &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_certmate_store_serial_decode(&key, &data, s, log);
}


/* calls the handler for every issued certificate, in serial order */

ngx_int_t
ngx_certmate_store_serial_each(ngx_certmate_serial_pt handler, void *ctx,
    ngx_log_t *log)
{
    int                     rc;
    MDB_val                 key, data;
    ngx_int_t               ret;
    MDB_cursor             *cursor;
    ngx_certmate_serial_t   s;

    rc = mdb_cursor_open(ngx_certmate_store.rtxn, ngx_certmate_store.serials,
                         &cursor);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_cursor_open()", log);
    }

    ret = NGX_OK;

    for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST);
         rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT))
    {
        ret = ngx_certmate_store_serial_decode(&key, &data, &s, log);

        if (ret == NGX_OK) {
            ret = handler(&s, ctx);
        }

        if (ret != NGX_OK) {
            break;
        }
    }

    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        ret = ngx_certmate_store_error(rc, "mdb_cursor_get()", log);
    }

    mdb_cursor_close(cursor);

    return ret;
}


static ngx_int_t
ngx_certmate_store_serial_decode(MDB_val *key, MDB_val *data,
    ngx_certmate_serial_t *s, ngx_log_t *log)
{
    ngx_str_t                        *blobs[NGX_CERTMATE_STORE_SERIAL_BLOBS];
    ngx_certmate_store_serial_rec_t   rec;

    blobs[0] = &s->cert;
    blobs[1] = &s->profile;

    if (ngx_certmate_store_decode(data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_SERIAL_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged serial record");
        return NGX_ERROR;
    }

    s->serial.data = key->mv_data;
    s->serial.len = key->mv_size;
    s->status = rec.status;
    s->reason = rec.reason;
    s->revoked_at = rec.revoked_at;
    s->not_after = rec.not_after;
    ngx_memcpy(s->cert_id, rec.cert_id, NGX_CERTMATE_ID_LEN);

    return NGX_OK;
}


ngx_int_t
ngx_certmate_store_put(ngx_certmate_cert_t *cert, ngx_uint_t *replaced,
    ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    MDB_txn    *txn;
    ngx_int_t   rc;

    rc = ngx_certmate_store_write_begin(&txn, log);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_certmate_store_cert_write(txn, cert, replaced, log);

    return ngx_certmate_store_write_end(txn, rc, audit, log);
}


ngx_int_t
ngx_certmate_store_delete(u_char *id, ngx_certmate_audit_t *audit,
    ngx_log_t *log)
{
    MDB_txn     *txn;
    ngx_int_t    rc;
    ngx_uint_t   found;

    rc = ngx_certmate_store_write_begin(&txn, log);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_certmate_store_cert_remove(txn, id, &found, log);

    if (rc == NGX_OK && !found) {
        rc = NGX_DECLINED;
    }

    return ngx_certmate_store_write_end(txn, rc, audit, log);
}


ngx_int_t
ngx_certmate_store_acme_put(ngx_certmate_acme_state_t *state, ngx_log_t *log)
{
    MDB_txn  *txn;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_certmate_store_write_end(txn,
                             ngx_certmate_store_acme_write(txn, state, log),
                             NULL, log);
}


/*
 * An ACME certificate arrived: it is stored, the one it replaces
 * removed and the name's state updated, all at once
 */

ngx_int_t
ngx_certmate_store_acme_issued(ngx_certmate_acme_state_t *state,
    ngx_certmate_cert_t *cert, u_char *old, ngx_certmate_audit_t *audit,
    ngx_log_t *log)
{
    MDB_txn     *txn;
    ngx_int_t    rc;
    ngx_uint_t   found;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_cert_write(txn, cert, &found, log);

    if (rc == NGX_OK
        && old
        && ngx_memcmp(old, cert->id, NGX_CERTMATE_ID_LEN) != 0)
    {
        rc = ngx_certmate_store_cert_remove(txn, old, &found, log);
    }

    if (rc == NGX_OK) {
        rc = ngx_certmate_store_acme_write(txn, state, log);
    }

    return ngx_certmate_store_write_end(txn, rc, audit, log);
}


/* the CA record, its version one past the stored one */

ngx_int_t
ngx_certmate_store_ca_put(ngx_certmate_ca_t *ca, ngx_log_t *log)
{
    int                           rc;
    MDB_txn                      *txn;
    MDB_val                       key, data;
    ngx_str_t                    *blobs[NGX_CERTMATE_STORE_CA_BLOBS];
    ngx_certmate_store_ca_rec_t   rec;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    key.mv_data = "ca";
    key.mv_size = sizeof("ca") - 1;

    ngx_memzero(&rec, sizeof(rec));

    rc = mdb_get(txn, ngx_certmate_store.ca, &key, &data);

    if (rc == MDB_SUCCESS && data.mv_size >= sizeof(rec)) {
        ngx_memcpy(&rec, data.mv_data, sizeof(rec));

    } else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        return ngx_certmate_store_write_end(txn,
                             ngx_certmate_store_error(rc, "mdb_get()", log),
                             NULL, log);
    }

    ca->version = rec.version + 1;

    ngx_memzero(&rec, sizeof(rec));

    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.key_type = (uint8_t) ca->key_type;
    rec.root_key_type = (uint8_t) ca->root_key_type;
    rec.version = ca->version;
    rec.signer_not_after = ca->signer_not_after;
    rec.crl_number = ca->crl_number;
    rec.crl_this_update = ca->crl_this_update;
    rec.crl_next_update = ca->crl_next_update;
    rec.crl_revocations = ca->crl_revocations;

    ngx_certmate_store_ca_blobs(ca, blobs);

    return ngx_certmate_store_write_end(txn,
                 ngx_certmate_store_encode(txn, ngx_certmate_store.ca, &key,
                                           &rec, sizeof(rec), blobs,
                                           NGX_CERTMATE_STORE_CA_BLOBS, 0, log),
                 NULL, log);
}


/*
 * A certificate the built-in CA issued: its serial (NGX_BUSY when the
 * serial exists already), its certificate record, the removal of the
 * one it replaces and the EST token it uses up (NGX_DECLINED when that
 * is gone), all at once
 */

ngx_int_t
ngx_certmate_store_ca_issued(ngx_certmate_serial_t *serial,
    ngx_certmate_cert_t *cert, u_char *old, u_char *token,
    ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    int          err;
    MDB_val      key;
    MDB_txn     *txn;
    ngx_int_t    rc;
    ngx_uint_t   found;

    rc = ngx_certmate_store_write_begin(&txn, log);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = NGX_OK;

    if (token) {
        key.mv_data = token;
        key.mv_size = SHA256_DIGEST_LENGTH;

        err = mdb_del(txn, ngx_certmate_store.est_tokens, &key, NULL);

        if (err == MDB_NOTFOUND) {
            rc = NGX_DECLINED;

        } else if (err != MDB_SUCCESS) {
            rc = ngx_certmate_store_error(err, "mdb_del()", log);
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_certmate_store_serial_write(txn, serial, MDB_NOOVERWRITE,
                                             log);
    }

    if (rc == NGX_OK && cert) {
        rc = ngx_certmate_store_cert_write(txn, cert, &found, log);
    }

    if (rc == NGX_OK && old) {
        rc = ngx_certmate_store_cert_remove(txn, old, &found, log);
    }

    return ngx_certmate_store_write_end(txn, rc, audit, log);
}


/*
 * An ACME renewal asked for: the name is due now, and the "renewals"
 * counter tells the helper to look; NGX_DECLINED for a name without
 * ACME state
 */

ngx_int_t
ngx_certmate_store_acme_renew(ngx_str_t *name, ngx_log_t *log)
{
    u_char                     *copy;
    MDB_txn                    *txn;
    MDB_val                     key, data;
    uint64_t                    count;
    ngx_int_t                   ret;
    ngx_certmate_acme_state_t   state;

    ret = ngx_certmate_store_write_begin(&txn, log);
    if (ret != NGX_OK) {
        return ret;
    }

    copy = NULL;

    key.mv_data = name->data;
    key.mv_size = name->len;

    ret = ngx_certmate_store_get_copy(txn, ngx_certmate_store.acme, &key,
                                      &data, &copy, log);
    if (ret != NGX_OK) {
        goto done;
    }

    ret = ngx_certmate_store_acme_decode(&key, &data, &state, log);

    if (ret == NGX_OK) {
        state.next = ngx_time();
        state.ari_check = 0;
        ret = ngx_certmate_store_acme_write(txn, &state, log);
    }

    if (ret == NGX_OK) {
        ret = ngx_certmate_store_bump(txn, "renewals", &count, log);
    }

done:

    ret = ngx_certmate_store_write_end(txn, ret, NULL, log);

    if (copy) {
        ngx_free(copy);
    }

    return ret;
}


/*
 * Marks a serial revoked, and its certificate record, which is no
 * longer served; NGX_DECLINED for an unknown serial, NGX_BUSY for one
 * revoked already
 */

ngx_int_t
ngx_certmate_store_revoke(ngx_str_t *serial, ngx_uint_t reason, time_t when,
    ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    u_char                *copy;
    MDB_txn               *txn;
    MDB_val                key, data;
    uint64_t               count;
    ngx_int_t              ret;
    ngx_uint_t             found;
    ngx_certmate_cert_t    cert;
    ngx_certmate_serial_t  s;

    if (serial->len == 0 || serial->len > 20) {
        return NGX_DECLINED;
    }

    ret = ngx_certmate_store_write_begin(&txn, log);
    if (ret != NGX_OK) {
        return ret;
    }

    copy = NULL;

    key.mv_data = serial->data;
    key.mv_size = serial->len;

    ret = ngx_certmate_store_get_copy(txn, ngx_certmate_store.serials, &key,
                                      &data, &copy, log);
    if (ret != NGX_OK) {
        goto done;
    }

    ret = ngx_certmate_store_serial_decode(&key, &data, &s, log);
    if (ret != NGX_OK) {
        goto done;
    }

    if (s.status == NGX_CERTMATE_SERIAL_REVOKED) {
        ret = NGX_BUSY;
        goto done;
    }

    s.status = NGX_CERTMATE_SERIAL_REVOKED;
    s.reason = reason;
    s.revoked_at = when;

    ret = ngx_certmate_store_serial_write(txn, &s, 0, log);
    if (ret != NGX_OK) {
        goto done;
    }

    ret = ngx_certmate_store_bump(txn, "revocations", &count, log);
    if (ret != NGX_OK) {
        goto done;
    }

    if (ngx_memcmp(s.cert_id, ngx_certmate_store_no_id, NGX_CERTMATE_ID_LEN)
        == 0)
    {
        goto done;
    }

    ngx_memcpy(cert.id, s.cert_id, NGX_CERTMATE_ID_LEN);

    key.mv_data = cert.id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    ret = ngx_certmate_store_get_copy(txn, ngx_certmate_store.certs, &key,
                                      &data, &copy, log);
    if (ret != NGX_OK) {

        /* a serial whose certificate was deleted or replaced */

        ret = (ret == NGX_DECLINED) ? NGX_OK : ret;
        goto done;
    }

    ret = ngx_certmate_store_cert_decode(&data, &cert, log);
    if (ret != NGX_OK) {
        goto done;
    }

    cert.revoked = 1;

    ret = ngx_certmate_store_cert_write(txn, &cert, &found, log);

done:

    ret = ngx_certmate_store_write_end(txn, ret, audit, log);

    if (copy) {
        ngx_free(copy);
    }

    return ret;
}


/*
 * Foreign revocation data: what a CRL says of a serial, with the CRL's
 * times; NGX_DECLINED: no CRL of that issuer
 */

ngx_int_t
ngx_certmate_store_crl_find(u_char *issuer, ngx_str_t *serial,
    ngx_certmate_revocation_t *rv, ngx_log_t *log)
{
    MDB_val                              key, data;
    ngx_int_t                            rc;
    ngx_certmate_store_revoked_rec_t     entry;
    ngx_certmate_store_crl_state_rec_t   state;
    u_char                               buf[NGX_CERTMATE_ISSUER_HASH_LEN
                                             + 20];

    key.mv_data = issuer;
    key.mv_size = NGX_CERTMATE_ISSUER_HASH_LEN;

    rc = ngx_certmate_store_read(ngx_certmate_store.revoked, &key, &data,
                                 log);
    if (rc != NGX_OK) {
        return rc;
    }

    if (data.mv_size != sizeof(state)) {
        goto damaged;
    }

    ngx_memcpy(&state, data.mv_data, sizeof(state));

    ngx_memzero(rv, sizeof(ngx_certmate_revocation_t));

    rv->status = NGX_CERTMATE_SERIAL_GOOD;
    rv->this_update = state.this_update;
    rv->next_update = state.next_update;
    rv->fetched = state.fetched;

    if (ngx_certmate_store_revocation_key(buf, issuer, serial, &key)
        != NGX_OK)
    {
        return NGX_OK;
    }

    rc = ngx_certmate_store_read(ngx_certmate_store.revoked, &key, &data,
                                 log);
    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (data.mv_size != sizeof(entry)) {
        goto damaged;
    }

    ngx_memcpy(&entry, data.mv_data, sizeof(entry));

    rv->status = NGX_CERTMATE_SERIAL_REVOKED;
    rv->reason = entry.reason;
    rv->revoked_at = entry.revoked_at;

    return NGX_OK;

damaged:

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "certmate store has a damaged revoked record");
    return NGX_ERROR;
}


/* the OCSP answer for a foreign serial; NGX_DECLINED: none yet */

ngx_int_t
ngx_certmate_store_ocsp_find(u_char *issuer, ngx_str_t *serial,
    ngx_certmate_revocation_t *rv, ngx_log_t *log)
{
    MDB_val                    key, data;
    ngx_int_t                  rc;
    ngx_certmate_ocsp_entry_t  entry;
    u_char                     buf[NGX_CERTMATE_ISSUER_HASH_LEN + 20];

    if (ngx_certmate_store_revocation_key(buf, issuer, serial, &key)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_certmate_store_read(ngx_certmate_store.ocsp, &key, &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_certmate_store_ocsp_decode(&key, &data, &entry, log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!entry.answered) {
        return NGX_DECLINED;
    }

    *rv = entry.answer;

    return NGX_OK;
}


/* the CRL source after "after" (NULL: the first), in URL order */

ngx_int_t
ngx_certmate_store_crl_source_next(ngx_str_t *after,
    ngx_certmate_crl_source_t *src, ngx_log_t *log)
{
    MDB_val    key, data;
    ngx_int_t  rc;

    rc = ngx_certmate_store_next_key(ngx_certmate_store.crls, after, &key,
                                     &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_certmate_store_crl_decode(&key, &data, src, log);
}


/* the OCSP entry after the key "after" (NULL: the first) */

ngx_int_t
ngx_certmate_store_ocsp_next(ngx_str_t *after,
    ngx_certmate_ocsp_entry_t *entry, ngx_log_t *log)
{
    MDB_val    key, data;
    ngx_int_t  rc;

    rc = ngx_certmate_store_next_key(ngx_certmate_store.ocsp, after, &key,
                                     &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_certmate_store_ocsp_decode(&key, &data, entry, log);
}


static ngx_int_t
ngx_certmate_store_revocation_key(u_char *buf, u_char *issuer,
    ngx_str_t *serial, MDB_val *key)
{
    if (serial->len == 0 || serial->len > 20) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, issuer, NGX_CERTMATE_ISSUER_HASH_LEN);
    ngx_memcpy(buf + NGX_CERTMATE_ISSUER_HASH_LEN, serial->data, serial->len);

    key->mv_data = buf;
    key->mv_size = NGX_CERTMATE_ISSUER_HASH_LEN + serial->len;

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_store_next_key(MDB_dbi dbi, ngx_str_t *after, MDB_val *key,
    MDB_val *data, ngx_log_t *log)
{
    int          rc;
    ngx_int_t    ret;
    MDB_cursor  *cursor;

    rc = mdb_cursor_open(ngx_certmate_store.rtxn, dbi, &cursor);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_cursor_open()", log);
    }

    if (after == NULL) {
        rc = mdb_cursor_get(cursor, key, data, MDB_FIRST);

    } else {
        key->mv_data = after->data;
        key->mv_size = after->len;

        rc = mdb_cursor_get(cursor, key, data, MDB_SET_RANGE);

        if (rc == MDB_SUCCESS
            && key->mv_size == after->len
            && ngx_memcmp(key->mv_data, after->data, after->len) == 0)
        {
            rc = mdb_cursor_get(cursor, key, data, MDB_NEXT);
        }
    }

    if (rc == MDB_NOTFOUND) {
        ret = NGX_DECLINED;

    } else if (rc != MDB_SUCCESS) {
        ret = ngx_certmate_store_error(rc, "mdb_cursor_get()", log);

    } else {
        ret = NGX_OK;
    }

    mdb_cursor_close(cursor);

    return ret;
}


static ngx_int_t
ngx_certmate_store_crl_decode(MDB_val *key, MDB_val *data,
    ngx_certmate_crl_source_t *src, ngx_log_t *log)
{
    ngx_str_t                     *blobs[NGX_CERTMATE_STORE_CRL_BLOBS];
    ngx_certmate_store_crl_rec_t   rec;

    blobs[0] = &src->issuer;
    blobs[1] = &src->error;

    if (ngx_certmate_store_decode(data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_CRL_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged crl record");
        return NGX_ERROR;
    }

    src->url.data = key->mv_data;
    src->url.len = key->mv_size;
    src->next_fetch = rec.next_fetch;
    src->fetched = rec.fetched;
    src->this_update = rec.this_update;
    src->next_update = rec.next_update;
    src->failures = rec.failures;
    src->entries = rec.entries;

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_store_ocsp_decode(MDB_val *key, MDB_val *data,
    ngx_certmate_ocsp_entry_t *entry, ngx_log_t *log)
{
    ngx_str_t                      *blobs[NGX_CERTMATE_STORE_OCSP_BLOBS];
    ngx_certmate_store_ocsp_rec_t   rec;

    blobs[0] = &entry->url;
    blobs[1] = &entry->issuer;
    blobs[2] = &entry->error;

    if (key->mv_size <= NGX_CERTMATE_ISSUER_HASH_LEN
        || ngx_certmate_store_decode(data, &rec, sizeof(rec), blobs,
                                     NGX_CERTMATE_STORE_OCSP_BLOBS)
           != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged ocsp record");
        return NGX_ERROR;
    }

    ngx_memcpy(entry->issuer_hash, key->mv_data,
               NGX_CERTMATE_ISSUER_HASH_LEN);
    entry->serial.data = (u_char *) key->mv_data
                         + NGX_CERTMATE_ISSUER_HASH_LEN;
    entry->serial.len = key->mv_size - NGX_CERTMATE_ISSUER_HASH_LEN;

    entry->answered = rec.answered;
    entry->answer.status = rec.status;
    entry->answer.reason = rec.reason;
    entry->answer.revoked_at = rec.revoked_at;
    entry->answer.this_update = rec.this_update;
    entry->answer.next_update = rec.next_update;
    entry->answer.fetched = rec.fetched;
    entry->next_fetch = rec.next_fetch;
    entry->failures = rec.failures;

    return NGX_OK;
}


/*
 * A worker notes a CRL distribution point or a certificate to ask an
 * OCSP responder about, for the helper; a read first, so that what is
 * known costs no write.
 */

ngx_int_t
ngx_certmate_store_crl_want(ngx_str_t *url, ngx_str_t *issuer,
    ngx_log_t *log)
{
    MDB_val                    key;
    MDB_txn                   *txn;
    ngx_int_t                  rc;
    ngx_certmate_crl_source_t  src;

    if (url->len == 0 || url->len > 500) {
        return NGX_DECLINED;
    }

    key.mv_data = url->data;
    key.mv_size = url->len;

    rc = ngx_certmate_store_known(ngx_certmate_store.crls, &key, log);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ngx_memzero(&src, sizeof(ngx_certmate_crl_source_t));
    src.url = *url;
    src.issuer = *issuer;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_crl_write(txn, &src, MDB_NOOVERWRITE, log);

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "certmate will fetch the CRL \"%V\"", url);
    }

    return ngx_certmate_store_write_end(txn, rc == NGX_DECLINED ? NGX_OK : rc,
                                        NULL, log);
}


ngx_int_t
ngx_certmate_store_ocsp_want(u_char *issuer, ngx_str_t *serial,
    ngx_str_t *url, ngx_str_t *issuer_cert, ngx_log_t *log)
{
    MDB_val                    key;
    MDB_txn                   *txn;
    ngx_int_t                  rc;
    ngx_certmate_ocsp_entry_t  entry;
    u_char                     buf[NGX_CERTMATE_ISSUER_HASH_LEN + 20];

    if (ngx_certmate_store_revocation_key(buf, issuer, serial, &key)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_certmate_store_known(ngx_certmate_store.ocsp, &key, log);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ngx_memzero(&entry, sizeof(ngx_certmate_ocsp_entry_t));
    ngx_memcpy(entry.issuer_hash, issuer, NGX_CERTMATE_ISSUER_HASH_LEN);
    entry.serial = *serial;
    entry.url = *url;
    entry.issuer = *issuer_cert;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_ocsp_write(txn, &entry, MDB_NOOVERWRITE, log);

    return ngx_certmate_store_write_end(txn, rc == NGX_DECLINED ? NGX_OK : rc,
                                        NULL, log);
}


/* NGX_OK: the key is there; NGX_DECLINED: it is not */

static ngx_int_t
ngx_certmate_store_known(MDB_dbi dbi, MDB_val *key, ngx_log_t *log)
{
    MDB_val    data;
    ngx_int_t  rc;

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_read(dbi, key, &data, log);

    ngx_certmate_store_read_end();

    return rc;
}


ngx_int_t
ngx_certmate_store_crl_source_put(ngx_certmate_crl_source_t *src,
    ngx_log_t *log)
{
    MDB_txn  *txn;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_certmate_store_write_end(txn,
                             ngx_certmate_store_crl_write(txn, src, 0, log),
                             NULL, log);
}


/*
 * A new CRL of an issuer: its entries replace the old ones, its times
 * the issuer's state, in one transaction with the source's record;
 * without entries, the stored ones stay.
 */

ngx_int_t
ngx_certmate_store_crl_replace(ngx_certmate_crl_source_t *src,
    u_char *issuer, ngx_certmate_crl_entry_t *entries, ngx_uint_t n,
    ngx_log_t *log)
{
    int                                  rc;
    MDB_val                              key, data;
    MDB_txn                             *txn;
    ngx_int_t                            ret;
    ngx_uint_t                           i;
    MDB_cursor                          *cursor;
    ngx_certmate_store_revoked_rec_t     entry;
    ngx_certmate_store_crl_state_rec_t   state;
    u_char                               buf[NGX_CERTMATE_ISSUER_HASH_LEN
                                             + 20];

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (entries == NULL) {
        goto state;
    }

    rc = mdb_cursor_open(txn, ngx_certmate_store.revoked, &cursor);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_write_end(txn,
                      ngx_certmate_store_error(rc, "mdb_cursor_open()", log),
                      NULL, log);
    }

    key.mv_data = issuer;
    key.mv_size = NGX_CERTMATE_ISSUER_HASH_LEN;

    for (rc = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE);
         rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT))
    {
        if (key.mv_size < NGX_CERTMATE_ISSUER_HASH_LEN
            || ngx_memcmp(key.mv_data, issuer, NGX_CERTMATE_ISSUER_HASH_LEN)
               != 0)
        {
            break;
        }

        rc = mdb_cursor_del(cursor, 0);
        if (rc != MDB_SUCCESS) {
            break;
        }
    }

    mdb_cursor_close(cursor);

    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        return ngx_certmate_store_write_end(txn,
                       ngx_certmate_store_error(rc, "mdb_cursor_del()", log),
                       NULL, log);
    }

state:

    ngx_memzero(&state, sizeof(state));
    state.format = NGX_CERTMATE_STORE_FORMAT;
    state.this_update = src->this_update;
    state.next_update = src->next_update;
    state.fetched = src->fetched;

    key.mv_data = issuer;
    key.mv_size = NGX_CERTMATE_ISSUER_HASH_LEN;
    data.mv_data = &state;
    data.mv_size = sizeof(state);

    rc = mdb_put(txn, ngx_certmate_store.revoked, &key, &data, 0);

    ngx_memzero(&entry, sizeof(entry));
    data.mv_data = &entry;
    data.mv_size = sizeof(entry);

    for (i = 0; rc == MDB_SUCCESS && entries && i < n; i++) {
        if (ngx_certmate_store_revocation_key(buf, issuer, &entries[i].serial,
                                              &key)
            != NGX_OK)
        {
            continue;
        }

        entry.revoked_at = entries[i].revoked_at;
        entry.reason = entries[i].reason;

        rc = mdb_put(txn, ngx_certmate_store.revoked, &key, &data, 0);
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_write_end(txn,
                              ngx_certmate_store_error(rc, "mdb_put()", log),
                              NULL, log);
    }

    ret = ngx_certmate_store_crl_write(txn, src, 0, log);

    return ngx_certmate_store_write_end(txn, ret, NULL, log);
}


ngx_int_t
ngx_certmate_store_ocsp_put(ngx_certmate_ocsp_entry_t *entry,
    ngx_log_t *log)
{
    MDB_txn  *txn;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_certmate_store_write_end(txn,
                           ngx_certmate_store_ocsp_write(txn, entry, 0, log),
                           NULL, log);
}


/* NGX_DECLINED: with MDB_NOOVERWRITE, the record is there */

static ngx_int_t
ngx_certmate_store_crl_write(MDB_txn *txn, ngx_certmate_crl_source_t *src,
    unsigned int flags, ngx_log_t *log)
{
    MDB_val                        key;
    ngx_str_t                     *blobs[NGX_CERTMATE_STORE_CRL_BLOBS];
    ngx_certmate_store_crl_rec_t   rec;

    key.mv_data = src->url.data;
    key.mv_size = src->url.len;

    ngx_memzero(&rec, sizeof(rec));
    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.failures = src->failures;
    rec.next_fetch = src->next_fetch;
    rec.fetched = src->fetched;
    rec.this_update = src->this_update;
    rec.next_update = src->next_update;
    rec.entries = src->entries;

    blobs[0] = &src->issuer;
    blobs[1] = &src->error;

    return ngx_certmate_store_encode(txn, ngx_certmate_store.crls, &key, &rec,
                                     sizeof(rec), blobs,
                                     NGX_CERTMATE_STORE_CRL_BLOBS, flags, log);
}


static ngx_int_t
ngx_certmate_store_ocsp_write(MDB_txn *txn, ngx_certmate_ocsp_entry_t *entry,
    unsigned int flags, ngx_log_t *log)
{
    MDB_val                         key;
    ngx_str_t                      *blobs[NGX_CERTMATE_STORE_OCSP_BLOBS];
    ngx_certmate_store_ocsp_rec_t   rec;
    u_char                          buf[NGX_CERTMATE_ISSUER_HASH_LEN + 20];

    if (ngx_certmate_store_revocation_key(buf, entry->issuer_hash,
                                          &entry->serial, &key)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_memzero(&rec, sizeof(rec));
    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.answered = (uint8_t) entry->answered;
    rec.status = (uint8_t) entry->answer.status;
    rec.reason = (uint8_t) entry->answer.reason;
    rec.failures = (uint8_t) ngx_min(entry->failures, 255);
    rec.revoked_at = entry->answer.revoked_at;
    rec.this_update = entry->answer.this_update;
    rec.next_update = entry->answer.next_update;
    rec.fetched = entry->answer.fetched;
    rec.next_fetch = entry->next_fetch;

    blobs[0] = &entry->url;
    blobs[1] = &entry->issuer;
    blobs[2] = &entry->error;

    return ngx_certmate_store_encode(txn, ngx_certmate_store.ocsp, &key, &rec,
                                     sizeof(rec), blobs,
                                     NGX_CERTMATE_STORE_OCSP_BLOBS, flags, log);
}


/*
 * A value in a write transaction, copied with its key to memory of its
 * own, which the writes that follow do not reuse; the copy before is
 * freed.  NGX_DECLINED: there is none.
 */

static ngx_int_t
ngx_certmate_store_get_copy(MDB_txn *txn, MDB_dbi dbi, MDB_val *key,
    MDB_val *data, u_char **copy, ngx_log_t *log)
{
    int      rc;
    u_char  *p;

    rc = mdb_get(txn, dbi, key, data);

    if (rc == MDB_NOTFOUND) {
        return NGX_DECLINED;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_get()", log);
    }

    p = ngx_alloc(data->mv_size + key->mv_size, log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, data->mv_data, data->mv_size);
    ngx_memcpy(p + data->mv_size, key->mv_data, key->mv_size);

    data->mv_data = p;
    key->mv_data = p + data->mv_size;

    if (*copy) {
        ngx_free(*copy);
    }

    *copy = p;

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_store_serial_write(MDB_txn *txn, ngx_certmate_serial_t *s,
    unsigned int flags, ngx_log_t *log)
{
    MDB_val                           key;
    ngx_int_t                         rc;
    ngx_str_t                        *blobs[NGX_CERTMATE_STORE_SERIAL_BLOBS];
    ngx_certmate_store_serial_rec_t   rec;

    ngx_memzero(&rec, sizeof(rec));

    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.status = (uint8_t) s->status;
    rec.reason = (uint8_t) s->reason;
    rec.revoked_at = s->revoked_at;
    rec.not_after = s->not_after;
    ngx_memcpy(rec.cert_id, s->cert_id, NGX_CERTMATE_ID_LEN);

    blobs[0] = &s->cert;
    blobs[1] = &s->profile;

    key.mv_data = s->serial.data;
    key.mv_size = s->serial.len;

    rc = ngx_certmate_store_encode(txn, ngx_certmate_store.serials, &key,
                                   &rec, sizeof(rec), blobs,
                                   NGX_CERTMATE_STORE_SERIAL_BLOBS, flags,
                                   log);

    return rc == NGX_DECLINED ? NGX_BUSY : rc;
}


ngx_int_t
ngx_certmate_store_account_put(ngx_certmate_acme_account_t *account,
    ngx_log_t *log)
{
    MDB_txn                           *txn;
    MDB_val                            key;
    ngx_str_t                         *blobs[NGX_CERTMATE_STORE_ACCOUNT_BLOBS];
    ngx_certmate_store_account_rec_t   rec;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    rec.format = NGX_CERTMATE_STORE_FORMAT;

    blobs[0] = &account->directory;
    blobs[1] = &account->url;
    blobs[2] = &account->key;

    key.mv_data = account->issuer.data;
    key.mv_size = account->issuer.len;

    return ngx_certmate_store_write_end(txn,
                 ngx_certmate_store_encode(txn, ngx_certmate_store.accounts,
                                           &key, &rec, sizeof(rec), blobs,
                                           NGX_CERTMATE_STORE_ACCOUNT_BLOBS,
                                           0, log),
                 NULL, log);
}


ngx_int_t
ngx_certmate_store_token_put(ngx_str_t *token, ngx_str_t *keyauth,
    ngx_log_t *log)
{
    int       rc;
    MDB_txn  *txn;
    MDB_val   key, data;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    key.mv_data = token->data;
    key.mv_size = token->len;
    data.mv_data = keyauth->data;
    data.mv_size = keyauth->len;

    rc = mdb_put(txn, ngx_certmate_store.tokens, &key, &data, 0);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_write_end(txn,
                             ngx_certmate_store_error(rc, "mdb_put()", log),
                             NULL, log);
    }

    return ngx_certmate_store_write_end(txn, NGX_OK, NULL, log);
}


ngx_int_t
ngx_certmate_store_token_delete(ngx_str_t *token, ngx_log_t *log)
{
    int       rc;
    MDB_txn  *txn;
    MDB_val   key;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    key.mv_data = token->data;
    key.mv_size = token->len;

    rc = mdb_del(txn, ngx_certmate_store.tokens, &key, NULL);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        return ngx_certmate_store_write_end(txn,
                             ngx_certmate_store_error(rc, "mdb_del()", log),
                             NULL, log);
    }

    return ngx_certmate_store_write_end(txn, NGX_OK, NULL, log);
}


/* an EST token by the SHA-256 of its text; NGX_DECLINED: none */

ngx_int_t
ngx_certmate_store_est_token_get(u_char *hash,
    ngx_certmate_est_token_t *token, ngx_log_t *log)
{
    MDB_val                        key, data;
    ngx_int_t                      rc;
    ngx_str_t                     *blobs[NGX_CERTMATE_STORE_EST_BLOBS];
    ngx_certmate_store_est_rec_t   rec;

    key.mv_data = hash;
    key.mv_size = SHA256_DIGEST_LENGTH;

    rc = ngx_certmate_store_read(ngx_certmate_store.est_tokens, &key, &data,
                                 log);
    if (rc != NGX_OK) {
        return rc;
    }

    blobs[0] = &token->names;
    blobs[1] = &token->profile;

    if (ngx_certmate_store_decode(&data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_EST_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT
        || token->names.len == 0
        || token->names.data[token->names.len - 1] != '\0')
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged EST token record");
        return NGX_ERROR;
    }

    ngx_memcpy(token->hash, hash, SHA256_DIGEST_LENGTH);
    token->expires = rec.expires;

    return NGX_OK;
}


ngx_int_t
ngx_certmate_store_est_token_put(ngx_certmate_est_token_t *token,
    ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    MDB_txn                       *txn;
    MDB_val                        key;
    ngx_int_t                      rc;
    ngx_str_t                     *blobs[NGX_CERTMATE_STORE_EST_BLOBS];
    ngx_certmate_store_est_rec_t   rec;

    rc = ngx_certmate_store_write_begin(&txn, log);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&rec, sizeof(rec));

    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.expires = token->expires;

    blobs[0] = &token->names;
    blobs[1] = &token->profile;

    key.mv_data = token->hash;
    key.mv_size = SHA256_DIGEST_LENGTH;

    rc = ngx_certmate_store_encode(txn, ngx_certmate_store.est_tokens, &key,
                                   &rec, sizeof(rec), blobs,
                                   NGX_CERTMATE_STORE_EST_BLOBS, 0, log);

    return ngx_certmate_store_write_end(txn, rc, audit, log);
}


/* an event of the audit log in a transaction of its own */

ngx_int_t
ngx_certmate_store_audit_put(ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    MDB_txn    *txn;
    ngx_int_t   rc;

    rc = ngx_certmate_store_write_begin(&txn, log);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_certmate_store_write_end(txn, NGX_OK, audit, log);
}


/* the event after the number "after"; NGX_DECLINED: there is none */

ngx_int_t
ngx_certmate_store_audit_next(uint64_t after, ngx_certmate_audit_t *audit,
    ngx_log_t *log)
{
    int                              rc;
    MDB_val                          key, data;
    MDB_cursor                      *cursor;
    ngx_str_t                       *blobs[NGX_CERTMATE_STORE_AUDIT_BLOBS];
    ngx_certmate_store_audit_rec_t   rec;
    u_char                           be[8];

    ngx_certmate_store_be64(be, after + 1);

    key.mv_data = be;
    key.mv_size = sizeof(be);

    rc = mdb_cursor_open(ngx_certmate_store.rtxn, ngx_certmate_store.audit,
                         &cursor);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_cursor_open()", log);
    }

    rc = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE);

    mdb_cursor_close(cursor);

    if (rc == MDB_NOTFOUND) {
        return NGX_DECLINED;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_cursor_get()", log);
    }

    ngx_certmate_store_audit_blobs(audit, blobs);

    if (ngx_certmate_store_decode(&data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_AUDIT_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged audit record");
        return NGX_ERROR;
    }

    audit->seq = rec.seq;
    audit->time = rec.time;
    ngx_memcpy(audit->prev, rec.prev, SHA256_DIGEST_LENGTH);
    ngx_memcpy(audit->hash, rec.hash, SHA256_DIGEST_LENGTH);

    return NGX_OK;
}


/* the expiry threshold told of a certificate; NGX_DECLINED: none yet */

ngx_int_t
ngx_certmate_store_expiry_get(u_char *id, ngx_uint_t *days, ngx_log_t *log)
{
    MDB_val    key, data;
    uint32_t   v;
    ngx_int_t  rc;

    key.mv_data = id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = ngx_certmate_store_read(ngx_certmate_store.expiry, &key, &data, log);
    if (rc != NGX_OK) {
        return rc;
    }

    if (data.mv_size != sizeof(uint32_t)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged expiry record");
        return NGX_ERROR;
    }

    ngx_memcpy(&v, data.mv_data, sizeof(uint32_t));
    *days = v;

    return NGX_OK;
}


/*
 * A certificate crossed an expiry threshold: the threshold and the
 * event that tells it, at once; NGX_DECLINED: the certificate is gone
 */

ngx_int_t
ngx_certmate_store_expiry_put(u_char *id, ngx_uint_t days,
    ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    int        rc;
    MDB_txn   *txn;
    MDB_val    key, data;
    uint32_t   v;
    ngx_int_t  ret;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    key.mv_data = id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = mdb_get(txn, ngx_certmate_store.certs, &key, &data);

    if (rc == MDB_SUCCESS) {
        v = (uint32_t) days;
        data.mv_data = &v;
        data.mv_size = sizeof(uint32_t);

        rc = mdb_put(txn, ngx_certmate_store.expiry, &key, &data, 0);
    }

    ret = (rc == MDB_NOTFOUND) ? NGX_DECLINED
          : (rc != MDB_SUCCESS) ? ngx_certmate_store_error(rc, "mdb_put()", log)
          : NGX_OK;

    return ngx_certmate_store_write_end(txn, ret, audit, log);
}


/*
 * The OCSP response stapled to a certificate, in the reader's
 * transaction; NGX_DECLINED: there is none
 */

ngx_int_t
ngx_certmate_store_staple_get(u_char *id, ngx_certmate_staple_t *staple,
    ngx_log_t *log)
{
    MDB_val                           key, data;
    ngx_int_t                         rc;
    ngx_str_t                        *blobs[NGX_CERTMATE_STORE_STAPLE_BLOBS];
    ngx_certmate_store_staple_rec_t   rec;

    key.mv_data = id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = ngx_certmate_store_read(ngx_certmate_store.staples, &key, &data,
                                 log);
    if (rc != NGX_OK) {
        return rc;
    }

    blobs[0] = &staple->der;

    if (ngx_certmate_store_decode(&data, &rec, sizeof(rec), blobs,
                                  NGX_CERTMATE_STORE_STAPLE_BLOBS)
        != NGX_OK
        || rec.format != NGX_CERTMATE_STORE_FORMAT)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged staple record");
        return NGX_ERROR;
    }

    staple->produced = rec.produced;
    staple->next_update = rec.next_update;
    staple->refresh = rec.refresh;
    staple->failures = rec.failures;

    return NGX_OK;
}


/* helper process only: a staple made or fetched; NGX_DECLINED: no cert */

ngx_int_t
ngx_certmate_store_staple_put(u_char *id, ngx_certmate_staple_t *staple,
    ngx_log_t *log)
{
    int                               rc;
    MDB_txn                          *txn;
    MDB_val                           key, data;
    ngx_str_t                        *blobs[NGX_CERTMATE_STORE_STAPLE_BLOBS];
    ngx_certmate_store_staple_rec_t   rec;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    key.mv_data = id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = mdb_get(txn, ngx_certmate_store.certs, &key, &data);

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_write_end(txn,
                   rc == MDB_NOTFOUND
                   ? NGX_DECLINED
                   : ngx_certmate_store_error(rc, "mdb_get()", log),
                   NULL, log);
    }

    ngx_memzero(&rec, sizeof(rec));
    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.failures = (uint32_t) staple->failures;
    rec.produced = staple->produced;
    rec.next_update = staple->next_update;
    rec.refresh = staple->refresh;

    blobs[0] = &staple->der;

    return ngx_certmate_store_write_end(txn,
                 ngx_certmate_store_encode(txn, ngx_certmate_store.staples,
                                           &key, &rec, sizeof(rec), blobs,
                                           NGX_CERTMATE_STORE_STAPLE_BLOBS, 0,
                                           log),
                 NULL, log);
}


/* a counter of the meta database set */

ngx_int_t
ngx_certmate_store_counter_set(char *name, uint64_t value, ngx_log_t *log)
{
    int       rc;
    MDB_txn  *txn;
    MDB_val   key, data;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return NGX_ERROR;
    }

    key.mv_data = name;
    key.mv_size = ngx_strlen(name);
    data.mv_data = &value;
    data.mv_size = sizeof(uint64_t);

    rc = mdb_put(txn, ngx_certmate_store.meta, &key, &data, 0);

    return ngx_certmate_store_write_end(txn,
               rc == MDB_SUCCESS ? NGX_OK
                                 : ngx_certmate_store_error(rc, "mdb_put()",
                                                            log),
               NULL, log);
}


/*
 * Appends an event: numbered one past the last, chained to it by the
 * last one's hash
 */

static ngx_int_t
ngx_certmate_store_audit_write(MDB_txn *txn, ngx_certmate_audit_t *audit,
    ngx_log_t *log)
{
    int                              rc;
    MDB_val                          key, data;
    MDB_cursor                      *cursor;
    ngx_str_t                       *blobs[NGX_CERTMATE_STORE_AUDIT_BLOBS];
    ngx_certmate_store_audit_rec_t   rec;
    u_char                           be[8];

    rc = mdb_cursor_open(txn, ngx_certmate_store.audit, &cursor);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_cursor_open()", log);
    }

    rc = mdb_cursor_get(cursor, &key, &data, MDB_LAST);

    mdb_cursor_close(cursor);

    if (rc == MDB_SUCCESS && data.mv_size >= sizeof(rec)) {
        ngx_memcpy(&rec, data.mv_data, sizeof(rec));
        audit->seq = rec.seq + 1;
        ngx_memcpy(audit->prev, rec.hash, SHA256_DIGEST_LENGTH);

    } else if (rc == MDB_NOTFOUND) {
        audit->seq = 1;
        ngx_memzero(audit->prev, SHA256_DIGEST_LENGTH);

    } else {
        return rc == MDB_SUCCESS
               ? NGX_ERROR : ngx_certmate_store_error(rc, "mdb_cursor_get()",
                                                      log);
    }

    if (ngx_certmate_store_audit_hash(audit, log) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&rec, sizeof(rec));
    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.seq = audit->seq;
    rec.time = audit->time;
    ngx_memcpy(rec.prev, audit->prev, SHA256_DIGEST_LENGTH);
    ngx_memcpy(rec.hash, audit->hash, SHA256_DIGEST_LENGTH);

    ngx_certmate_store_be64(be, audit->seq);

    key.mv_data = be;
    key.mv_size = sizeof(be);

    ngx_certmate_store_audit_blobs(audit, blobs);

    return ngx_certmate_store_encode(txn, ngx_certmate_store.audit, &key,
                                     &rec, sizeof(rec), blobs,
                                     NGX_CERTMATE_STORE_AUDIT_BLOBS,
                                     MDB_APPEND, log);
}


static void
ngx_certmate_store_audit_blobs(ngx_certmate_audit_t *audit, ngx_str_t **blobs)
{
    blobs[0] = &audit->type;
    blobs[1] = &audit->actor;
    blobs[2] = &audit->client;
    blobs[3] = &audit->object;
    blobs[4] = &audit->detail;
}


/*
 * SHA-256 of the previous hash, the number and time (8 bytes each,
 * big-endian), and the type, actor, client, object and detail, each
 * after its length (4 bytes, big-endian)
 */

static ngx_int_t
ngx_certmate_store_audit_hash(ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    int           ok;
    u_char        buf[8];
    ngx_str_t    *blobs[NGX_CERTMATE_STORE_AUDIT_BLOBS];
    ngx_uint_t    i;
    EVP_MD_CTX   *md;

    md = EVP_MD_CTX_new();

    ok = (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
          && EVP_DigestUpdate(md, audit->prev, SHA256_DIGEST_LENGTH) == 1);

    ngx_certmate_store_be64(buf, audit->seq);
    ok = ok && EVP_DigestUpdate(md, buf, 8) == 1;

    ngx_certmate_store_be64(buf, (uint64_t) audit->time);
    ok = ok && EVP_DigestUpdate(md, buf, 8) == 1;

    ngx_certmate_store_audit_blobs(audit, blobs);

    for (i = 0; i < NGX_CERTMATE_STORE_AUDIT_BLOBS; i++) {
        buf[0] = (u_char) (blobs[i]->len >> 24);
        buf[1] = (u_char) (blobs[i]->len >> 16);
        buf[2] = (u_char) (blobs[i]->len >> 8);
        buf[3] = (u_char) blobs[i]->len;

        ok = ok && EVP_DigestUpdate(md, buf, 4) == 1
             && EVP_DigestUpdate(md, blobs[i]->data, blobs[i]->len) == 1;
    }

    ok = ok && EVP_DigestFinal_ex(md, audit->hash, NULL) == 1;

    EVP_MD_CTX_free(md);

    if (!ok) {
        ngx_ssl_error(NGX_LOG_CRIT, log, 0, "EVP_Digest() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a number as the keys of the audit log have it: 8 bytes, big-endian */

static void
ngx_certmate_store_be64(u_char *p, uint64_t v)
{
    ngx_uint_t  i;

    for (i = 0; i < 8; i++) {
        p[i] = (u_char) (v >> (56 - 8 * i));
    }
}


/* helper process only: removes the EST tokens expired before "now" */

void
ngx_certmate_store_est_tokens_expire(time_t now, ngx_log_t *log)
{
    int                            rc;
    MDB_txn                       *txn;
    MDB_val                        key, data;
    ngx_int_t                      ret;
    ngx_uint_t                     n;
    MDB_cursor                    *cur;
    ngx_certmate_store_est_rec_t   rec;

    if (ngx_certmate_store_write_begin(&txn, log) != NGX_OK) {
        return;
    }

    rc = mdb_cursor_open(txn, ngx_certmate_store.est_tokens, &cur);
    if (rc != MDB_SUCCESS) {
        (void) ngx_certmate_store_write_end(txn,
                   ngx_certmate_store_error(rc, "mdb_cursor_open()", log),
                   NULL, log);
        return;
    }

    n = 0;

    for (rc = mdb_cursor_get(cur, &key, &data, MDB_FIRST);
         rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT))
    {
        if (data.mv_size < sizeof(rec)) {
            continue;
        }

        ngx_memcpy(&rec, data.mv_data, sizeof(rec));

        if (rec.expires >= now) {
            continue;
        }

        rc = mdb_cursor_del(cur, 0);
        if (rc != MDB_SUCCESS) {
            break;
        }

        n++;
    }

    mdb_cursor_close(cur);

    ret = (rc == MDB_NOTFOUND)
          ? NGX_OK : ngx_certmate_store_error(rc, "mdb_cursor_get()", log);

    if (n == 0 && ret == NGX_OK) {
        mdb_txn_abort(txn);
        return;
    }

    if (ngx_certmate_store_write_end(txn, ret, NULL, log) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "certmate removed %ui expired EST tokens", n);
    }
}


/*
 * A write transaction.  In a thread of a pool, NGX_AGAIN when the write
 * needs what only the event loop may do first: open the store, adopt a
 * map another process grew, open again a store LMDB gave up.
 */

static ngx_int_t
ngx_certmate_store_write_begin(MDB_txn **txn, ngx_log_t *log)
{
#if (NGX_THREADS)
    if (ngx_certmate_store_threaded()) {
        return ngx_certmate_store_thread_begin(txn, log);
    }
#endif

    if (ngx_certmate_store_open(log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_certmate_store_linked(log) != NGX_OK) {
        return NGX_ERROR;
    }

    *txn = NULL;

    return ngx_certmate_store_txn_begin(txn, 0, log);
}


#if (NGX_THREADS)

/*
 * A pool thread's write transaction, with the mutex held until its
 * end, so that the event loop neither closes the environment nor
 * replaces its map under it
 */

static ngx_int_t
ngx_certmate_store_thread_begin(MDB_txn **txn, ngx_log_t *log)
{
    int                    rc;
    ngx_int_t              ret;
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    ngx_certmate_store_lock(log);

    if (st->env == NULL) {
        ret = NGX_AGAIN;
        goto failed;
    }

    ret = ngx_certmate_store_linked(log);
    if (ret != NGX_OK) {
        goto failed;
    }

    rc = mdb_txn_begin(st->env, NULL, 0, txn);

    if (rc == MDB_SUCCESS) {
        return NGX_OK;
    }

    ret = (rc == MDB_MAP_RESIZED || rc == MDB_PANIC)
          ? NGX_AGAIN : ngx_certmate_store_error(rc, "mdb_txn_begin()", log);

failed:

    ngx_certmate_store_unlock(log);

    return ret;
}

#endif


/* in a thread of a pool rather than in the event loop that opened */

static ngx_uint_t
ngx_certmate_store_threaded(void)
{
#if (NGX_THREADS)
    return ngx_thread_tid() != ngx_certmate_store.tid;
#else
    return 0;
#endif
}


/*
 * Pool threads write while the event loop reads: a thread holds the
 * mutex over its write transaction, the event loop over what replaces
 * the environment or its map (opening, closing, adopting a grown map)
 */

static void
ngx_certmate_store_lock(ngx_log_t *log)
{
#if (NGX_THREADS)
    (void) ngx_thread_mutex_lock(&ngx_certmate_store_mutex, log);
#endif
}


static void
ngx_certmate_store_unlock(ngx_log_t *log)
{
#if (NGX_THREADS)
    (void) ngx_thread_mutex_unlock(&ngx_certmate_store_mutex, log);
#endif
}


/*
 * A data file removed (or replaced by a rename) under the process is
 * still read, so serving goes on, but a write to it would be acknowledged
 * and then lost with the file
 */

static ngx_int_t
ngx_certmate_store_linked(ngx_log_t *log)
{
    int                    rc;
    ngx_fd_t               fd;
    ngx_file_info_t        fi;
    ngx_certmate_store_t  *st;

    st = &ngx_certmate_store;

    rc = mdb_env_get_fd(st->env, &fd);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_env_get_fd()", log);
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &st->path);
        return NGX_ERROR;
    }

    if (fi.st_nlink == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store \"%V\" was removed, write refused",
                      &st->path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Commits what went well, with the event of the audit log that tells
 * it (if any); aborts what did not
 */

static ngx_int_t
ngx_certmate_store_write_end(MDB_txn *txn, ngx_int_t rc,
    ngx_certmate_audit_t *audit, ngx_log_t *log)
{
    if (rc == NGX_OK && audit) {
        rc = ngx_certmate_store_audit_write(txn, audit, log);
    }

    if (rc == NGX_OK) {
        rc = ngx_certmate_store_commit(txn, log);

    } else {
        mdb_txn_abort(txn);
    }

    if (ngx_certmate_store_threaded()) {
        ngx_certmate_store_unlock(log);
    }

    return rc;
}


static ngx_int_t
ngx_certmate_store_cert_write(MDB_txn *txn, ngx_certmate_cert_t *cert,
    ngx_uint_t *replaced, ngx_log_t *log)
{
    MDB_val                         key;
    uint64_t                        generation;
    ngx_int_t                       rc;
    ngx_str_t                      *blobs[NGX_CERTMATE_STORE_CERT_BLOBS];
    ngx_certmate_store_cert_rec_t   rec;

    rc = ngx_certmate_store_bump(txn, "generation", &generation, log);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_certmate_store_unlink(txn, cert->id, replaced, log);
    if (rc != NGX_OK) {
        return rc;
    }

    cert->version = generation;

    ngx_memzero(&rec, sizeof(rec));

    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.key_type = (uint8_t) cert->key_type;
    rec.source = (uint8_t) cert->source;
    rec.flags = (cert->revoked ? NGX_CERTMATE_STORE_CERT_REVOKED : 0)
                | (cert->client_only ? NGX_CERTMATE_STORE_CERT_CLIENT : 0);
    rec.version = cert->version;
    rec.not_before = cert->not_before;
    rec.not_after = cert->not_after;
    ngx_memcpy(rec.fingerprint, cert->fingerprint,
               NGX_CERTMATE_FINGERPRINT_LEN);

    ngx_certmate_store_cert_blobs(cert, blobs);

    key.mv_data = cert->id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = ngx_certmate_store_encode(txn, ngx_certmate_store.certs, &key, &rec,
                                   sizeof(rec), blobs,
                                   NGX_CERTMATE_STORE_CERT_BLOBS, 0, log);
    /* revoked, or for clients only: kept, not served */

    if (rc != NGX_OK || cert->revoked || cert->client_only) {
        return rc;
    }

    return ngx_certmate_store_link(txn, cert, log);
}


static ngx_int_t
ngx_certmate_store_cert_remove(MDB_txn *txn, u_char *id, ngx_uint_t *found,
    ngx_log_t *log)
{
    int        rc;
    MDB_val    key;
    uint64_t   generation;
    ngx_int_t  ret;

    ret = ngx_certmate_store_unlink(txn, id, found, log);

    if (ret != NGX_OK || !*found) {
        return ret;
    }

    key.mv_data = id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = mdb_del(txn, ngx_certmate_store.certs, &key, NULL);

    if (rc == MDB_SUCCESS) {
        rc = mdb_del(txn, ngx_certmate_store.expiry, &key, NULL);
        rc = (rc == MDB_NOTFOUND) ? MDB_SUCCESS : rc;
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_del(txn, ngx_certmate_store.staples, &key, NULL);
        rc = (rc == MDB_NOTFOUND) ? MDB_SUCCESS : rc;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_del()", log);
    }

    return ngx_certmate_store_bump(txn, "generation", &generation, log);
}


static ngx_int_t
ngx_certmate_store_acme_write(MDB_txn *txn, ngx_certmate_acme_state_t *state,
    ngx_log_t *log)
{
    MDB_val                         key;
    ngx_str_t                      *blobs[NGX_CERTMATE_STORE_ACME_BLOBS];
    ngx_certmate_store_acme_rec_t   rec;

    ngx_memzero(&rec, sizeof(rec));

    rec.format = NGX_CERTMATE_STORE_FORMAT;
    rec.failures = (uint32_t) state->failures;
    rec.next = state->next;
    rec.ari_check = state->ari_check;
    rec.last_attempt = state->last_attempt;
    rec.last_success = state->last_success;
    ngx_memcpy(rec.cert_id, state->cert_id, NGX_CERTMATE_ID_LEN);

    ngx_certmate_store_acme_blobs(state, blobs);

    key.mv_data = state->name.data;
    key.mv_size = state->name.len;

    return ngx_certmate_store_encode(txn, ngx_certmate_store.acme, &key, &rec,
                                     sizeof(rec), blobs,
                                     NGX_CERTMATE_STORE_ACME_BLOBS, 0, log);
}


/* removes the names index entries of a stored certificate */

static ngx_int_t
ngx_certmate_store_unlink(MDB_txn *txn, u_char *id, ngx_uint_t *found,
    ngx_log_t *log)
{
    int                        rc;
    u_char                    *p, *last;
    MDB_val                    key, data;
    ngx_certmate_cert_t        old;
    ngx_certmate_store_ref_t   ref;

    *found = 0;

    key.mv_data = id;
    key.mv_size = NGX_CERTMATE_ID_LEN;

    rc = mdb_get(txn, ngx_certmate_store.certs, &key, &data);

    if (rc == MDB_NOTFOUND) {
        return NGX_OK;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_get()", log);
    }

    if (ngx_certmate_store_cert_decode(&data, &old, log) != NGX_OK) {
        return NGX_ERROR;
    }

    *found = 1;

    ngx_memcpy(old.id, id, NGX_CERTMATE_ID_LEN);
    ngx_certmate_store_ref(&ref, &old);

    p = old.names.data;
    last = p + old.names.len;

    while (p < last) {
        key.mv_data = p;
        key.mv_size = ngx_strlen(p);
        data.mv_data = &ref;
        data.mv_size = sizeof(ngx_certmate_store_ref_t);

        rc = mdb_del(txn, ngx_certmate_store.names, &key, &data);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
            return ngx_certmate_store_error(rc, "mdb_del()", log);
        }

        p += key.mv_size + 1;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_store_link(MDB_txn *txn, ngx_certmate_cert_t *cert,
    ngx_log_t *log)
{
    int                        rc;
    u_char                    *p, *last;
    MDB_val                    key, data;
    ngx_certmate_store_ref_t   ref;

    ngx_certmate_store_ref(&ref, cert);

    p = cert->names.data;
    last = p + cert->names.len;

    while (p < last) {
        key.mv_data = p;
        key.mv_size = ngx_strlen(p);
        data.mv_data = &ref;
        data.mv_size = sizeof(ngx_certmate_store_ref_t);

        rc = mdb_put(txn, ngx_certmate_store.names, &key, &data,
                     MDB_NODUPDATA);
        if (rc != MDB_SUCCESS && rc != MDB_KEYEXIST) {
            return ngx_certmate_store_error(rc, "mdb_put()", log);
        }

        p += key.mv_size + 1;
    }

    return NGX_OK;
}


static void
ngx_certmate_store_ref(ngx_certmate_store_ref_t *ref,
    ngx_certmate_cert_t *cert)
{
    uint64_t    newness;
    ngx_uint_t  i;

    ref->key_class = (u_char) ngx_certmate_key_class(cert->key_type);

    newness = ~cert->version;
    for (i = 8; i > 0; i--) {
        ref->newness[i - 1] = (u_char) (newness & 0xff);
        newness >>= 8;
    }

    ngx_memcpy(ref->id, cert->id, NGX_CERTMATE_ID_LEN);
}


/* adds one to a counter of the meta database; a missing one was 0 */

static ngx_int_t
ngx_certmate_store_bump(MDB_txn *txn, char *counter, uint64_t *value,
    ngx_log_t *log)
{
    int      rc;
    MDB_val  key, data;

    key.mv_data = counter;
    key.mv_size = ngx_strlen(counter);

    rc = mdb_get(txn, ngx_certmate_store.meta, &key, &data);

    if (rc == MDB_NOTFOUND) {
        *value = 0;

    } else if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_get()", log);

    } else if (data.mv_size != sizeof(uint64_t)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store has a damaged \"%s\" record", counter);
        return NGX_ERROR;

    } else {
        ngx_memcpy(value, data.mv_data, sizeof(uint64_t));
    }

    (*value)++;

    data.mv_data = value;
    data.mv_size = sizeof(uint64_t);

    rc = mdb_put(txn, ngx_certmate_store.meta, &key, &data, 0);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_put()", log);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_store_commit(MDB_txn *txn, ngx_log_t *log)
{
    int  rc;

    rc = mdb_txn_commit(txn);
    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_txn_commit()", log);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_store_encode(MDB_txn *txn, MDB_dbi dbi, MDB_val *key,
    void *head, size_t size, ngx_str_t **blobs, ngx_uint_t n,
    unsigned int flags, ngx_log_t *log)
{
    int         rc;
    u_char     *p;
    MDB_val     data;
    uint32_t    len;
    ngx_uint_t  i;

    data.mv_size = size + n * sizeof(uint32_t);

    for (i = 0; i < n; i++) {
        data.mv_size += blobs[i]->len;
    }

    rc = mdb_put(txn, dbi, key, &data, MDB_RESERVE|flags);

    if (rc == MDB_KEYEXIST) {
        return NGX_DECLINED;
    }

    if (rc != MDB_SUCCESS) {
        return ngx_certmate_store_error(rc, "mdb_put()", log);
    }

    p = ngx_cpymem(data.mv_data, head, size);

    for (i = 0; i < n; i++) {
        len = (uint32_t) blobs[i]->len;
        p = ngx_cpymem(p, &len, sizeof(uint32_t));
    }

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, blobs[i]->data, blobs[i]->len);
    }

    return NGX_OK;
}


/* the blobs point into the store's memory: valid inside the transaction */

static ngx_int_t
ngx_certmate_store_decode(MDB_val *data, void *head, size_t size,
    ngx_str_t **blobs, ngx_uint_t n)
{
    u_char      *p, *last;
    uint32_t     len;
    ngx_uint_t   i;

    if (data->mv_size < size + n * sizeof(uint32_t)) {
        return NGX_ERROR;
    }

    ngx_memcpy(head, data->mv_data, size);

    last = (u_char *) data->mv_data + data->mv_size;
    p = (u_char *) data->mv_data + size + n * sizeof(uint32_t);

    for (i = 0; i < n; i++) {
        ngx_memcpy(&len, (u_char *) data->mv_data + size
                         + i * sizeof(uint32_t), sizeof(uint32_t));

        if (len > (size_t) (last - p)) {
            return NGX_ERROR;
        }

        blobs[i]->data = p;
        blobs[i]->len = len;
        p += len;
    }

    return p == last ? NGX_OK : NGX_ERROR;
}


/* helper process only: frees the reader slots of processes that died */

void
ngx_certmate_store_check_readers(ngx_log_t *log)
{
    int  rc, dead;

    if (ngx_certmate_store_open(log) != NGX_OK) {
        return;
    }

    rc = mdb_reader_check(ngx_certmate_store.env, &dead);
    if (rc != MDB_SUCCESS) {
        (void) ngx_certmate_store_error(rc, "mdb_reader_check()", log);
        return;
    }

    if (dead) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "certmate store cleared %d stale reader slots", dead);
    }
}


static ngx_int_t
ngx_certmate_store_error(int rc, const char *call, ngx_log_t *log)
{
    if (rc == MDB_MAP_FULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "certmate store \"%V\" is full (max_size=%uz), "
                      "write refused", &ngx_certmate_store.path,
                      ngx_certmate_store.max_size);
        return NGX_CERTMATE_STORE_FULL;
    }

    ngx_log_error(NGX_LOG_CRIT, log, 0, "%s failed (%d: %s)",
                  call, rc, mdb_strerror(rc));

    return NGX_ERROR;
}
