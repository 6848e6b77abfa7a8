
/*
 * certmate: metrics in the Prometheus text format (version 0.0.4), at
 * the location that has "certmate_metrics".
 *
 * Counters that every process adds to (handshakes, client
 * verifications, ACME orders, the helper's last run) live in a shared
 * memory zone made with "certmate_store", which a reload keeps; the
 * rest is read from the store at each scrape, in one read transaction:
 * each certificate's expiry, certificates by status, the age of the
 * foreign CRLs and OCSP answers, each ACME name's state, the store's
 * size.
 */


#include "ngx_http_certmate_metrics.h"
#include "ngx_http_certmate_reply.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_store.h"


#define NGX_HTTP_CERTMATE_METRICS_BUF    65536
#define NGX_HTTP_CERTMATE_METRICS_LINE   4096     /* at most */
#define NGX_HTTP_CERTMATE_METRICS_LABEL  1024     /* a label value, at most */


/* the answer, in buffers of its own */

typedef struct {
    ngx_http_request_t   *request;
    ngx_chain_t          *out;
    ngx_chain_t         **last;
    ngx_buf_t            *buf;
    off_t                 size;
} ngx_http_certmate_metrics_t;


static ngx_int_t ngx_http_certmate_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_certmate_metrics_counters(
    ngx_http_certmate_metrics_t *m);
static ngx_int_t ngx_http_certmate_metrics_store(
    ngx_http_certmate_metrics_t *m);
static ngx_int_t ngx_http_certmate_metrics_certificates(
    ngx_http_certmate_metrics_t *m, time_t now);
static ngx_int_t ngx_http_certmate_metrics_revocation(
    ngx_http_certmate_metrics_t *m, time_t now);
static ngx_int_t ngx_http_certmate_metrics_acme(
    ngx_http_certmate_metrics_t *m);
static ngx_int_t ngx_http_certmate_metrics_head(
    ngx_http_certmate_metrics_t *m, const char *name, const char *type,
    const char *help);
static ngx_int_t ngx_http_certmate_metrics_printf(
    ngx_http_certmate_metrics_t *m, const char *fmt, ...);
static ngx_str_t *ngx_http_certmate_metrics_label(
    ngx_http_certmate_metrics_t *m, ngx_str_t *value);


ngx_certmate_counters_t  *ngx_certmate_counters;


static const char  *ngx_http_certmate_handshake_outcomes[] = {
    "store", "fallback", "default", "unknown_name", "error"
};

static const char  *ngx_http_certmate_verify_results[] = {
    "success", "failed", "none"
};

static const char  *ngx_http_certmate_revocation_outcomes[] = {
    "not_checked", "good", "revoked", "unknown", "stale"
};


/* "certmate_store": the zone of the counters */

ngx_int_t
ngx_http_certmate_metrics_zone(ngx_conf_t *cf)
{
    ngx_str_t        name = ngx_string("certmate_counters");
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                     &ngx_certmate_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_certmate_metrics_init_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        shm_zone->data = data;
        ngx_certmate_counters = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    ngx_certmate_counters = ngx_slab_calloc(shpool,
                                            sizeof(ngx_certmate_counters_t));
    if (ngx_certmate_counters == NULL) {
        return NGX_ERROR;
    }

    shm_zone->data = ngx_certmate_counters;

    return NGX_OK;
}


ngx_int_t
ngx_http_certmate_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_table_elt_t              *h;
    ngx_http_certmate_metrics_t   m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&m, sizeof(ngx_http_certmate_metrics_t));
    m.request = r;
    m.last = &m.out;

    if (ngx_http_certmate_metrics_counters(&m) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_certmate_metrics_store(&m);

    if (rc == NGX_DECLINED) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = m.size;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    m.buf->last_buf = 1;

    return ngx_http_output_filter(r, m.out);
}


/* what the processes counted */

static ngx_int_t
ngx_http_certmate_metrics_counters(ngx_http_certmate_metrics_t *m)
{
    ngx_uint_t                i, j;
    ngx_certmate_counters_t  *c;

    c = ngx_certmate_counters;

    if (ngx_http_certmate_metrics_head(m, "certmate_handshakes_total",
                                       "counter",
                                       "TLS handshakes of servers with "
                                       "certmate_certificate on, by how "
                                       "their certificate was chosen")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_CERTMATE_HANDSHAKES; i++) {
        if (ngx_http_certmate_metrics_printf(m,
                "certmate_handshakes_total{outcome=\"%s\"} %uA\n",
                ngx_http_certmate_handshake_outcomes[i], c->handshakes[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_certmate_metrics_head(m,
            "certmate_client_verifications_total", "counter",
            "Requests to servers with certmate_verify_client, by the "
            "client certificate's verification and revocation status")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_CERTMATE_VERIFY_RESULTS; i++) {
        for (j = 0; j < NGX_CERTMATE_REVOCATIONS; j++) {
            if (ngx_http_certmate_metrics_printf(m,
                    "certmate_client_verifications_total{result=\"%s\","
                    "revocation=\"%s\"} %uA\n",
                    ngx_http_certmate_verify_results[i],
                    ngx_http_certmate_revocation_outcomes[j],
                    c->verifications[i][j])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (ngx_http_certmate_metrics_head(m, "certmate_acme_orders_total",
                                       "counter",
                                       "ACME orders the helper ended, by "
                                       "result")
        != NGX_OK
        || ngx_http_certmate_metrics_printf(m,
               "certmate_acme_orders_total{result=\"success\"} %uA\n"
               "certmate_acme_orders_total{result=\"failure\"} %uA\n",
               c->acme_orders[NGX_CERTMATE_ACME_SUCCESS],
               c->acme_orders[NGX_CERTMATE_ACME_FAILURE])
           != NGX_OK
        || ngx_http_certmate_metrics_head(m,
               "certmate_helper_last_run_timestamp_seconds", "gauge",
               "When the helper process last ran, as a Unix time; 0: not "
               "since nginx started")
           != NGX_OK
        || ngx_http_certmate_metrics_printf(m,
               "certmate_helper_last_run_timestamp_seconds %uA\n",
               c->helper_run)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* what the store holds; NGX_DECLINED: it cannot be read */

static ngx_int_t
ngx_http_certmate_metrics_store(ngx_http_certmate_metrics_t *m)
{
    time_t                        now;
    ngx_int_t                     rc;
    ngx_certmate_store_status_t   st;

    if (ngx_certmate_store_read_begin(m->request->connection->log) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    now = ngx_time();

    rc = ngx_certmate_store_status(&st, m->request->connection->log);

    if (rc == NGX_OK
        && (ngx_http_certmate_metrics_head(m, "certmate_store_size_bytes",
                                           "gauge",
                                           "The store's map: its size "
                                           "(max_size)")
            != NGX_OK
            || ngx_http_certmate_metrics_printf(m,
                   "certmate_store_size_bytes %uz\n", st.map_size)
               != NGX_OK
            || ngx_http_certmate_metrics_head(m, "certmate_store_used_bytes",
                                              "gauge",
                                              "The store's map: the pages "
                                              "in use")
               != NGX_OK
            || ngx_http_certmate_metrics_printf(m,
                   "certmate_store_used_bytes %uz\n", st.map_used)
               != NGX_OK
            || ngx_http_certmate_metrics_head(m, "certmate_store_readers",
                                              "gauge",
                                              "Reader slots of the store "
                                              "in use")
               != NGX_OK
            || ngx_http_certmate_metrics_printf(m,
                   "certmate_store_readers %ui\n", st.readers)
               != NGX_OK))
    {
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_metrics_certificates(m, now);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_metrics_revocation(m, now);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_metrics_acme(m);
    }

    ngx_certmate_store_read_end();

    return rc;
}


/* each certificate's expiry, and how many are in each status */

static ngx_int_t
ngx_http_certmate_metrics_certificates(ngx_http_certmate_metrics_t *m,
    time_t now)
{
    u_char               *after;
    ngx_int_t             rc;
    ngx_str_t             name;
    ngx_uint_t            active, revoked, expired;
    ngx_certmate_cert_t   cert;
    u_char                id[NGX_CERTMATE_ID_HEX_LEN];
    u_char                last[NGX_CERTMATE_ID_LEN];

    if (ngx_http_certmate_metrics_head(m,
            "certmate_certificate_expiry_timestamp_seconds", "gauge",
            "When each stored certificate expires (notAfter), as a Unix "
            "time; name is its first name")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    active = 0;
    revoked = 0;
    expired = 0;
    after = NULL;

    for ( ;; ) {
        rc = ngx_certmate_store_next(after, &cert,
                                     m->request->connection->log);

        if (rc == NGX_DECLINED) {
            break;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        ngx_memcpy(last, cert.id, NGX_CERTMATE_ID_LEN);
        after = last;

        if (cert.revoked) {
            revoked++;

        } else if (cert.not_after < now) {
            expired++;

        } else {
            active++;
        }

        name.data = cert.names.data;
        name.len = ngx_strlen(cert.names.data);

        (void) ngx_certmate_id_hex(id, cert.id);

        if (ngx_http_certmate_metrics_printf(m,
                "certmate_certificate_expiry_timestamp_seconds{id=\"%*s\","
                "name=\"%V\",source=\"%V\",key_type=\"%V\"} %T\n",
                (size_t) NGX_CERTMATE_ID_HEX_LEN, id, &name,
                ngx_certmate_source_name(cert.source),
                ngx_certmate_key_type_name(cert.key_type), cert.not_after)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_certmate_metrics_head(m, "certmate_certificates", "gauge",
                                       "Stored certificates by status")
        != NGX_OK
        || ngx_http_certmate_metrics_printf(m,
               "certmate_certificates{status=\"active\"} %ui\n"
               "certmate_certificates{status=\"revoked\"} %ui\n"
               "certmate_certificates{status=\"expired\"} %ui\n",
               active, revoked, expired)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* how old what the helper fetched of foreign CAs is */

static ngx_int_t
ngx_http_certmate_metrics_revocation(ngx_http_certmate_metrics_t *m,
    time_t now)
{
    ngx_int_t                   rc;
    ngx_str_t                   after, serial, *url;
    ngx_certmate_crl_source_t   src;
    ngx_certmate_ocsp_entry_t   entry;
    u_char                      hash[2 * NGX_CERTMATE_ISSUER_HASH_LEN];
    u_char                      hex[2 * 20];
    u_char                      key[NGX_CERTMATE_ISSUER_HASH_LEN + 20];

    if (ngx_http_certmate_metrics_head(m, "certmate_crl_age_seconds", "gauge",
                                       "Seconds since the helper last "
                                       "fetched each foreign CRL")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_null(&after);

    for ( ;; ) {
        rc = ngx_certmate_store_crl_source_next(after.len ? &after : NULL,
                                                &src,
                                                m->request->connection->log);
        if (rc == NGX_DECLINED) {
            break;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        after.data = ngx_pstrdup(m->request->pool, &src.url);
        if (after.data == NULL) {
            return NGX_ERROR;
        }

        after.len = src.url.len;

        if (!src.fetched) {
            continue;
        }

        url = ngx_http_certmate_metrics_label(m, &src.url);

        if (url == NULL
            || ngx_http_certmate_metrics_printf(m,
                   "certmate_crl_age_seconds{url=\"%V\"} %T\n", url,
                   now - src.fetched)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_certmate_metrics_head(m, "certmate_ocsp_age_seconds",
                                       "gauge",
                                       "Seconds since the helper last got "
                                       "an OCSP answer for each foreign "
                                       "client certificate seen")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_null(&after);

    for ( ;; ) {
        rc = ngx_certmate_store_ocsp_next(after.len ? &after : NULL, &entry,
                                          m->request->connection->log);
        if (rc == NGX_DECLINED) {
            break;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        after.len = ngx_cpymem(ngx_cpymem(key, entry.issuer_hash,
                                          NGX_CERTMATE_ISSUER_HASH_LEN),
                               entry.serial.data,
                               ngx_min(entry.serial.len, 20))
                    - key;
        after.data = key;

        if (!entry.answered) {
            continue;
        }

        serial.data = hex;
        serial.len = ngx_hex_dump(hex, entry.serial.data,
                                  ngx_min(entry.serial.len, 20))
                     - hex;

        (void) ngx_hex_dump(hash, entry.issuer_hash,
                            NGX_CERTMATE_ISSUER_HASH_LEN);

        if (ngx_http_certmate_metrics_printf(m,
                "certmate_ocsp_age_seconds{issuer_hash=\"%*s\","
                "serial=\"%V\"} %T\n", sizeof(hash), hash, &serial,
                now - entry.answer.fetched)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* each name certmate_acme keeps: when it is renewed, how it failed */

static ngx_int_t
ngx_http_certmate_metrics_acme(ngx_http_certmate_metrics_t *m)
{
    ngx_int_t                   rc;
    ngx_str_t                   after, *issuer;
    ngx_array_t                 states;
    ngx_uint_t                  i;
    ngx_certmate_acme_state_t   state, *st;

    if (ngx_array_init(&states, m->request->pool, 16,
                       sizeof(ngx_certmate_acme_state_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_null(&after);

    for ( ;; ) {
        rc = ngx_certmate_store_acme_next(after.len ? &after : NULL, &state,
                                          m->request->connection->log);
        if (rc == NGX_DECLINED) {
            break;
        }

        if (rc != NGX_OK) {
            return rc;
        }

        st = ngx_array_push(&states);
        if (st == NULL) {
            return NGX_ERROR;
        }

        *st = state;
        st->name.data = ngx_pstrdup(m->request->pool, &state.name);
        issuer = ngx_http_certmate_metrics_label(m, &state.issuer);

        if (st->name.data == NULL || issuer == NULL) {
            return NGX_ERROR;
        }

        st->issuer.data = ngx_pstrdup(m->request->pool, issuer);
        st->issuer.len = issuer->len;

        if (st->issuer.data == NULL) {
            return NGX_ERROR;
        }

        after = st->name;
    }

    st = states.elts;

    if (ngx_http_certmate_metrics_head(m,
            "certmate_acme_next_renewal_timestamp_seconds", "gauge",
            "When the helper orders a certificate for each certmate_acme "
            "name next, as a Unix time")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < states.nelts; i++) {
        if (ngx_http_certmate_metrics_printf(m,
                "certmate_acme_next_renewal_timestamp_seconds{name=\"%V\","
                "issuer=\"%V\"} %T\n", &st[i].name, &st[i].issuer,
                st[i].next)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_certmate_metrics_head(m, "certmate_acme_failures", "gauge",
                                       "Failed attempts for each "
                                       "certmate_acme name since its last "
                                       "success")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < states.nelts; i++) {
        if (ngx_http_certmate_metrics_printf(m,
                "certmate_acme_failures{name=\"%V\",issuer=\"%V\"} %ui\n",
                &st[i].name, &st[i].issuer, st[i].failures)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_metrics_head(ngx_http_certmate_metrics_t *m,
    const char *name, const char *type, const char *help)
{
    return ngx_http_certmate_metrics_printf(m, "# HELP %s %s.\n"
                                               "# TYPE %s %s\n",
                                            name, help, name, type);
}


/* a line of the answer, in ngx_sprintf()'s formats */

static ngx_int_t
ngx_http_certmate_metrics_printf(ngx_http_certmate_metrics_t *m,
    const char *fmt, ...)
{
    u_char       *p;
    va_list       args;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = m->buf;

    if (b == NULL
        || (size_t) (b->end - b->last) < NGX_HTTP_CERTMATE_METRICS_LINE)
    {
        b = ngx_create_temp_buf(m->request->pool,
                                NGX_HTTP_CERTMATE_METRICS_BUF);
        cl = ngx_alloc_chain_link(m->request->pool);

        if (b == NULL || cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
        *m->last = cl;
        m->last = &cl->next;
        m->buf = b;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(b->last, b->last + NGX_HTTP_CERTMATE_METRICS_LINE, fmt,
                      args);
    va_end(args);

    m->size += p - b->last;
    b->last = p;

    return NGX_OK;
}


/*
 * A label value as the text format wants it: backslash, double quote
 * and line feed escaped, at most NGX_HTTP_CERTMATE_METRICS_LABEL bytes
 */

static ngx_str_t *
ngx_http_certmate_metrics_label(ngx_http_certmate_metrics_t *m,
    ngx_str_t *value)
{
    u_char     *p;
    size_t      i, n;
    ngx_str_t  *label;

    n = ngx_min(value->len, NGX_HTTP_CERTMATE_METRICS_LABEL);

    for (i = 0; i < n; i++) {
        if (value->data[i] == '\\' || value->data[i] == '"'
            || value->data[i] == '\n')
        {
            break;
        }
    }

    if (i == value->len) {
        return value;
    }

    label = ngx_palloc(m->request->pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(m->request->pool, 2 * n);

    if (label == NULL || p == NULL) {
        return NULL;
    }

    label->data = p;

    for (i = 0; i < n; i++) {
        switch (value->data[i]) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = value->data[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = value->data[i];
        }
    }

    label->len = p - label->data;

    return label;
}
