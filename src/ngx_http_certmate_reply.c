
/*
 * certmate: the request body in one piece, a reply of bytes, a key made
 * and work done off the event loop, for the admin API, EST, the OCSP
 * responder and the CRL; the request's state.
 */


#include "ngx_http_certmate_reply.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_store.h"

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif


/* the interval of a timer held while a thread works */
#define NGX_HTTP_CERTMATE_HOLD  60000

/*
 * Works of a worker in threads at once: LMDB makes one write at a time
 * anyway, and more threads decoding and signing at once take the
 * worker's CPU from its handshakes, and hand back their replies in
 * bursts, which the handshakes wait behind
 */
#define NGX_HTTP_CERTMATE_WORKS  1


typedef struct {
    ngx_http_request_t         *request;
    ngx_uint_t                  type;
    EVP_PKEY                   *key;
    ngx_http_certmate_key_pt    handler;
    void                       *data;
    ngx_event_t                 hold;
} ngx_http_certmate_key_task_t;


#if (NGX_THREADS)
static void ngx_http_certmate_key_thread(void *data, ngx_log_t *log);
static void ngx_http_certmate_key_done(ngx_event_t *ev);
#endif
static void ngx_http_certmate_key_free(void *data);
#if (NGX_THREADS)
static void ngx_http_certmate_work_thread(void *data, ngx_log_t *log);
static void ngx_http_certmate_work_done(ngx_event_t *ev);
static void ngx_http_certmate_work_finish(ngx_http_certmate_work_t *work);
static void ngx_http_certmate_work_next(void);
#endif
static ngx_int_t ngx_http_certmate_work_end(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static u_char *ngx_http_certmate_work_log(ngx_log_t *log, u_char *buf,
    size_t len);
#if (NGX_THREADS)
static void ngx_http_certmate_hold(ngx_event_t *ev, void *data,
    ngx_log_t *log);
static void ngx_http_certmate_hold_handler(ngx_event_t *ev);
#endif
static ngx_int_t ngx_http_certmate_audit_vdetail(ngx_pool_t *pool,
    ngx_certmate_audit_t *audit, const char *fmt, va_list args);


#if (NGX_THREADS)

/* of "thread_pool"; the module declares it */
static ngx_str_t    ngx_http_certmate_thread_pool = ngx_string("default");

static ngx_uint_t   ngx_http_certmate_working;
static ngx_queue_t  ngx_http_certmate_waiting = {
    &ngx_http_certmate_waiting, &ngx_http_certmate_waiting
};

#endif


/*
 * The request body read, from memory or the temporary file;
 * NGX_DECLINED: it has more than "max" bytes (0: no limit)
 */

ngx_int_t
ngx_http_certmate_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body)
{
    u_char       *p;
    size_t        len, size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    if (max && len > max) {
        body->len = len;
        return NGX_DECLINED;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (b->in_file) {
            size = b->file_last - b->file_pos;

            n = ngx_read_file(b->file, p, size, b->file_pos);
            if (n != (ssize_t) size) {
                return NGX_ERROR;
            }

            p += size;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    body->len = len;

    return NGX_OK;
}


/*
 * Before an answer that needs no body, such as a refusal: a body not
 * read yet is never read.  Without "100 Continue" a client waiting for
 * it sends nothing, and the connection is closed after the answer
 * instead of kept to discard what may be a hundred megabytes from
 * someone without credentials.
 */

ngx_int_t
ngx_http_certmate_skip_body(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return ngx_http_discard_request_body(r);
    }
#endif

    if (r->request_body == NULL
        && (r->headers_in.content_length_n > 0 || r->headers_in.chunked))
    {
        r->expect_tested = 1;
        r->keepalive = 0;
        return NGX_OK;
    }

    return ngx_http_discard_request_body(r);
}


/*
 * A store write refused (NGX_CERTMATE_STORE_FULL) or failed (any other
 * "rc"): the problem, and the status that goes with it
 */

ngx_uint_t
ngx_http_certmate_store_refused(ngx_pool_t *pool, ngx_int_t rc,
    ngx_certmate_problem_t *problem)
{
    if (rc == NGX_CERTMATE_STORE_FULL) {
        ngx_certmate_problem(pool, problem, "store_full",
                             "the store is full; raise \"max_size\" of "
                             "\"certmate_store\"");
        return NGX_HTTP_INSUFFICIENT_STORAGE;
    }

    ngx_certmate_problem(pool, problem, "store_unavailable",
                         "the certificate store failed; the error log "
                         "says why");
    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


/* the status, and the body of that type; no body: the header only */

ngx_int_t
ngx_http_certmate_send(ngx_http_request_t *r, ngx_uint_t status, char *type,
    ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;

    if (body == NULL) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = body->len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_http_certmate_ctx_t *
ngx_http_certmate_ctx(ngx_http_request_t *r)
{
    ngx_http_certmate_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_certmate_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_certmate_module);
    }

    return ctx;
}


/*
 * A new key of "type" for the request, then "handler" with it (NULL if
 * making it failed): EC keys at once, RSA keys, which take up to
 * seconds, in a thread of the "default" pool, so that the worker goes
 * on serving meanwhile.  The key is freed with the request's pool.
 * Returns what the handler returns, or NGX_DONE while a thread works.
 */

ngx_int_t
ngx_http_certmate_make_key(ngx_http_request_t *r, ngx_uint_t type,
    ngx_http_certmate_key_pt handler, void *data)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_certmate_key_task_t  *kt;
#if (NGX_THREADS)
    ngx_thread_task_t             *task;
    ngx_thread_pool_t             *tp;
#endif

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_certmate_key_free;
    cln->data = NULL;

#if (NGX_THREADS)

    task = NULL;
    tp = ngx_thread_pool_get((ngx_cycle_t *) ngx_cycle,
                             &ngx_http_certmate_thread_pool);

    if (tp && ngx_certmate_key_class(type) == NGX_CERTMATE_CLASS_RSA) {
        task = ngx_thread_task_alloc(r->pool,
                                     sizeof(ngx_http_certmate_key_task_t));
        if (task == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        kt = task->ctx;

    } else
#endif
    {
        kt = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_key_task_t));
        if (kt == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    cln->data = kt;

    kt->request = r;
    kt->type = type;
    kt->handler = handler;
    kt->data = data;

#if (NGX_THREADS)

    if (task) {
        task->handler = ngx_http_certmate_key_thread;
        task->event.handler = ngx_http_certmate_key_done;
        task->event.data = kt;

        if (ngx_thread_task_post(tp, task) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->main->blocked++;
        r->main->count++;
        r->aio = 1;

        ngx_http_certmate_hold(&kt->hold, kt, r->connection->log);

        return NGX_DONE;
    }

#endif

    kt->key = ngx_certmate_key_generate(type, r->connection->log);

    return handler(r, kt->key, data);
}


#if (NGX_THREADS)

/* a thread of the pool */

static void
ngx_http_certmate_key_thread(void *data, ngx_log_t *log)
{
    ngx_http_certmate_key_task_t *kt = data;

    kt->key = ngx_certmate_key_generate(kt->type, log);

    ERR_clear_error();
}


static void
ngx_http_certmate_key_done(ngx_event_t *ev)
{
    ngx_http_certmate_key_task_t *kt = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = kt->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (kt->hold.timer_set) {
        ngx_del_timer(&kt->hold);
    }

    r->main->blocked--;
    r->aio = 0;

    ngx_http_finalize_request(r, kt->handler(r, kt->key, kt->data));

    /* a request terminated meanwhile is closed by a posted one */

    ngx_http_run_posted_requests(c);
}

#endif


static void
ngx_http_certmate_key_free(void *data)
{
    ngx_http_certmate_key_task_t *kt = data;

    if (kt) {
        EVP_PKEY_free(kt->key);
    }
}


/*
 * Work that would hold the event loop (JSON and PEM parsing, signing, a
 * write transaction and its fsync) in a thread of the "default" pool,
 * so that the worker goes on serving handshakes meanwhile, one work of
 * the worker at a time, the others waiting their turn; then "done" on
 * the event loop.  Without a pool (nginx built without threads), both
 * at once.  The work may use its pool, its log and what "data" points
 * to, and nothing of the request.  Returns what "done" returns, or
 * NGX_DONE while the work waits or a thread works.
 */

ngx_int_t
ngx_http_certmate_work(ngx_http_request_t *r,
    ngx_http_certmate_work_pt handler, ngx_http_certmate_done_pt done,
    void *data)
{
    u_char                    *p;
    ngx_log_t                 *log;
    ngx_http_certmate_work_t  *work;
#if (NGX_THREADS)
    ngx_thread_task_t         *task;
    ngx_thread_pool_t         *tp;
#endif

    log = r->connection->log;

#if (NGX_THREADS)

    task = NULL;
    tp = ngx_thread_pool_get((ngx_cycle_t *) ngx_cycle,
                             &ngx_http_certmate_thread_pool);

    if (tp) {
        task = ngx_thread_task_alloc(r->pool,
                                     sizeof(ngx_http_certmate_work_t));
        if (task == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        work = task->ctx;

    } else
#endif
    {
        work = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_work_t));
        if (work == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    work->pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (work->pool == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    work->request = r;
    work->handler = handler;
    work->done = done;
    work->data = data;

    /*
     * The work logs to the request's log with what its handler says of
     * the request, said here: the handler reads the request, which a
     * thread must not
     */

    p = ngx_pnalloc(work->pool, NGX_MAX_ERROR_STR);
    if (p == NULL) {
        goto failed;
    }

    work->context.data = p;

    if (log->handler) {
        p = log->handler(log, p, NGX_MAX_ERROR_STR);
    }

    work->context.len = p - work->context.data;

    work->thread_log = *log;
    work->thread_log.handler = ngx_http_certmate_work_log;
    work->thread_log.data = work;
    work->thread_log.action = NULL;

    work->log = &work->thread_log;
    work->pool->log = work->log;

#if (NGX_THREADS)

    if (task) {
        task->handler = ngx_http_certmate_work_thread;
        task->event.handler = ngx_http_certmate_work_done;
        task->event.data = work;

        work->task = task;
        work->tp = tp;

        if (ngx_http_certmate_working < NGX_HTTP_CERTMATE_WORKS) {
            if (ngx_thread_task_post(tp, task) != NGX_OK) {
                goto failed;
            }

            ngx_http_certmate_working++;

        } else {
            ngx_queue_insert_tail(&ngx_http_certmate_waiting, &work->queue);
        }

        r->main->blocked++;
        r->main->count++;
        r->aio = 1;

        ngx_http_certmate_hold(&work->hold, work, log);

        return NGX_DONE;
    }

#endif

    work->rc = handler(work);

    return ngx_http_certmate_work_end(r, work);

failed:

    ngx_destroy_pool(work->pool);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


#if (NGX_THREADS)

/* a thread of the pool; its OpenSSL error queue is its own */

static void
ngx_http_certmate_work_thread(void *data, ngx_log_t *log)
{
    ngx_http_certmate_work_t *work = data;

    work->rc = work->handler(work);

    ERR_clear_error();
}


static void
ngx_http_certmate_work_done(ngx_event_t *ev)
{
    ngx_http_certmate_work_t *work = ev->data;

    ngx_http_certmate_working--;

    ngx_http_certmate_work_finish(work);
    ngx_http_certmate_work_next();
}


static void
ngx_http_certmate_work_finish(ngx_http_certmate_work_t *work)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = work->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (work->hold.timer_set) {
        ngx_del_timer(&work->hold);
    }

    r->main->blocked--;
    r->aio = 0;

    ngx_http_finalize_request(r, ngx_http_certmate_work_end(r, work));

    /* a request terminated meanwhile is closed by a posted one */

    ngx_http_run_posted_requests(c);
}


/* the works waiting for their turn; one the pool refuses fails */

static void
ngx_http_certmate_work_next(void)
{
    ngx_queue_t               *q;
    ngx_http_certmate_work_t  *work;

    while (ngx_http_certmate_working < NGX_HTTP_CERTMATE_WORKS
           && !ngx_queue_empty(&ngx_http_certmate_waiting))
    {
        q = ngx_queue_head(&ngx_http_certmate_waiting);
        ngx_queue_remove(q);

        work = ngx_queue_data(q, ngx_http_certmate_work_t, queue);

        if (ngx_thread_task_post(work->tp, work->task) == NGX_OK) {
            ngx_http_certmate_working++;
            continue;
        }

        work->rc = NGX_ERROR;
        ngx_http_certmate_work_finish(work);
    }
}

#endif


/*
 * The reply, then the work's pool destroyed.  NGX_AGAIN: the store left
 * the write to the event loop, which does the work again here.
 */

static ngx_int_t
ngx_http_certmate_work_end(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_int_t  rc;

    if (work->rc == NGX_AGAIN) {
        work->rc = work->handler(work);
    }

    rc = work->done(r, work);

    ngx_destroy_pool(work->pool);

    return rc;
}


static u_char *
ngx_http_certmate_work_log(ngx_log_t *log, u_char *buf, size_t len)
{
    ngx_http_certmate_work_t *work = log->data;

    return ngx_cpymem(buf, work->context.data,
                      ngx_min(len, work->context.len));
}


#if (NGX_THREADS)

/*
 * A timer that is not cancelable, for as long as a thread works for
 * the request: a worker shutting down waits for it rather than exit
 * with the request, whose connection has no timer of its own meanwhile
 */

static void
ngx_http_certmate_hold(ngx_event_t *ev, void *data, ngx_log_t *log)
{
    ev->handler = ngx_http_certmate_hold_handler;
    ev->data = data;
    ev->log = log;

    ngx_add_timer(ev, NGX_HTTP_CERTMATE_HOLD);
}


static void
ngx_http_certmate_hold_handler(ngx_event_t *ev)
{
    ngx_add_timer(ev, NGX_HTTP_CERTMATE_HOLD);
}

#endif


/*
 * An event of the audit log for what the request does: its actor (the
 * admin token's name, the EST client), its client's address
 */

ngx_certmate_audit_t *
ngx_http_certmate_audit(ngx_http_request_t *r, const char *type,
    ngx_str_t *object, const char *fmt, ...)
{
    va_list                   args;
    ngx_int_t                 rc;
    ngx_certmate_audit_t     *audit;
    ngx_http_certmate_ctx_t  *ctx;

    audit = ngx_pcalloc(r->pool, sizeof(ngx_certmate_audit_t));
    ctx = ngx_http_certmate_ctx(r);

    if (audit == NULL || ctx == NULL) {
        return NULL;
    }

    va_start(args, fmt);
    rc = ngx_http_certmate_audit_vdetail(r->pool, audit, fmt, args);
    va_end(args);

    if (rc != NGX_OK) {
        return NULL;
    }

    audit->time = ngx_time();
    audit->type.data = (u_char *) type;
    audit->type.len = ngx_strlen(type);
    audit->actor = ctx->actor;
    audit->client = r->connection->addr_text;

    if (object) {
        audit->object = *object;
    }

    return audit;
}


/* the detail of an event, for work that knows it only when done */

ngx_int_t
ngx_http_certmate_audit_detail(ngx_pool_t *pool, ngx_certmate_audit_t *audit,
    const char *fmt, ...)
{
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    rc = ngx_http_certmate_audit_vdetail(pool, audit, fmt, args);
    va_end(args);

    return rc;
}


static ngx_int_t
ngx_http_certmate_audit_vdetail(ngx_pool_t *pool, ngx_certmate_audit_t *audit,
    const char *fmt, va_list args)
{
    u_char  *p;
    u_char   detail[NGX_MAX_ERROR_STR];

    p = ngx_vslprintf(detail, detail + sizeof(detail), fmt, args);

    audit->detail.len = p - detail;

    if (audit->detail.len == 0) {
        return NGX_OK;
    }

    audit->detail.data = ngx_pnalloc(pool, audit->detail.len);
    if (audit->detail.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(audit->detail.data, detail, audit->detail.len);

    return NGX_OK;
}
