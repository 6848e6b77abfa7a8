
/*
 * certmate: the ACME client of the helper process (RFC 8555, with
 * renewal information from RFC 9773).
 *
 * Every name of a "certmate_acme" is a piece of work with a time when
 * it is due: for its first certificate, a renewal, a retry after a
 * failure, or a question about its renewal window.  The helper's tick
 * starts due work (at most NGX_CERTMATE_ACME_PARALLEL at once) and moves
 * it on from one response to the next; nothing waits.
 *
 * An order, step by step:
 *
 *   newOrder, or the stored order URL       -> order_done
 *   each authorization; if pending, the      -> authz_done
 *     token goes to the store for workers,
 *     the challenge is answered, the         -> challenge_done
 *     authorization polled                   -> authz_done
 *   finalize with a CSR of a new key,        -> order_done
 *     the key stored first
 *   the order polled while "processing"      -> order_done
 *   the certificate downloaded, stored with  -> cert_done
 *     the name's state in one transaction
 *   renewalInfo, where the CA has it         -> ari_done
 *
 * The store keeps each name's state: the order under way and its key
 * (so that a helper killed mid-order resumes that order), failures and
 * when to try again (so that restarts never make a burst of orders).
 */


#include "ngx_certmate_acme.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_http.h"
#include "ngx_certmate_json.h"
#include "ngx_certmate_jws.h"
#include "ngx_certmate_store.h"
#include "ngx_http_certmate_metrics.h"

#include <openssl/x509v3.h>


#define NGX_CERTMATE_ACME_PARALLEL    32
#define NGX_CERTMATE_ACME_NONCES      16
#define NGX_CERTMATE_ACME_NONCE_LEN   128
#define NGX_CERTMATE_ACME_NONCE_TRIES 3
#define NGX_CERTMATE_ACME_POLLS       60
#define NGX_CERTMATE_ACME_POLL_FIRST  250       /* ms, doubled per poll */
#define NGX_CERTMATE_ACME_POLL_MAX    10000     /* ms */
#define NGX_CERTMATE_ACME_ARI_CHECK   (6 * 3600)
#define NGX_CERTMATE_ACME_BACKOFF_MAX 86400
#define NGX_CERTMATE_ACME_WAIT_MAX    3600000


#define NGX_CERTMATE_CA_NONE          0
#define NGX_CERTMATE_CA_SETUP         1
#define NGX_CERTMATE_CA_READY         2
#define NGX_CERTMATE_CA_FAILED        3


typedef struct ngx_certmate_acme_ca_s    ngx_certmate_acme_ca_t;
typedef struct ngx_certmate_acme_post_s  ngx_certmate_acme_post_t;
typedef struct ngx_certmate_acme_work_s  ngx_certmate_acme_work_t;

typedef void (*ngx_certmate_acme_handler_pt)(ngx_certmate_acme_post_t *post);


/* one exchange with the CA: a GET, or a JWS POST with its nonce dance */

struct ngx_certmate_acme_post_s {
    ngx_certmate_http_t            http;
    ngx_certmate_acme_ca_t        *ca;
    ngx_str_t                      url;
    ngx_str_t                      payload;     /* empty: POST-as-GET */
    ngx_uint_t                     jwk;         /* signed with the JWK */
    ngx_uint_t                     tries;
    ngx_certmate_acme_handler_pt   handler;
    void                          *data;
};


/* a CA: its directory and our account there */

struct ngx_certmate_acme_ca_s {
    ngx_certmate_acme_issuer_t    *conf;
    ngx_uint_t                     state;
    ngx_pool_t                    *pool;
    ngx_certmate_acme_directory_t  dir;
    EVP_PKEY                      *key;
    ngx_str_t                      account_key;     /* DER, new accounts */
    ngx_str_t                      jwk;
    ngx_str_t                      thumbprint;
    ngx_str_t                      kid;
    ngx_uint_t                     stale;       /* the CA forgot the account */
    ngx_uint_t                     failures;
    time_t                         retry;
    ngx_certmate_acme_post_t       post;

    ngx_uint_t                     nonces;
    size_t                         nonce_len[NGX_CERTMATE_ACME_NONCES];
    u_char                         nonce[NGX_CERTMATE_ACME_NONCES]
                                        [NGX_CERTMATE_ACME_NONCE_LEN];
};


/* a name and the attempt under way for it */

struct ngx_certmate_acme_work_s {
    ngx_certmate_acme_name_t      *conf;
    ngx_certmate_acme_ca_t        *ca;
    time_t                         due;
    ngx_uint_t                     busy;
    ngx_uint_t                     waiting;     /* for its CA */
    ngx_uint_t                     ari_only;    /* only asks about renewal */
    ngx_uint_t                     resuming;    /* fetches a stored order */

    ngx_pool_t                    *pool;
    ngx_certmate_acme_state_t      state;
    ngx_certmate_acme_post_t       post;
    ngx_str_t                      cert_id;     /* ARI id of the current */
    ngx_array_t                    authzs;
    ngx_uint_t                     authz;
    ngx_uint_t                     challenged;
    ngx_str_t                      token;
    ngx_str_t                      finalize;
    EVP_PKEY                      *key;
    ngx_msec_t                     poll_at;     /* 0: not polling */
    ngx_uint_t                     polls;
    ngx_certmate_acme_handler_pt   poll;
};


typedef struct {
    ngx_uint_t                     ready;
    ngx_pool_t                    *pool;
    ngx_array_t                    cas;         /* ngx_certmate_acme_ca_t */
    ngx_array_t                    works;       /* ngx_certmate_acme_work_t */
    ngx_uint_t                     busy;
    uint64_t                       renewals;    /* asked for by the API */
    ngx_log_t                     *log;
} ngx_certmate_acme_t;


static ngx_int_t ngx_certmate_acme_init(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log);
static ngx_int_t ngx_certmate_acme_renewals(ngx_log_t *log);
static void ngx_certmate_acme_start(ngx_certmate_acme_work_t *work);
static void ngx_certmate_acme_order(ngx_certmate_acme_work_t *work);
static void ngx_certmate_acme_order_done(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_order_next(ngx_certmate_acme_work_t *work,
    ngx_certmate_acme_order_msg_t *order, time_t retry_after);
static void ngx_certmate_acme_authz(ngx_certmate_acme_work_t *work);
static void ngx_certmate_acme_authz_done(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_challenge_done(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_finalize(ngx_certmate_acme_work_t *work);
static void ngx_certmate_acme_cert_done(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_ari(ngx_certmate_acme_work_t *work);
static void ngx_certmate_acme_ari_done(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_poll(ngx_certmate_acme_work_t *work,
    ngx_certmate_acme_handler_pt handler, time_t retry_after);
static void ngx_certmate_acme_poll_order(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_poll_authz(ngx_certmate_acme_post_t *post);
static ngx_int_t ngx_certmate_acme_failed(ngx_certmate_acme_work_t *work,
    ngx_certmate_acme_post_t *post, const char *what);
static void ngx_certmate_acme_fail(ngx_certmate_acme_work_t *work,
    ngx_str_t *error, time_t retry_after);
static ngx_int_t ngx_certmate_acme_audit(ngx_certmate_acme_work_t *work,
    ngx_certmate_audit_t *audit, const char *type, const char *fmt, ...);
static void ngx_certmate_acme_done(ngx_certmate_acme_work_t *work);
static void ngx_certmate_acme_save(ngx_certmate_acme_work_t *work);
static void ngx_certmate_acme_renewal(ngx_certmate_acme_work_t *work,
    ngx_certmate_cert_t *cert);
static ngx_int_t ngx_certmate_acme_cert_id(ngx_pool_t *pool,
    ngx_str_t *chain, ngx_str_t *id);
static void ngx_certmate_acme_ca_setup(ngx_certmate_acme_ca_t *ca);
static void ngx_certmate_acme_directory_done(ngx_certmate_acme_post_t *post);
static ngx_int_t ngx_certmate_acme_ca_key(ngx_certmate_acme_ca_t *ca,
    ngx_str_t *der);
static void ngx_certmate_acme_account_done(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_ca_ready(ngx_certmate_acme_ca_t *ca);
static void ngx_certmate_acme_ca_fail(ngx_certmate_acme_ca_t *ca,
    ngx_str_t *error, time_t retry_after);
static ngx_int_t ngx_certmate_acme_get(ngx_certmate_acme_post_t *post,
    ngx_str_t *url, ngx_certmate_acme_handler_pt handler);
static ngx_int_t ngx_certmate_acme_post(ngx_certmate_acme_post_t *post,
    ngx_str_t *url, ngx_str_t *payload, ngx_certmate_acme_handler_pt handler);
static ngx_int_t ngx_certmate_acme_send(ngx_certmate_acme_post_t *post);
static void ngx_certmate_acme_nonce_done(ngx_certmate_http_t *http);
static void ngx_certmate_acme_post_done(ngx_certmate_http_t *http);
static void ngx_certmate_acme_nonce_keep(ngx_certmate_acme_ca_t *ca,
    ngx_str_t *nonce);
static ngx_int_t ngx_certmate_acme_problem(ngx_pool_t *pool,
    ngx_certmate_http_t *http, const char *what, ngx_str_t *error,
    ngx_str_t *type);
static time_t ngx_certmate_acme_backoff(time_t base, ngx_uint_t failures);
static ngx_int_t ngx_certmate_acme_is(ngx_str_t *value, const char *text);
static ngx_int_t ngx_certmate_acme_dup(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src);


static ngx_certmate_acme_t  ngx_certmate_acme;


/* helper process only */

ngx_msec_t
ngx_certmate_acme_tick(ngx_http_certmate_main_conf_t *cmmcf, ngx_log_t *log)
{
    time_t                     now, at;
    ngx_uint_t                 i;
    ngx_msec_t                 wait, ms;
    ngx_certmate_acme_work_t  *work;

    if (cmmcf->acme_names.nelts == 0) {
        return NGX_CERTMATE_ACME_WAIT_MAX;
    }

    if (!ngx_certmate_acme.ready) {
        if (ngx_certmate_acme_init(cmmcf, log) != NGX_OK) {
            return 1000;
        }
    }

    wait = ngx_certmate_http_run(log);

    if (ngx_certmate_acme_renewals(log) != NGX_OK) {
        return 1000;
    }

    ngx_time_update();
    now = ngx_time();

    work = ngx_certmate_acme.works.elts;

    for (i = 0; i < ngx_certmate_acme.works.nelts; i++) {

        if (work[i].busy) {
            if (work[i].poll_at == 0) {
                continue;
            }

            ms = work[i].poll_at - ngx_current_msec;

            if ((ngx_msec_int_t) ms <= 0) {
                work[i].poll_at = 0;
                work[i].poll(&work[i].post);
                continue;
            }

            wait = ngx_min(wait, ms);
            continue;

        } else {
            if (work[i].due <= now
                && ngx_certmate_acme.busy < NGX_CERTMATE_ACME_PARALLEL)
            {
                ngx_certmate_acme_start(&work[i]);
                continue;
            }

            at = work[i].due;
        }

        ms = (at > now) ? (ngx_msec_t) (at - now) * 1000 : 1;
        wait = ngx_min(wait, ms);
    }

    ms = ngx_certmate_http_run(log);

    return ngx_min(ngx_min(wait, ms), NGX_CERTMATE_ACME_WAIT_MAX);
}


/* the works of the configured names, and their states from the store */

static ngx_int_t
ngx_certmate_acme_init(ngx_http_certmate_main_conf_t *cmmcf, ngx_log_t *log)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i, j, fresh;
    ngx_certmate_acme_t         *acme;
    ngx_certmate_acme_ca_t      *ca;
    ngx_certmate_acme_work_t    *work;
    ngx_certmate_acme_name_t    *name;
    ngx_certmate_acme_issuer_t  *issuer;
    ngx_certmate_acme_state_t    state;

    acme = &ngx_certmate_acme;
    acme->log = log;

    if (acme->pool == NULL) {
        acme->pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
        if (acme->pool == NULL) {
            return NGX_ERROR;
        }

        if (ngx_array_init(&acme->cas, acme->pool, cmmcf->issuers.nelts,
                           sizeof(ngx_certmate_acme_ca_t))
            != NGX_OK
            || ngx_array_init(&acme->works, acme->pool,
                              cmmcf->acme_names.nelts,
                              sizeof(ngx_certmate_acme_work_t))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        issuer = cmmcf->issuers.elts;

        for (i = 0; i < cmmcf->issuers.nelts; i++) {
            ca = ngx_array_push(&acme->cas);
            ngx_memzero(ca, sizeof(ngx_certmate_acme_ca_t));
            ca->conf = &issuer[i];
        }

        name = cmmcf->acme_names.elts;

        for (i = 0; i < cmmcf->acme_names.nelts; i++) {
            work = ngx_array_push(&acme->works);
            ngx_memzero(work, sizeof(ngx_certmate_acme_work_t));
            work->conf = &name[i];

            ca = acme->cas.elts;

            for (j = 0; ca[j].conf != name[i].issuer; j++) {
                /* void */
            }

            work->ca = &ca[j];
        }
    }

    /* when each name is due; names new to the store are due now */

    work = acme->works.elts;

    for (i = 0; i < acme->works.nelts; i++) {

        if (ngx_certmate_store_read_begin(log) != NGX_OK) {
            return NGX_ERROR;
        }

        rc = ngx_certmate_store_acme_get(&work[i].conf->name, &state, log);

        fresh = (rc == NGX_DECLINED
                 || (rc == NGX_OK
                     && (state.issuer.len != work[i].conf->issuer->name.len
                         || ngx_strncmp(state.issuer.data,
                                        work[i].conf->issuer->name.data,
                                        state.issuer.len)
                            != 0)));

        if (rc == NGX_OK) {
            work[i].due = state.next;

            if (state.ari_check && state.ari_check < work[i].due) {
                work[i].due = state.ari_check;
            }
        }

        ngx_certmate_store_read_end();

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (!fresh) {
            continue;
        }

        /* a new name, or one that changed its issuer: due at once */

        if (rc == NGX_DECLINED) {
            ngx_memzero(&state, sizeof(ngx_certmate_acme_state_t));
            state.name = work[i].conf->name;
        }

        state.issuer = work[i].conf->issuer->name;
        state.next = ngx_time();
        state.failures = 0;
        ngx_str_null(&state.order);
        ngx_str_null(&state.order_key);
        ngx_str_null(&state.error);

        if (ngx_certmate_store_acme_put(&state, log) != NGX_OK) {
            return NGX_ERROR;
        }

        work[i].due = state.next;
    }

    acme->ready = 1;

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "certmate acme keeps certificates for %ui names",
                  acme->works.nelts);

    return NGX_OK;
}


/*
 * Renewals asked for through the API: when the store's counter moved,
 * the names not under way take their due times from the store again
 */

static ngx_int_t
ngx_certmate_acme_renewals(ngx_log_t *log)
{
    uint64_t                    renewals;
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_certmate_acme_work_t   *work;
    ngx_certmate_acme_state_t   state;

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_counter("renewals", &renewals, log);

    if (rc != NGX_OK || renewals == ngx_certmate_acme.renewals) {
        ngx_certmate_store_read_end();
        return rc;
    }

    work = ngx_certmate_acme.works.elts;

    for (i = 0; i < ngx_certmate_acme.works.nelts; i++) {

        if (work[i].busy) {
            continue;
        }

        rc = ngx_certmate_store_acme_get(&work[i].conf->name, &state, log);

        if (rc == NGX_ERROR) {
            break;
        }

        if (rc == NGX_OK && state.next < work[i].due) {
            work[i].due = state.next;

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "certmate renews \"%V\" now, as the admin API "
                          "asked", &work[i].conf->name);
        }
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_certmate_acme.renewals = renewals;

    return NGX_OK;
}


static void
ngx_certmate_acme_start(ngx_certmate_acme_work_t *work)
{
    time_t                      now;
    ngx_int_t                   rc;
    ngx_log_t                  *log;
    ngx_certmate_cert_t         cert;
    ngx_certmate_acme_ca_t     *ca;
    ngx_certmate_acme_state_t   state;

    log = ngx_certmate_acme.log;
    now = ngx_time();

    work->pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (work->pool == NULL) {
        work->due = now + 1;
        return;
    }

    work->busy = 1;
    ngx_certmate_acme.busy++;

    work->poll_at = 0;
    work->polls = 0;
    work->challenged = 0;
    work->ari_only = 0;
    ngx_str_null(&work->token);
    ngx_str_null(&work->cert_id);

    ngx_memzero(&work->post, sizeof(ngx_certmate_acme_post_t));
    work->post.ca = work->ca;
    work->post.data = work;
    work->post.http.pool = work->pool;

    /* the state, and the ARI id of the current certificate */

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        goto failed;
    }

    rc = ngx_certmate_store_acme_get(&work->conf->name, &state, log);

    if (rc == NGX_OK) {
        work->state = state;

        if (ngx_certmate_acme_dup(work->pool, &work->state.issuer,
                                  &state.issuer)
            != NGX_OK
            || ngx_certmate_acme_dup(work->pool, &work->state.order,
                                     &state.order)
               != NGX_OK
            || ngx_certmate_acme_dup(work->pool, &work->state.order_key,
                                     &state.order_key)
               != NGX_OK
            || ngx_certmate_acme_dup(work->pool, &work->state.error,
                                     &state.error)
               != NGX_OK)
        {
            rc = NGX_ERROR;
        }

        work->state.name = work->conf->name;
    }

    if (rc == NGX_OK
        && ngx_certmate_store_get(work->state.cert_id, &cert, log) == NGX_OK
        && ngx_certmate_acme_cert_id(work->pool, &cert.chain, &work->cert_id)
           != NGX_OK)
    {
        ngx_str_null(&work->cert_id);
    }

    ngx_certmate_store_read_end();

    if (rc != NGX_OK) {
        goto failed;
    }

    ca = work->ca;

    if (work->state.next > now) {

        /* only time to ask about the renewal window again */

        if (work->cert_id.len == 0) {
            work->state.ari_check = 0;
            ngx_certmate_acme_save(work);
            ngx_certmate_acme_done(work);
            return;
        }

        work->ari_only = 1;

    } else {
        work->state.last_attempt = now;
    }

    if (ca->state == NGX_CERTMATE_CA_READY) {
        if (work->ari_only) {
            ngx_certmate_acme_ari(work);

        } else {
            ngx_certmate_acme_order(work);
        }

        return;
    }

    if (ca->state == NGX_CERTMATE_CA_FAILED && ca->retry > now) {
        if (work->ari_only) {
            work->state.ari_check = ca->retry;

        } else {
            work->state.next = ca->retry;
        }

        ngx_certmate_acme_done(work);
        return;
    }

    work->waiting = 1;

    if (ca->state != NGX_CERTMATE_CA_SETUP) {
        ngx_certmate_acme_ca_setup(ca);
    }

    return;

failed:

    work->state.next = now + 1;
    work->state.ari_check = 0;

    ngx_certmate_acme_done(work);
}


/* a new order, or the stored one */

static void
ngx_certmate_acme_order(ngx_certmate_acme_work_t *work)
{
    ngx_int_t                rc;
    ngx_str_t                payload, replaces;
    ngx_certmate_acme_ca_t  *ca;

    ca = work->ca;

    work->resuming = work->state.order.len ? 1 : 0;

    if (work->resuming) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_certmate_acme.log, 0,
                      "certmate acme \"%V\" resumes order %V",
                      &work->conf->name, &work->state.order);

        rc = ngx_certmate_acme_post(&work->post, &work->state.order, NULL,
                                    ngx_certmate_acme_order_done);

    } else {
        ngx_str_null(&replaces);

        if (ca->dir.renewal_info.len) {
            replaces = work->cert_id;
        }

        if (ngx_certmate_json_acme_new_order(work->pool, &work->conf->name,
                                             1, &replaces, &payload)
            != NGX_OK)
        {
            rc = NGX_ERROR;

        } else {
            rc = ngx_certmate_acme_post(&work->post, &ca->dir.new_order,
                                        &payload,
                                        ngx_certmate_acme_order_done);
        }
    }

    if (rc != NGX_OK) {
        ngx_certmate_acme_fail(work, NULL, 0);
    }
}


static void
ngx_certmate_acme_order_done(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_work_t *work = post->data;

    ngx_certmate_http_t            *http;
    ngx_certmate_acme_order_msg_t   order;
    ngx_certmate_acme_problem_t     problem;

    http = &post->http;

    if (work->resuming
        && http->status >= NGX_HTTP_BAD_REQUEST
        && http->status < NGX_HTTP_INTERNAL_SERVER_ERROR
        && http->status != NGX_HTTP_TOO_MANY_REQUESTS
        && work->ca->state == NGX_CERTMATE_CA_READY)
    {
        /* the CA does not know the stored order (any more): a new one */

        work->resuming = 0;

        ngx_log_error(NGX_LOG_NOTICE, ngx_certmate_acme.log, 0,
                      "certmate acme \"%V\": order %V is gone",
                      &work->conf->name, &work->state.order);

        ngx_str_null(&work->state.order);
        ngx_str_null(&work->state.order_key);
        ngx_certmate_acme_save(work);
        ngx_certmate_acme_order(work);
        return;
    }

    if (http->status == NGX_HTTP_FORBIDDEN && work->state.order.len) {
        ngx_certmate_json_acme_problem(work->pool, &http->response, &problem);

        if (ngx_certmate_acme_is(&problem.type,
                                 "urn:ietf:params:acme:error:orderNotReady"))
        {
            /* finalized too early: what does the order say now */

            ngx_certmate_acme_poll(work, ngx_certmate_acme_poll_order,
                                   http->retry_after);
            return;
        }
    }

    work->resuming = 0;

    if (ngx_certmate_acme_failed(work, post, "order") != NGX_OK) {
        return;
    }

    if (http->status == NGX_HTTP_CREATED) {
        if (http->location.len == 0
            || ngx_certmate_acme_dup(work->pool, &work->state.order,
                                     &http->location)
               != NGX_OK)
        {
            ngx_certmate_acme_fail(work, NULL, 0);
            return;
        }

        ngx_certmate_acme_save(work);

        ngx_log_error(NGX_LOG_INFO, ngx_certmate_acme.log, 0,
                      "certmate acme \"%V\" ordered %V",
                      &work->conf->name, &work->state.order);
    }

    if (ngx_certmate_json_acme_order(work->pool, &http->response, &order)
        != NGX_OK)
    {
        ngx_certmate_acme_fail(work, NULL, 0);
        return;
    }

    ngx_certmate_acme_order_next(work, &order, http->retry_after);
}


static void
ngx_certmate_acme_order_next(ngx_certmate_acme_work_t *work,
    ngx_certmate_acme_order_msg_t *order, time_t retry_after)
{
    ngx_str_t   error;

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, ngx_certmate_acme.log, 0,
                   "certmate acme \"%V\" order %V",
                   &work->conf->name, &order->status);

    if (ngx_certmate_acme_is(&order->status, "pending")) {
        work->authzs = order->authorizations;
        work->authz = 0;
        ngx_certmate_acme_authz(work);
        return;
    }

    if (ngx_certmate_acme_is(&order->status, "ready")) {
        work->finalize = order->finalize;
        ngx_certmate_acme_finalize(work);
        return;
    }

    if (ngx_certmate_acme_is(&order->status, "processing")) {
        ngx_certmate_acme_poll(work, ngx_certmate_acme_poll_order,
                               retry_after);
        return;
    }

    if (ngx_certmate_acme_is(&order->status, "valid")
        && order->certificate.len)
    {
        work->post.http.accept = "application/pem-certificate-chain";

        if (ngx_certmate_acme_post(&work->post, &order->certificate, NULL,
                                   ngx_certmate_acme_cert_done)
            != NGX_OK)
        {
            ngx_certmate_acme_fail(work, NULL, 0);
        }

        return;
    }

    /* invalid: this order is over */

    error.data = ngx_pnalloc(work->pool, 256);
    if (error.data == NULL) {
        ngx_certmate_acme_fail(work, NULL, 0);
        return;
    }

    error.len = ngx_snprintf(error.data, 256, "the order is %V%s%V",
                             &order->status, order->error.len ? ": " : "",
                             &order->error)
                - error.data;

    ngx_str_null(&work->state.order);
    ngx_str_null(&work->state.order_key);

    ngx_certmate_acme_fail(work, &error, 0);
}


static void
ngx_certmate_acme_authz(ngx_certmate_acme_work_t *work)
{
    ngx_int_t   rc;
    ngx_str_t  *url;

    if (work->authz == work->authzs.nelts) {

        /* every authorization is valid: the order should be ready */

        rc = ngx_certmate_acme_post(&work->post, &work->state.order, NULL,
                                    ngx_certmate_acme_order_done);

    } else {
        url = work->authzs.elts;
        work->polls = 0;
        work->challenged = 0;

        rc = ngx_certmate_acme_post(&work->post, &url[work->authz], NULL,
                                    ngx_certmate_acme_authz_done);
    }

    if (rc != NGX_OK) {
        ngx_certmate_acme_fail(work, NULL, 0);
    }
}


static void
ngx_certmate_acme_authz_done(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_work_t *work = post->data;

    u_char                         *p;
    ngx_str_t                       keyauth, payload, error;
    ngx_certmate_acme_ca_t         *ca;
    ngx_certmate_acme_authz_msg_t   authz;

    if (ngx_certmate_acme_failed(work, post, "authorization") != NGX_OK) {
        return;
    }

    if (ngx_certmate_json_acme_authz(work->pool, &post->http.response, &authz)
        != NGX_OK)
    {
        ngx_certmate_acme_fail(work, NULL, 0);
        return;
    }

    if (ngx_certmate_acme_is(&authz.status, "valid")) {

        /*
         * the token, also of an attempt before a restart, is kept until
         * the order ends: a CA may validate an answered challenge again
         */

        if (authz.token.len) {
            work->token = authz.token;
        }

        work->authz++;
        ngx_certmate_acme_authz(work);
        return;
    }

    if (ngx_certmate_acme_is(&authz.status, "pending") && !work->challenged) {

        if (authz.token.len == 0) {
            ngx_str_set(&error, "the CA offers no http-01 challenge");
            ngx_certmate_acme_fail(work, &error, 0);
            return;
        }

        ca = work->ca;

        keyauth.len = authz.token.len + 1 + ca->thumbprint.len;
        keyauth.data = ngx_pnalloc(work->pool, keyauth.len);
        if (keyauth.data == NULL) {
            ngx_certmate_acme_fail(work, NULL, 0);
            return;
        }

        p = ngx_cpymem(keyauth.data, authz.token.data, authz.token.len);
        *p++ = '.';
        ngx_memcpy(p, ca->thumbprint.data, ca->thumbprint.len);

        /* workers answer the CA from the store */

        if (ngx_certmate_store_token_put(&authz.token, &keyauth,
                                         ngx_certmate_acme.log)
            != NGX_OK)
        {
            ngx_certmate_acme_fail(work, NULL, 0);
            return;
        }

        work->token = authz.token;
        work->challenged = 1;

        ngx_str_set(&payload, "{}");

        if (ngx_certmate_acme_post(&work->post, &authz.challenge, &payload,
                                   ngx_certmate_acme_challenge_done)
            != NGX_OK)
        {
            ngx_certmate_acme_fail(work, NULL, 0);
        }

        return;
    }

    if (ngx_certmate_acme_is(&authz.status, "pending")
        || ngx_certmate_acme_is(&authz.status, "processing"))
    {
        ngx_certmate_acme_poll(work, ngx_certmate_acme_poll_authz,
                               post->http.retry_after);
        return;
    }

    /* invalid, deactivated, expired or revoked: the order is lost */

    error.data = ngx_pnalloc(work->pool, 512);
    if (error.data == NULL) {
        ngx_certmate_acme_fail(work, NULL, 0);
        return;
    }

    error.len = ngx_snprintf(error.data, 512, "the authorization is %V%s%V",
                             &authz.status, authz.error.len ? ": " : "",
                             &authz.error)
                - error.data;

    ngx_str_null(&work->state.order);
    ngx_str_null(&work->state.order_key);

    ngx_certmate_acme_fail(work, &error, 0);
}


static void
ngx_certmate_acme_challenge_done(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_work_t *work = post->data;

    if (ngx_certmate_acme_failed(work, post, "challenge") != NGX_OK) {
        return;
    }

    ngx_certmate_acme_poll(work, ngx_certmate_acme_poll_authz,
                           post->http.retry_after);
}


/* a CSR with a key kept in the state first, so that a restart finds it */

static void
ngx_certmate_acme_finalize(ngx_certmate_acme_work_t *work)
{
    ngx_str_t    csr, b64, payload;
    ngx_uint_t   type;

    type = work->conf->issuer->key_type;
    work->polls = 0;

    if (work->state.order_key.len) {
        work->key = ngx_certmate_key_decode(type, &work->state.order_key,
                                            ngx_certmate_acme.log);

    } else {
        work->key = ngx_certmate_key_generate(type, ngx_certmate_acme.log);

        ngx_time_update();

        if (work->key
            && ngx_certmate_key_encode(work->pool, work->key,
                                       &work->state.order_key)
               == NGX_OK)
        {
            ngx_certmate_acme_save(work);
        }
    }

    if (work->key == NULL
        || work->state.order_key.len == 0
        || ngx_certmate_csr(work->pool, work->key, &work->conf->name, 1, &csr)
           != NGX_OK
        || ngx_certmate_base64url(work->pool, csr.data, csr.len, &b64)
           != NGX_OK
        || ngx_certmate_json_acme_finalize(work->pool, &b64, &payload)
           != NGX_OK
        || ngx_certmate_acme_post(&work->post, &work->finalize, &payload,
                                  ngx_certmate_acme_order_done)
           != NGX_OK)
    {
        ngx_certmate_acme_fail(work, NULL, 0);
    }
}


static void
ngx_certmate_acme_cert_done(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_work_t *work = post->data;

    u_char                  old[NGX_CERTMATE_ID_LEN], zero[NGX_CERTMATE_ID_LEN];
    ngx_int_t               rc;
    ngx_str_t               id;
    ngx_certmate_cert_t     cert;
    ngx_certmate_audit_t    audit;
    ngx_certmate_problem_t  problem;

    work->post.http.accept = NULL;

    if (ngx_certmate_acme_failed(work, post, "certificate") != NGX_OK) {
        return;
    }

    if (work->key == NULL) {
        work->key = ngx_certmate_key_decode(work->conf->issuer->key_type,
                                            &work->state.order_key,
                                            ngx_certmate_acme.log);
        if (work->key == NULL) {
            ngx_str_null(&work->state.order);
            ngx_str_null(&work->state.order_key);
            ngx_certmate_acme_fail(work, NULL, 0);
            return;
        }
    }

    ngx_memzero(&cert, sizeof(ngx_certmate_cert_t));

    rc = ngx_certmate_cert_build(work->pool, &post->http.response, work->key,
                                 NGX_CERTMATE_SOURCE_ACME, &cert, &problem);

    if (rc != NGX_OK) {
        ngx_str_null(&work->state.order);
        ngx_str_null(&work->state.order_key);

        if (rc == NGX_DECLINED) {
            ngx_certmate_acme_fail(work, &problem.message, 0);

        } else {
            ngx_certmate_acme_fail(work, NULL, 0);
        }

        return;
    }

    ngx_memcpy(old, work->state.cert_id, NGX_CERTMATE_ID_LEN);
    ngx_memzero(zero, NGX_CERTMATE_ID_LEN);

    ngx_memcpy(work->state.cert_id, cert.id, NGX_CERTMATE_ID_LEN);
    work->state.last_success = ngx_time();
    work->state.failures = 0;
    ngx_str_null(&work->state.order);
    ngx_str_null(&work->state.order_key);
    ngx_str_null(&work->state.error);

    ngx_certmate_acme_renewal(work, &cert);

    work->state.ari_check = work->ca->dir.renewal_info.len ? ngx_time() : 0;

    id.data = ngx_pnalloc(work->pool, NGX_CERTMATE_ID_HEX_LEN);
    if (id.data == NULL) {
        ngx_certmate_acme_fail(work, NULL, 0);
        return;
    }

    id.len = ngx_certmate_id_hex(id.data, cert.id) - id.data;

    if (ngx_certmate_acme_audit(work, &audit, "acme.issued",
                                "certificate %V from \"%V\"", &id,
                                &work->conf->issuer->name)
        != NGX_OK
        || ngx_certmate_store_acme_issued(&work->state, &cert,
                                          ngx_memcmp(old, zero,
                                                     NGX_CERTMATE_ID_LEN)
                                          ? old : NULL,
                                          &audit, ngx_certmate_acme.log)
           != NGX_OK)
    {
        ngx_certmate_acme_fail(work, NULL, 0);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_certmate_acme.log, 0,
                  "certmate acme \"%V\" got certificate %V from \"%V\"",
                  &work->conf->name, &id, &work->conf->issuer->name);

    ngx_certmate_count(acme_orders[NGX_CERTMATE_ACME_SUCCESS]);

    if (work->ca->dir.renewal_info.len
        && ngx_certmate_acme_cert_id(work->pool, &cert.chain, &work->cert_id)
           == NGX_OK)
    {
        ngx_certmate_acme_ari(work);
        return;
    }

    ngx_certmate_acme_done(work);
}


/* RFC 9773: when the CA suggests renewing */

static void
ngx_certmate_acme_ari(ngx_certmate_acme_work_t *work)
{
    u_char     *p;
    ngx_str_t   url, *base;

    base = &work->ca->dir.renewal_info;

    url.len = base->len + 1 + work->cert_id.len;
    url.data = ngx_pnalloc(work->pool, url.len + 1);
    if (url.data == NULL) {
        ngx_certmate_acme_done(work);
        return;
    }

    p = ngx_cpymem(url.data, base->data, base->len);

    if (p[-1] != '/') {
        *p++ = '/';
    }

    p = ngx_cpymem(p, work->cert_id.data, work->cert_id.len);
    url.len = p - url.data;
    *p = '\0';

    if (ngx_certmate_acme_get(&work->post, &url, ngx_certmate_acme_ari_done)
        != NGX_OK)
    {
        ngx_certmate_acme_done(work);
    }
}


static void
ngx_certmate_acme_ari_done(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_work_t *work = post->data;

    time_t                 start, end, now;
    ngx_certmate_http_t   *http;

    http = &post->http;
    now = ngx_time();

    work->state.ari_check = http->retry_after > now
                            ? http->retry_after
                            : now + NGX_CERTMATE_ACME_ARI_CHECK;

    if (http->status == NGX_HTTP_OK
        && ngx_certmate_json_acme_ari(work->pool, &http->response, &start,
                                      &end)
           == NGX_OK)
    {
        /* a time within the window, chosen at random */

        work->state.next = start + (end > start ? ngx_random() % (end - start)
                                                : 0);
        if (work->state.next < now) {
            work->state.next = now;
        }

        ngx_log_error(NGX_LOG_INFO, ngx_certmate_acme.log, 0,
                      "certmate acme \"%V\" renews in %T s as the CA "
                      "suggests", &work->conf->name, work->state.next - now);

    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_certmate_acme.log, 0,
                      "certmate acme \"%V\": no renewal information "
                      "(%ui %V)", &work->conf->name, http->status,
                      &http->error);
    }

    ngx_certmate_acme_save(work);
    ngx_certmate_acme_done(work);
}


/* asks again when the CA says, else sooner than later at first */

static void
ngx_certmate_acme_poll(ngx_certmate_acme_work_t *work,
    ngx_certmate_acme_handler_pt handler, time_t retry_after)
{
    time_t      now;
    ngx_str_t   error;
    ngx_msec_t  delay;

    if (++work->polls > NGX_CERTMATE_ACME_POLLS) {
        ngx_str_set(&error, "the CA did not finish in time");
        ngx_certmate_acme_fail(work, &error, 0);
        return;
    }

    /* soon at first: a CA that is quick is not kept waiting for */

    now = ngx_time();
    delay = ngx_min((ngx_msec_t) NGX_CERTMATE_ACME_POLL_FIRST
                    << ngx_min(work->polls - 1, 6),
                    NGX_CERTMATE_ACME_POLL_MAX);

    if (retry_after > now) {
        delay = (ngx_msec_t) (retry_after - now) * 1000;
    }

    work->poll_at = ngx_current_msec + delay;

    if (work->poll_at == 0) {
        work->poll_at = 1;
    }

    work->poll = handler;
}


static void
ngx_certmate_acme_poll_order(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_work_t *work = post->data;

    if (ngx_certmate_acme_post(post, &work->state.order, NULL,
                               ngx_certmate_acme_order_done)
        != NGX_OK)
    {
        ngx_certmate_acme_fail(work, NULL, 0);
    }
}


static void
ngx_certmate_acme_poll_authz(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_work_t *work = post->data;

    ngx_str_t  *url;

    url = work->authzs.elts;

    if (ngx_certmate_acme_post(post, &url[work->authz], NULL,
                               ngx_certmate_acme_authz_done)
        != NGX_OK)
    {
        ngx_certmate_acme_fail(work, NULL, 0);
    }
}


/* NGX_OK for a 2xx response; else the work has failed */

static ngx_int_t
ngx_certmate_acme_failed(ngx_certmate_acme_work_t *work,
    ngx_certmate_acme_post_t *post, const char *what)
{
    ngx_str_t   error, type;

    if (post->http.status >= 200 && post->http.status < 300) {
        return NGX_OK;
    }

    if (ngx_certmate_acme_problem(work->pool, &post->http, what, &error,
                                  &type)
        != NGX_OK)
    {
        ngx_certmate_acme_fail(work, NULL, 0);
        return NGX_ERROR;
    }

    if (ngx_certmate_acme_is(&type, "urn:ietf:params:acme:error:"
                                    "accountDoesNotExist"))
    {
        /* a new account at the next attempt */

        work->ca->state = NGX_CERTMATE_CA_NONE;
        work->ca->stale = 1;
    }

    ngx_certmate_acme_fail(work, &error, post->http.retry_after);

    return NGX_ERROR;
}


static void
ngx_certmate_acme_fail(ngx_certmate_acme_work_t *work, ngx_str_t *error,
    time_t retry_after)
{
    time_t                 now, delay;
    ngx_str_t              internal;
    ngx_certmate_audit_t   audit;

    now = ngx_time();

    if (error == NULL) {
        ngx_str_set(&internal, "an internal error, the error log says which");
        error = &internal;
    }

    work->state.failures++;
    work->state.error = *error;

    ngx_certmate_count(acme_orders[NGX_CERTMATE_ACME_FAILURE]);

    delay = ngx_certmate_acme_backoff(work->conf->issuer->retry,
                                      work->state.failures);

    work->state.next = ngx_max(now + delay, retry_after);

    ngx_log_error(NGX_LOG_ERR, ngx_certmate_acme.log, 0,
                  "certmate acme \"%V\" failed: %V; attempt %ui, "
                  "next in %T s", &work->conf->name, error,
                  work->state.failures, work->state.next - now);

    if (ngx_certmate_acme_audit(work, &audit, "acme.failed",
                                "%V; attempt %ui", error,
                                work->state.failures)
        == NGX_OK)
    {
        (void) ngx_certmate_store_audit_put(&audit, ngx_certmate_acme.log);
    }

    ngx_certmate_acme_save(work);
    ngx_certmate_acme_done(work);
}


/* an event of the audit log for a name, by the helper */

static ngx_int_t
ngx_certmate_acme_audit(ngx_certmate_acme_work_t *work,
    ngx_certmate_audit_t *audit, const char *type, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    detail[NGX_MAX_ERROR_STR];

    ngx_memzero(audit, sizeof(ngx_certmate_audit_t));

    va_start(args, fmt);
    p = ngx_vslprintf(detail, detail + sizeof(detail), fmt, args);
    va_end(args);

    audit->detail.len = p - detail;
    audit->detail.data = ngx_pnalloc(work->pool, audit->detail.len + 1);
    if (audit->detail.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(audit->detail.data, detail, audit->detail.len);

    audit->time = ngx_time();
    audit->type.data = (u_char *) type;
    audit->type.len = ngx_strlen(type);
    ngx_str_set(&audit->actor, "helper");
    audit->object = work->conf->name;

    return NGX_OK;
}


static void
ngx_certmate_acme_done(ngx_certmate_acme_work_t *work)
{
    if (work->token.len) {
        (void) ngx_certmate_store_token_delete(&work->token,
                                               ngx_certmate_acme.log);
        ngx_str_null(&work->token);
    }

    work->due = work->state.next;

    if (work->state.ari_check && work->state.ari_check < work->due) {
        work->due = work->state.ari_check;
    }

    EVP_PKEY_free(work->key);
    work->key = NULL;

    ngx_destroy_pool(work->pool);
    work->pool = NULL;

    work->busy = 0;
    work->waiting = 0;
    work->poll_at = 0;

    ngx_certmate_acme.busy--;
}


static void
ngx_certmate_acme_save(ngx_certmate_acme_work_t *work)
{
    (void) ngx_certmate_store_acme_put(&work->state, ngx_certmate_acme.log);
}


/* without ARI: at two thirds of the lifetime, a little earlier at random */

static void
ngx_certmate_acme_renewal(ngx_certmate_acme_work_t *work,
    ngx_certmate_cert_t *cert)
{
    time_t  lifetime, before, next;

    lifetime = cert->not_after - cert->not_before;
    before = work->conf->issuer->renew_before;

    if (before && before < lifetime) {
        next = cert->not_after - before;

    } else {
        if (before) {
            ngx_log_error(NGX_LOG_WARN, ngx_certmate_acme.log, 0,
                          "certmate acme \"%V\": \"renew_before=\" is longer "
                          "than the certificate lives, renewing at two "
                          "thirds of its lifetime", &work->conf->name);
        }

        next = cert->not_before + lifetime * 2 / 3;
    }

    if (lifetime >= 20) {
        next -= ngx_random() % (lifetime / 20);
    }

    work->state.next = ngx_max(next, ngx_time());
}


/* RFC 9773: base64url(AKI key id) "." base64url(serial number octets) */

static ngx_int_t
ngx_certmate_acme_cert_id(ngx_pool_t *pool, ngx_str_t *chain, ngx_str_t *id)
{
    int                         len;
    X509                       *x;
    u_char                     *p, *der;
    ngx_int_t                   rc;
    ngx_str_t                   aki, serial;
    ngx_uint_t                  n;
    const ASN1_OCTET_STRING    *keyid;
    ngx_str_t                   ders[NGX_CERTMATE_CHAIN_MAX];

    if (ngx_certmate_cert_split(chain, ders, &n) != NGX_OK) {
        return NGX_ERROR;
    }

    x = ngx_certmate_cert_x509(&ders[0], ngx_certmate_acme.log);
    if (x == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    der = NULL;

    keyid = X509_get0_authority_key_id(x);
    if (keyid == NULL) {
        goto done;
    }

    len = i2d_ASN1_INTEGER((ASN1_INTEGER *) X509_get0_serialNumber(x), &der);

    /* the value octets, after the tag and the short length */

    if (len < 3 || der[1] >= 0x80) {
        goto done;
    }

    if (ngx_certmate_base64url(pool, (u_char *) ASN1_STRING_get0_data(keyid),
                               ASN1_STRING_length(keyid), &aki)
        != NGX_OK
        || ngx_certmate_base64url(pool, der + 2, len - 2, &serial) != NGX_OK)
    {
        goto done;
    }

    id->len = aki.len + 1 + serial.len;
    id->data = ngx_pnalloc(pool, id->len);
    if (id->data == NULL) {
        goto done;
    }

    p = ngx_cpymem(id->data, aki.data, aki.len);
    *p++ = '.';
    ngx_memcpy(p, serial.data, serial.len);

    rc = NGX_OK;

done:

    OPENSSL_free(der);
    X509_free(x);

    return rc;
}


/* the CA: its directory, then our account from the store or a new one */

static void
ngx_certmate_acme_ca_setup(ngx_certmate_acme_ca_t *ca)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_certmate_acme.log);
    if (pool == NULL) {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
        return;
    }

    if (ca->pool) {
        ngx_destroy_pool(ca->pool);
    }

    EVP_PKEY_free(ca->key);

    ca->pool = pool;
    ca->key = NULL;
    ca->state = NGX_CERTMATE_CA_SETUP;
    ca->nonces = 0;

    ngx_memzero(&ca->post, sizeof(ngx_certmate_acme_post_t));
    ca->post.ca = ca;
    ca->post.data = ca;
    ca->post.http.pool = pool;

    if (ngx_certmate_acme_get(&ca->post, &ca->conf->directory,
                              ngx_certmate_acme_directory_done)
        != NGX_OK)
    {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
    }
}


static void
ngx_certmate_acme_directory_done(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_ca_t *ca = post->data;

    ngx_int_t                     rc;
    ngx_str_t                     error, payload, header, eab;
    ngx_certmate_acme_account_t   account;

    if (post->http.status != NGX_HTTP_OK) {
        if (ngx_certmate_acme_problem(ca->pool, &post->http, "directory",
                                      &error, NULL)
            != NGX_OK)
        {
            ngx_certmate_acme_ca_fail(ca, NULL, 0);
            return;
        }

        ngx_certmate_acme_ca_fail(ca, &error, post->http.retry_after);
        return;
    }

    if (ngx_certmate_json_acme_directory(ca->pool, &post->http.response,
                                         &ca->dir)
        != NGX_OK)
    {
        ngx_str_set(&error, "the directory is not an ACME directory");
        ngx_certmate_acme_ca_fail(ca, &error, 0);
        return;
    }

    /* an account this store has with this directory */

    if (ngx_certmate_store_read_begin(ngx_certmate_acme.log) != NGX_OK) {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
        return;
    }

    rc = ngx_certmate_store_account_get(&ca->conf->name, &account,
                                        ngx_certmate_acme.log);

    if (rc == NGX_OK
        && !ca->stale
        && account.directory.len == ca->conf->directory.len
        && ngx_strncmp(account.directory.data, ca->conf->directory.data,
                       account.directory.len)
           == 0
        && ngx_certmate_acme_ca_key(ca, &account.key) == NGX_OK
        && ngx_certmate_acme_dup(ca->pool, &ca->kid, &account.url) == NGX_OK)
    {
        ngx_certmate_store_read_end();
        ngx_certmate_acme_ca_ready(ca);
        return;
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
        return;
    }

    /* a new account */

    if (ca->dir.eab_required && ca->conf->eab_kid.len == 0) {
        ngx_str_set(&error, "the CA requires external account binding: "
                            "give \"eab_kid=\" and \"eab_hmac_key=\"");
        ngx_certmate_acme_ca_fail(ca, &error, 0);
        return;
    }

    EVP_PKEY_free(ca->key);

    ca->key = ngx_certmate_key_generate(NGX_CERTMATE_KEY_EC_P256,
                                        ngx_certmate_acme.log);

    if (ca->key == NULL
        || ngx_certmate_key_encode(ca->pool, ca->key, &ca->account_key)
           != NGX_OK
        || ngx_certmate_jws_jwk(ca->pool, ca->key, &ca->jwk, &ca->thumbprint)
           != NGX_OK)
    {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
        return;
    }

    /* RFC 8555 7.3.4: the account's JWK, signed with the HMAC key */

    if (ca->conf->eab_kid.len) {
        if (ngx_certmate_json_jws_header(ca->pool, "HS256", NULL,
                                         &ca->dir.new_account,
                                         &ca->conf->eab_kid, NULL, &header)
            != NGX_OK
            || ngx_certmate_jws_sign(ca->pool, NULL, &ca->conf->eab_hmac_key,
                                     &header, &ca->jwk, &eab)
               != NGX_OK)
        {
            ngx_certmate_acme_ca_fail(ca, NULL, 0);
            return;
        }
    }

    if (ngx_certmate_json_acme_account(ca->pool, &ca->conf->contact,
                                       ca->conf->eab_kid.len ? &eab : NULL,
                                       &payload)
        != NGX_OK)
    {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
        return;
    }

    ca->post.jwk = 1;

    if (ngx_certmate_acme_post(&ca->post, &ca->dir.new_account, &payload,
                               ngx_certmate_acme_account_done)
        != NGX_OK)
    {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
    }
}


static ngx_int_t
ngx_certmate_acme_ca_key(ngx_certmate_acme_ca_t *ca, ngx_str_t *der)
{
    ca->key = ngx_certmate_key_decode(NGX_CERTMATE_KEY_EC_P256, der,
                                      ngx_certmate_acme.log);
    if (ca->key == NULL) {
        return NGX_ERROR;
    }

    return ngx_certmate_jws_jwk(ca->pool, ca->key, &ca->jwk, &ca->thumbprint);
}


static void
ngx_certmate_acme_account_done(ngx_certmate_acme_post_t *post)
{
    ngx_certmate_acme_ca_t *ca = post->data;

    ngx_str_t                     error;
    ngx_certmate_acme_account_t   account;

    ca->post.jwk = 0;

    if (post->http.status != NGX_HTTP_OK
        && post->http.status != NGX_HTTP_CREATED)
    {
        if (ngx_certmate_acme_problem(ca->pool, &post->http, "account",
                                      &error, NULL)
            != NGX_OK)
        {
            ngx_certmate_acme_ca_fail(ca, NULL, 0);
            return;
        }

        ngx_certmate_acme_ca_fail(ca, &error, post->http.retry_after);
        return;
    }

    if (post->http.location.len == 0) {
        ngx_str_set(&error, "the CA named no account URL");
        ngx_certmate_acme_ca_fail(ca, &error, 0);
        return;
    }

    ca->kid = post->http.location;
    ca->stale = 0;

    account.issuer = ca->conf->name;
    account.directory = ca->conf->directory;
    account.url = ca->kid;
    account.key = ca->account_key;

    if (ngx_certmate_store_account_put(&account, ngx_certmate_acme.log)
        != NGX_OK)
    {
        ngx_certmate_acme_ca_fail(ca, NULL, 0);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_certmate_acme.log, 0,
                  "certmate acme has the account %V with \"%V\"",
                  &ca->kid, &ca->conf->name);

    ngx_certmate_acme_ca_ready(ca);
}


static void
ngx_certmate_acme_ca_ready(ngx_certmate_acme_ca_t *ca)
{
    ngx_uint_t                 i;
    ngx_certmate_acme_work_t  *work;

    ca->state = NGX_CERTMATE_CA_READY;
    ca->failures = 0;

    work = ngx_certmate_acme.works.elts;

    for (i = 0; i < ngx_certmate_acme.works.nelts; i++) {
        if (!work[i].waiting || work[i].ca != ca) {
            continue;
        }

        work[i].waiting = 0;

        if (work[i].ari_only) {
            ngx_certmate_acme_ari(&work[i]);

        } else {
            ngx_certmate_acme_order(&work[i]);
        }
    }
}


/* the CA cannot be used: every name waiting for it has failed too */

static void
ngx_certmate_acme_ca_fail(ngx_certmate_acme_ca_t *ca, ngx_str_t *error,
    time_t retry_after)
{
    time_t                     now;
    ngx_uint_t                 i;
    ngx_certmate_acme_work_t  *work;

    now = ngx_time();

    ca->state = NGX_CERTMATE_CA_FAILED;
    ca->failures++;
    ca->retry = ngx_max(now + ngx_certmate_acme_backoff(ca->conf->retry,
                                                        ca->failures),
                        retry_after);

    work = ngx_certmate_acme.works.elts;

    for (i = 0; i < ngx_certmate_acme.works.nelts; i++) {
        if (!work[i].waiting || work[i].ca != ca) {
            continue;
        }

        work[i].waiting = 0;

        if (work[i].ari_only) {
            work[i].state.ari_check = ca->retry;
            ngx_certmate_acme_save(&work[i]);
            ngx_certmate_acme_done(&work[i]);

        } else {
            ngx_certmate_acme_fail(&work[i], error, ca->retry);
        }
    }
}


static ngx_int_t
ngx_certmate_acme_get(ngx_certmate_acme_post_t *post, ngx_str_t *url,
    ngx_certmate_acme_handler_pt handler)
{
    ngx_certmate_acme_issuer_t  *issuer;

    issuer = post->ca->conf;

    post->http.method = NGX_HTTP_GET;
    post->http.content_type = NULL;
    post->http.log = ngx_certmate_acme.log;
    post->http.ca_bundle = issuer->ca_bundle;
    post->http.timeout = issuer->timeout;
    post->http.handler = ngx_certmate_acme_post_done;
    post->http.data = post;
    post->handler = handler;
    post->tries = NGX_CERTMATE_ACME_NONCE_TRIES;

    if (ngx_certmate_acme_dup(post->http.pool, &post->url, url) != NGX_OK) {
        return NGX_ERROR;
    }

    post->http.url = post->url;

    return ngx_certmate_http_start(&post->http);
}


/* a JWS POST; without payload a POST-as-GET */

static ngx_int_t
ngx_certmate_acme_post(ngx_certmate_acme_post_t *post, ngx_str_t *url,
    ngx_str_t *payload, ngx_certmate_acme_handler_pt handler)
{
    if (ngx_certmate_acme_dup(post->http.pool, &post->url, url) != NGX_OK) {
        return NGX_ERROR;
    }

    if (payload) {
        post->payload = *payload;

    } else {
        ngx_str_set(&post->payload, "");
    }

    post->handler = handler;
    post->tries = 0;

    return ngx_certmate_acme_send(post);
}


static ngx_int_t
ngx_certmate_acme_send(ngx_certmate_acme_post_t *post)
{
    ngx_str_t                header, nonce, body;
    ngx_certmate_acme_ca_t  *ca;

    ca = post->ca;

    post->http.log = ngx_certmate_acme.log;
    post->http.ca_bundle = ca->conf->ca_bundle;
    post->http.timeout = ca->conf->timeout;
    post->http.data = post;

    if (ca->nonces == 0) {
        post->http.method = NGX_HTTP_HEAD;
        post->http.url = ca->dir.new_nonce;
        post->http.content_type = NULL;
        post->http.handler = ngx_certmate_acme_nonce_done;

        return ngx_certmate_http_start(&post->http);
    }

    ca->nonces--;

    nonce.len = ca->nonce_len[ca->nonces];
    nonce.data = ngx_pnalloc(post->http.pool, nonce.len);
    if (nonce.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(nonce.data, ca->nonce[ca->nonces], nonce.len);

    if (ngx_certmate_json_jws_header(post->http.pool, "ES256", &nonce,
                                     &post->url,
                                     post->jwk ? NULL : &ca->kid, &ca->jwk,
                                     &header)
        != NGX_OK
        || ngx_certmate_jws_sign(post->http.pool, ca->key, NULL, &header,
                                 &post->payload, &body)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    post->http.method = NGX_HTTP_POST;
    post->http.url = post->url;
    post->http.body = body;
    post->http.content_type = "application/jose+json";
    post->http.handler = ngx_certmate_acme_post_done;

    return ngx_certmate_http_start(&post->http);
}


static void
ngx_certmate_acme_nonce_done(ngx_certmate_http_t *http)
{
    ngx_certmate_acme_post_t *post = http->data;

    if (http->nonce.len == 0) {
        if (http->status >= 200 && http->status < 300) {
            http->status = 0;
            ngx_str_set(&http->error, "the CA sent no Replay-Nonce");
        }

        post->handler(post);
        return;
    }

    ngx_certmate_acme_nonce_keep(post->ca, &http->nonce);

    if (ngx_certmate_acme_send(post) != NGX_OK) {
        http->status = 0;
        ngx_str_set(&http->error, "cannot sign the request");
        post->handler(post);
    }
}


static void
ngx_certmate_acme_post_done(ngx_certmate_http_t *http)
{
    ngx_certmate_acme_post_t *post = http->data;

    ngx_certmate_acme_problem_t  problem;

    if (http->nonce.len) {
        ngx_certmate_acme_nonce_keep(post->ca, &http->nonce);
    }

    /* RFC 8555 6.5: a badNonce is retried with the nonce it came with */

    if (http->status == NGX_HTTP_BAD_REQUEST
        && post->tries < NGX_CERTMATE_ACME_NONCE_TRIES)
    {
        ngx_certmate_json_acme_problem(http->pool, &http->response, &problem);

        if (ngx_certmate_acme_is(&problem.type,
                                 "urn:ietf:params:acme:error:badNonce"))
        {
            post->tries++;

            ngx_log_error(NGX_LOG_INFO, ngx_certmate_acme.log, 0,
                          "certmate acme: bad nonce for %V, retrying",
                          &post->url);

            if (ngx_certmate_acme_send(post) == NGX_OK) {
                return;
            }
        }
    }

    post->handler(post);
}


static void
ngx_certmate_acme_nonce_keep(ngx_certmate_acme_ca_t *ca, ngx_str_t *nonce)
{
    ngx_uint_t  i;

    if (nonce->len > NGX_CERTMATE_ACME_NONCE_LEN) {
        return;
    }

    if (ca->nonces == NGX_CERTMATE_ACME_NONCES) {

        /* the oldest goes */

        for (i = 1; i < NGX_CERTMATE_ACME_NONCES; i++) {
            ca->nonce_len[i - 1] = ca->nonce_len[i];
            ngx_memcpy(ca->nonce[i - 1], ca->nonce[i], ca->nonce_len[i]);
        }

        ca->nonces--;
    }

    ngx_memcpy(ca->nonce[ca->nonces], nonce->data, nonce->len);
    ca->nonce_len[ca->nonces++] = nonce->len;
}


/* why a response is not what was asked for, for logs and the API */

static ngx_int_t
ngx_certmate_acme_problem(ngx_pool_t *pool, ngx_certmate_http_t *http,
    const char *what, ngx_str_t *error, ngx_str_t *type)
{
    size_t                       len;
    ngx_str_t                    kind;
    ngx_certmate_acme_problem_t  problem;

    len = 512;

    error->data = ngx_pnalloc(pool, len);
    if (error->data == NULL) {
        return NGX_ERROR;
    }

    if (http->status == 0) {
        error->len = ngx_snprintf(error->data, len, "%s: %V %V", what,
                                  &http->url, &http->error)
                     - error->data;
        if (type) {
            ngx_str_null(type);
        }

        return NGX_OK;
    }

    ngx_certmate_json_acme_problem(pool, &http->response, &problem);

    kind = problem.type;

    if (kind.len > sizeof("urn:ietf:params:acme:error:") - 1
        && ngx_strncmp(kind.data, "urn:ietf:params:acme:error:",
                       sizeof("urn:ietf:params:acme:error:") - 1)
           == 0)
    {
        kind.data += sizeof("urn:ietf:params:acme:error:") - 1;
        kind.len -= sizeof("urn:ietf:params:acme:error:") - 1;
    }

    error->len = ngx_snprintf(error->data, len, "%s: %ui %V%s%V", what,
                              http->status, &kind, kind.len ? ": " : "",
                              &problem.detail)
                 - error->data;

    if (type) {
        *type = problem.type;
    }

    return NGX_OK;
}


/* the retry delay, doubling with each failure up to a day, and jitter */

static time_t
ngx_certmate_acme_backoff(time_t base, ngx_uint_t failures)
{
    time_t      delay;
    ngx_uint_t  i;

    delay = base;

    for (i = 1; i < failures && delay < NGX_CERTMATE_ACME_BACKOFF_MAX; i++) {
        delay *= 2;
    }

    delay = ngx_min(delay, NGX_CERTMATE_ACME_BACKOFF_MAX);

    return delay + ngx_random() % (delay / 10 + 1);
}


static ngx_int_t
ngx_certmate_acme_is(ngx_str_t *value, const char *text)
{
    size_t  len;

    len = ngx_strlen(text);

    return value->len == len && ngx_strncmp(value->data, text, len) == 0;
}


static ngx_int_t
ngx_certmate_acme_dup(ngx_pool_t *pool, ngx_str_t *dst, ngx_str_t *src)
{
    dst->len = src->len;
    dst->data = ngx_pnalloc(pool, src->len + 1);

    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(dst->data, src->data, src->len) = '\0';

    return NGX_OK;
}
