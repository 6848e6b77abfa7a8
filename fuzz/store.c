
/*
 * The store's records, as a damaged or foreign-written store could have
 * them: the input is written raw into one of the store's databases (its
 * first byte picks which; then the key's length, the key, the record),
 * and read back through every reader of that database, the way workers
 * and the helper read it.  The store is a real one.
 */


#include "fuzz.h"

#include "ngx_certmate_store.c"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_cert.h"


static ngx_int_t ngx_fuzz_store_serial(ngx_certmate_serial_t *s, void *data);
static void ngx_fuzz_store_read(ngx_pool_t *pool, ngx_uint_t db,
    ngx_str_t *key);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                      rc;
    MDB_txn                 *txn;
    MDB_dbi                  dbi;
    MDB_val                  key, rec;
    ngx_str_t                k;
    ngx_log_t               *log;
    ngx_uint_t               db;
    ngx_pool_t              *pool;
    ngx_certmate_store_t    *st;
    MDB_dbi                 *dbis[15];

    static ngx_uint_t        open;

    log = ngx_fuzz_init();
    st = &ngx_certmate_store;

    if (!open) {
        ngx_fuzz_store(64 * 1024 * 1024);
        open = 1;
    }

    if (size < 2 || (size_t) data[1] > size - 2) {
        return 0;
    }

    /* in the order of ngx_fuzz_store_read() */

    dbis[0] = &st->meta;
    dbis[1] = &st->certs;
    dbis[2] = &st->names;
    dbis[3] = &st->acme;
    dbis[4] = &st->accounts;
    dbis[5] = &st->tokens;
    dbis[6] = &st->ca;
    dbis[7] = &st->serials;
    dbis[8] = &st->crls;
    dbis[9] = &st->revoked;
    dbis[10] = &st->ocsp;
    dbis[11] = &st->est_tokens;
    dbis[12] = &st->audit;
    dbis[13] = &st->expiry;
    dbis[14] = &st->staples;

    db = data[0] % (sizeof(dbis) / sizeof(dbis[0]));
    dbi = *dbis[db];

    key.mv_data = (void *) (data + 2);
    key.mv_size = data[1];
    rec.mv_data = (void *) (data + 2 + data[1]);
    rec.mv_size = size - 2 - data[1];

    if (key.mv_size == 0 || key.mv_size > 511) {
        return 0;
    }

    /* the database holds this record only */

    if (mdb_txn_begin(st->env, NULL, 0, &txn) != MDB_SUCCESS) {
        abort();
    }

    rc = mdb_drop(txn, dbi, 0);

    if (rc == MDB_SUCCESS) {
        rc = mdb_put(txn, dbi, &key, &rec, 0);
    }

    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return 0;
    }

    if (mdb_txn_commit(txn) != MDB_SUCCESS) {
        abort();
    }

    pool = ngx_fuzz_pool();

    if (ngx_fuzz_input(pool, key.mv_data, key.mv_size, &k) != NGX_OK) {
        abort();
    }

    if (ngx_certmate_store_read_begin(log) == NGX_OK) {
        ngx_fuzz_store_read(pool, db, &k);
        ngx_certmate_store_read_end();
    }

    ERR_clear_error();
    ngx_destroy_pool(pool);

    return 0;
}


/* every reader of the database "db", asked for the key written */

static void
ngx_fuzz_store_read(ngx_pool_t *pool, ngx_uint_t db, ngx_str_t *key)
{
    u_char                       id[NGX_CERTMATE_ID_LEN];
    u_char                       hash[NGX_CERTMATE_ISSUER_HASH_LEN];
    uint64_t                     count;
    ngx_str_t                    keyauth, serial;
    ngx_uint_t                   days;
    ngx_log_t                   *log;
    ngx_certmate_ca_t            ca;
    ngx_certmate_ref_t           refs[NGX_CERTMATE_CLASSES];
    ngx_certmate_cert_t          cert;
    ngx_certmate_audit_t         audit;
    ngx_certmate_serial_t        s;
    ngx_certmate_staple_t        staple;
    ngx_certmate_est_token_t     token;
    ngx_certmate_cert_info_t     info;
    ngx_certmate_ocsp_entry_t    entry;
    ngx_certmate_crl_source_t    src;
    ngx_certmate_revocation_t    rv;
    ngx_certmate_acme_state_t    state;
    ngx_certmate_acme_account_t  account;
    ngx_certmate_store_status_t  status;

    log = pool->log;

    ngx_memzero(id, sizeof(id));
    ngx_memcpy(id, key->data, ngx_min(key->len, sizeof(id)));
    ngx_memzero(hash, sizeof(hash));
    ngx_memcpy(hash, key->data, ngx_min(key->len, sizeof(hash)));

    serial.data = key->data + ngx_min(key->len, sizeof(hash));
    serial.len = key->len - ngx_min(key->len, sizeof(hash));

    switch (db) {

    case 0:     /* meta */
        (void) ngx_certmate_store_status(&status, log);
        (void) ngx_certmate_store_counter("revocations", &count, log);
        break;

    case 1:     /* certs */
        if (ngx_certmate_store_get(id, &cert, log) == NGX_OK) {
            (void) ngx_certmate_cert_info(pool, &cert, &info);
        }

        if (ngx_certmate_store_next(NULL, &cert, log) == NGX_OK) {
            (void) ngx_certmate_cert_info(pool, &cert, &info);
        }

        (void) ngx_certmate_store_expiry_get(id, &days, log);
        break;

    case 2:     /* names */
        (void) ngx_certmate_store_find(key, refs, log);
        break;

    case 3:     /* acme */
        (void) ngx_certmate_store_acme_get(key, &state, log);
        (void) ngx_certmate_store_acme_next(NULL, &state, log);
        break;

    case 4:     /* accounts */
        (void) ngx_certmate_store_account_get(key, &account, log);
        break;

    case 5:     /* tokens */
        (void) ngx_certmate_store_token_get(key, &keyauth, log);
        break;

    case 6:     /* ca */
        (void) ngx_certmate_store_ca_get(&ca, log);
        break;

    case 7:     /* serials */
        (void) ngx_certmate_store_serial_get(key, &s, log);
        (void) ngx_certmate_store_serial_each(ngx_fuzz_store_serial, pool,
                                              log);
        break;

    case 8:     /* crls */
        (void) ngx_certmate_store_crl_source_next(NULL, &src, log);
        break;

    case 9:     /* revoked */
        (void) ngx_certmate_store_crl_find(hash, &serial, &rv, log);
        break;

    case 10:    /* ocsp */
        (void) ngx_certmate_store_ocsp_find(hash, &serial, &rv, log);
        (void) ngx_certmate_store_ocsp_next(NULL, &entry, log);
        break;

    case 11:    /* est_tokens */
        (void) ngx_certmate_store_est_token_get(hash, &token, log);
        break;

    case 12:    /* audit */
        (void) ngx_certmate_store_audit_next(0, &audit, log);
        break;

    case 13:    /* expiry */
        (void) ngx_certmate_store_expiry_get(id, &days, log);
        break;

    default:    /* staples */
        (void) ngx_certmate_store_staple_get(id, &staple, log);
    }
}


static ngx_int_t
ngx_fuzz_store_serial(ngx_certmate_serial_t *s, void *data)
{
    ngx_pool_t  *pool = data;

    ngx_str_t  hex;

    return ngx_certmate_ca_serial_hex(pool, &s->serial, &hex);
}
