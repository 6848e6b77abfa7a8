
/*
 * certmate: notifications by webhook ("certmate_notify"), sent by the
 * helper process.
 *
 * What is notified comes from the audit log: revocations, ACME
 * failures, and the "certificate.expiring" events that the helper
 * itself appends when a certificate's expiry crosses a threshold (each
 * threshold once per certificate: the store keeps the last one told).
 * Each webhook gets the events of its kinds in order, one POST of the
 * event's JSON at a time; the store keeps, for each webhook, the last
 * event it answered 2xx to, so that a restart neither repeats nor skips
 * one.  A failure is retried after 1 s, then twice as long each time,
 * up to 5 minutes.
 */


#include "ngx_certmate_notify.h"
#include "ngx_certmate_http.h"
#include "ngx_certmate_json.h"
#include "ngx_certmate_store.h"


#define NGX_CERTMATE_NOTIFY_SCAN        3600        /* s, expiry thresholds */
#define NGX_CERTMATE_NOTIFY_BATCH       1000        /* events read a tick */
#define NGX_CERTMATE_NOTIFY_TIMEOUT     10000       /* ms */
#define NGX_CERTMATE_NOTIFY_RETRY_MAX   300         /* s */


/* a certificate that crossed a threshold, and the event that tells it */

typedef struct {
    ngx_certmate_audit_t     audit;
    ngx_uint_t               days;
    u_char                   id[NGX_CERTMATE_ID_LEN];
} ngx_certmate_notify_due_t;


/* a webhook, in the helper */

typedef struct {
    ngx_certmate_notify_t   *conf;
    ngx_certmate_http_t      http;
    ngx_uint_t               busy;
    ngx_uint_t               loaded;
    uint64_t                 done;          /* the last event answered */
    uint64_t                 sending;
    ngx_uint_t               failures;
    time_t                   next;
} ngx_certmate_notify_hook_t;


static ngx_int_t ngx_certmate_notify_expiry(
    ngx_http_certmate_main_conf_t *cmmcf, ngx_log_t *log);
static ngx_uint_t ngx_certmate_notify_threshold(
    ngx_http_certmate_main_conf_t *cmmcf, time_t left);
static void ngx_certmate_notify_send(ngx_certmate_notify_hook_t *hook,
    ngx_log_t *log);
static ngx_uint_t ngx_certmate_notify_wants(ngx_certmate_notify_hook_t *hook,
    ngx_str_t *type);
static void ngx_certmate_notify_done(ngx_certmate_http_t *http);


static ngx_certmate_notify_hook_t  *ngx_certmate_notify_hooks;
static time_t                       ngx_certmate_notify_scan_at;


/* "webhook=URL [events=expiry,renewal,revocation] [expiry=30d,14d,...]" */

char *
ngx_certmate_notify_parse(ngx_conf_t *cf, ngx_certmate_notify_t *nt)
{
    u_char      *p, *last, *comma;
    time_t       t;
    ngx_str_t   *value, v, item;
    ngx_uint_t   i, j, *days, n;
    u_char       md[SHA256_DIGEST_LENGTH];

    value = cf->args->elts;

    nt->events = NGX_CERTMATE_NOTIFY_EXPIRY | NGX_CERTMATE_NOTIFY_RENEWAL
                 | NGX_CERTMATE_NOTIFY_REVOCATION;

    for (i = 1; i < cf->args->nelts; i++) {

        v.data = (u_char *) ngx_strchr(value[i].data, '=');
        if (v.data == NULL) {
            goto invalid;
        }

        v.data++;
        v.len = value[i].data + value[i].len - v.data;

        if (ngx_strncmp(value[i].data, "webhook=", 8) == 0) {

            if (ngx_strncmp(v.data, "https://", 8) != 0
                && ngx_strncmp(v.data, "http://", 7) != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"webhook=\" needs an http or https URL, "
                                   "not \"%V\"", &v);
                return NGX_CONF_ERROR;
            }

            nt->url = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "events=", 7) != 0
            && ngx_strncmp(value[i].data, "expiry=", 7) != 0)
        {
            goto invalid;
        }

        if (value[i].data[1] == 'v') {
            nt->events = 0;

        } else {
            nt->expiry = ngx_array_create(cf->pool, 4, sizeof(ngx_uint_t));
            if (nt->expiry == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        for (p = v.data, last = v.data + v.len; p < last; p = comma + 1) {
            comma = ngx_strlchr(p, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            item.data = p;
            item.len = comma - p;

            if (value[i].data[1] == 'x') {
                t = ngx_parse_time(&item, 1);

                if (t == (time_t) NGX_ERROR || t < 86400 || t % 86400) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid threshold \"%V\" of "
                                       "\"expiry=\", expected whole days "
                                       "such as 30d", &item);
                    return NGX_CONF_ERROR;
                }

                days = ngx_array_push(nt->expiry);
                if (days == NULL) {
                    return NGX_CONF_ERROR;
                }

                *days = t / 86400;
                continue;
            }

            if (item.len == 6 && ngx_strncmp(item.data, "expiry", 6) == 0) {
                nt->events |= NGX_CERTMATE_NOTIFY_EXPIRY;

            } else if (item.len == 7
                       && ngx_strncmp(item.data, "renewal", 7) == 0)
            {
                nt->events |= NGX_CERTMATE_NOTIFY_RENEWAL;

            } else if (item.len == 10
                       && ngx_strncmp(item.data, "revocation", 10) == 0)
            {
                nt->events |= NGX_CERTMATE_NOTIFY_REVOCATION;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid event \"%V\", expected "
                                   "\"expiry\", \"renewal\" or "
                                   "\"revocation\"", &item);
                return NGX_CONF_ERROR;
            }
        }
    }

    if (nt->url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"certmate_notify\" needs \"webhook=\"");
        return NGX_CONF_ERROR;
    }

    if (nt->expiry == NULL) {
        nt->expiry = ngx_array_create(cf->pool, 4, sizeof(ngx_uint_t));
        days = nt->expiry ? ngx_array_push_n(nt->expiry, 4) : NULL;

        if (days == NULL) {
            return NGX_CONF_ERROR;
        }

        days[0] = 30;
        days[1] = 14;
        days[2] = 7;
        days[3] = 1;
    }

    /* the thresholds in descending order */

    days = nt->expiry->elts;
    n = nt->expiry->nelts;

    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && days[j - 1] < days[j]; j--) {
            t = days[j];
            days[j] = days[j - 1];
            days[j - 1] = t;
        }
    }

    /* the store knows each webhook by the SHA-256 of its URL */

    SHA256(nt->url.data, nt->url.len, md);
    p = ngx_cpymem(nt->cursor, "notified ", sizeof("notified ") - 1);
    p = ngx_hex_dump(p, md, 16);
    *p = '\0';

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* helper process only */

ngx_msec_t
ngx_certmate_notify_tick(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log)
{
    time_t                       now;
    ngx_uint_t                   i;
    ngx_msec_t                   wait;
    ngx_certmate_notify_t       *nt;
    ngx_certmate_notify_hook_t  *hook;

    if (cmmcf->notifies.nelts == 0) {
        return NGX_TIMER_INFINITE;
    }

    nt = cmmcf->notifies.elts;

    if (ngx_certmate_notify_hooks == NULL) {
        ngx_certmate_notify_hooks = ngx_pcalloc(ngx_cycle->pool,
                                        cmmcf->notifies.nelts
                                        * sizeof(ngx_certmate_notify_hook_t));
        if (ngx_certmate_notify_hooks == NULL) {
            return 1000;
        }

        for (i = 0; i < cmmcf->notifies.nelts; i++) {
            ngx_certmate_notify_hooks[i].conf = &nt[i];
        }
    }

    now = ngx_time();

    if (now >= ngx_certmate_notify_scan_at
        && ngx_certmate_notify_expiry(cmmcf, log) == NGX_OK)
    {
        ngx_certmate_notify_scan_at = now + NGX_CERTMATE_NOTIFY_SCAN;
    }

    wait = ngx_certmate_http_run(log);

    for (i = 0; i < cmmcf->notifies.nelts; i++) {
        hook = &ngx_certmate_notify_hooks[i];

        if (!hook->busy && now >= hook->next) {
            ngx_certmate_notify_send(hook, log);
        }
    }

    wait = ngx_min(wait, ngx_certmate_http_run(log));

    return ngx_min(wait, 1000);
}


/*
 * Every certificate whose expiry crossed a threshold it was not told
 * of gets a "certificate.expiring" event for the smallest one crossed
 */

static ngx_int_t
ngx_certmate_notify_expiry(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_log_t *log)
{
    u_char                *after;
    time_t                 now;
    ngx_int_t              rc;
    ngx_str_t              id, name;
    ngx_uint_t                  i, told, days;
    ngx_array_t                 due;
    ngx_pool_t                 *pool;
    ngx_certmate_cert_t         cert;
    ngx_certmate_audit_t       *audit;
    ngx_certmate_notify_due_t  *d;
    u_char                      last[NGX_CERTMATE_ID_LEN];

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&due, pool, 16, sizeof(ngx_certmate_notify_due_t))
        != NGX_OK
        || ngx_certmate_store_read_begin(log) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    now = ngx_time();
    after = NULL;

    for ( ;; ) {
        rc = ngx_certmate_store_next(after, &cert, log);
        if (rc != NGX_OK) {
            break;
        }

        ngx_memcpy(last, cert.id, NGX_CERTMATE_ID_LEN);
        after = last;

        days = ngx_certmate_notify_threshold(cmmcf, cert.not_after - now);

        if (cert.revoked || cert.not_after < now || days == 0) {
            continue;
        }

        rc = ngx_certmate_store_expiry_get(cert.id, &told, log);

        if (rc == NGX_ERROR) {
            break;
        }

        if (rc == NGX_OK && told <= days) {
            continue;
        }

        d = ngx_array_push(&due);
        if (d == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memzero(d, sizeof(ngx_certmate_notify_due_t));
        ngx_memcpy(d->id, cert.id, NGX_CERTMATE_ID_LEN);
        d->days = days;
        audit = &d->audit;

        id.data = ngx_pnalloc(pool, NGX_CERTMATE_ID_HEX_LEN);
        name.data = cert.names.data;
        name.len = ngx_strlen(cert.names.data);
        name.data = ngx_pstrdup(pool, &name);
        audit->detail.data = ngx_pnalloc(pool, NGX_MAX_ERROR_STR);

        if (id.data == NULL || name.data == NULL
            || audit->detail.data == NULL)
        {
            rc = NGX_ERROR;
            break;
        }

        id.len = ngx_certmate_id_hex(id.data, cert.id) - id.data;

        audit->time = now;
        ngx_str_set(&audit->type, "certificate.expiring");
        ngx_str_set(&audit->actor, "helper");
        audit->object = id;
        audit->detail.len = ngx_snprintf(audit->detail.data,
                                         NGX_MAX_ERROR_STR,
                                         "\"%V\" expires in %T days, at "
                                         "%T; threshold %ui days", &name,
                                         (cert.not_after - now) / 86400,
                                         cert.not_after, days)
                            - audit->detail.data;

        if (due.nelts == NGX_CERTMATE_NOTIFY_BATCH) {
            break;
        }
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    d = due.elts;

    for (i = 0; i < due.nelts; i++) {
        if (ngx_certmate_store_expiry_put(d[i].id, d[i].days, &d[i].audit,
                                          log)
            == NGX_ERROR)
        {
            break;
        }

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "certmate: certificate %V: %V", &d[i].audit.object,
                      &d[i].audit.detail);
    }

    ngx_destroy_pool(pool);

    return (i == due.nelts && due.nelts < NGX_CERTMATE_NOTIFY_BATCH)
           ? NGX_OK : NGX_AGAIN;
}


/* the smallest threshold of any webhook that "left" is within; 0: none */

static ngx_uint_t
ngx_certmate_notify_threshold(ngx_http_certmate_main_conf_t *cmmcf,
    time_t left)
{
    ngx_uint_t              i, j, best, *days;
    ngx_certmate_notify_t  *nt;

    best = 0;
    nt = cmmcf->notifies.elts;

    for (i = 0; i < cmmcf->notifies.nelts; i++) {
        if (!(nt[i].events & NGX_CERTMATE_NOTIFY_EXPIRY)) {
            continue;
        }

        days = nt[i].expiry->elts;

        for (j = 0; j < nt[i].expiry->nelts; j++) {
            if (left <= (time_t) days[j] * 86400
                && (best == 0 || days[j] < best))
            {
                best = days[j];
            }
        }
    }

    return best;
}


/* the next event a webhook wants, posted */

static void
ngx_certmate_notify_send(ngx_certmate_notify_hook_t *hook, ngx_log_t *log)
{
    uint64_t               after;
    ngx_int_t              rc;
    ngx_str_t              body;
    ngx_uint_t             i;
    ngx_pool_t            *pool;
    ngx_certmate_audit_t   audit;

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return;
    }

    rc = NGX_OK;

    if (!hook->loaded) {
        rc = ngx_certmate_store_counter((char *) hook->conf->cursor,
                                        &hook->done, log);
        hook->loaded = (rc == NGX_OK);
    }

    after = hook->done;
    pool = NULL;
    ngx_str_null(&body);

    for (i = 0; rc == NGX_OK && i < NGX_CERTMATE_NOTIFY_BATCH; i++) {
        rc = ngx_certmate_store_audit_next(after, &audit, log);
        if (rc != NGX_OK) {
            break;
        }

        after = audit.seq;

        if (!ngx_certmate_notify_wants(hook, &audit.type)) {
            continue;
        }

        pool = ngx_create_pool(4096, log);

        if (pool == NULL
            || ngx_certmate_json_audit_line(pool, &audit, &body) != NGX_OK)
        {
            rc = NGX_ERROR;
        }

        break;
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return;
    }

    if (body.len == 0) {

        /* nothing for this webhook among them: passed over for good */

        if (after != hook->done
            && ngx_certmate_store_counter_set((char *) hook->conf->cursor,
                                              after, log)
               == NGX_OK)
        {
            hook->done = after;
        }

        return;
    }

    ngx_memzero(&hook->http, sizeof(ngx_certmate_http_t));

    hook->http.method = NGX_HTTP_POST;
    hook->http.url = hook->conf->url;
    hook->http.body = body;
    hook->http.content_type = "application/json";
    hook->http.timeout = NGX_CERTMATE_NOTIFY_TIMEOUT;
    hook->http.max_response = 65536;
    hook->http.handler = ngx_certmate_notify_done;
    hook->http.data = hook;
    hook->http.pool = pool;
    hook->http.log = log;

    if (ngx_certmate_http_start(&hook->http) != NGX_OK) {
        ngx_destroy_pool(pool);
        return;
    }

    hook->sending = after;
    hook->busy = 1;
}


static ngx_uint_t
ngx_certmate_notify_wants(ngx_certmate_notify_hook_t *hook, ngx_str_t *type)
{
    ngx_uint_t  kind;

#define ngx_certmate_notify_is(t)                                             \
    (type->len == sizeof(t) - 1 && ngx_strncmp(type->data, t, type->len) == 0)

    kind = ngx_certmate_notify_is("certificate.expiring")
           ? NGX_CERTMATE_NOTIFY_EXPIRY
           : ngx_certmate_notify_is("acme.failed")
           ? NGX_CERTMATE_NOTIFY_RENEWAL
           : (ngx_certmate_notify_is("certificate.revoke")
              || ngx_certmate_notify_is("serial.revoke"))
           ? NGX_CERTMATE_NOTIFY_REVOCATION : 0;

#undef ngx_certmate_notify_is

    return hook->conf->events & kind;
}


static void
ngx_certmate_notify_done(ngx_certmate_http_t *http)
{
    ngx_certmate_notify_hook_t *hook = http->data;

    time_t      delay;
    ngx_uint_t  n;

    hook->busy = 0;

    if (http->status >= 200 && http->status < 300) {
        if (ngx_certmate_store_counter_set((char *) hook->conf->cursor,
                                           hook->sending, http->log)
            == NGX_OK)
        {
            hook->done = hook->sending;
        }

        hook->failures = 0;
        hook->next = 0;

        ngx_log_error(NGX_LOG_INFO, http->log, 0,
                      "certmate notified \"%V\" of event %uL",
                      &hook->conf->url, hook->sending);

    } else {
        hook->failures++;

        for (delay = 1, n = 1; n < hook->failures; n++) {
            delay = ngx_min(delay * 2, NGX_CERTMATE_NOTIFY_RETRY_MAX);
        }

        hook->next = ngx_time() + delay;

        if (http->status) {
            ngx_log_error(NGX_LOG_ERR, http->log, 0,
                          "certmate cannot notify \"%V\" of event %uL: "
                          "status %ui; again in %T s", &hook->conf->url,
                          hook->sending, http->status, delay);

        } else {
            ngx_log_error(NGX_LOG_ERR, http->log, 0,
                          "certmate cannot notify \"%V\" of event %uL: %V; "
                          "again in %T s", &hook->conf->url, hook->sending,
                          &http->error, delay);
        }
    }

    ngx_destroy_pool(http->pool);
}
