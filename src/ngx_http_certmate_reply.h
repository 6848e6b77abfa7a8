
/*
 * certmate: what the locations of certmate share: the request body in
 * one piece, a reply of bytes, a key made and work done off the event
 * loop, the request's state and its events for the audit log.
 */


#ifndef _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_
#define _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_


#include "ngx_certmate.h"
#include "ngx_certmate_store.h"


#define NGX_HTTP_INSUFFICIENT_STORAGE  507


typedef ngx_int_t (*ngx_http_certmate_key_pt)(ngx_http_request_t *r,
    EVP_PKEY *key, void *data);


/*
 * Work of a request off the event loop: "handler" runs in a thread of
 * the pool, with a pool and a log of its own and the request's data,
 * then "done" in the event loop makes the reply into the request's pool
 * from what the handler left in "data" and "problem".  The work's pool
 * is destroyed after "done".
 */

typedef struct ngx_http_certmate_work_s  ngx_http_certmate_work_t;

typedef ngx_int_t (*ngx_http_certmate_work_pt)(ngx_http_certmate_work_t *work);
typedef ngx_int_t (*ngx_http_certmate_done_pt)(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);

struct ngx_http_certmate_work_s {
    ngx_pool_t                  *pool;
    ngx_log_t                   *log;
    void                        *data;
    ngx_int_t                    rc;        /* what the handler returned */
    ngx_uint_t                   status;    /* of a refusal */
    ngx_certmate_problem_t       problem;   /* why, in "pool" */

    ngx_http_request_t          *request;
    ngx_http_certmate_work_pt    handler;
    ngx_http_certmate_done_pt    done;
    ngx_str_t                    context;   /* for the log: the request's */
    ngx_log_t                    thread_log;
    ngx_event_t                  hold;
#if (NGX_THREADS)
    ngx_thread_task_t           *task;
    ngx_thread_pool_t           *tp;
    ngx_queue_t                  queue;     /* waiting for its turn */
#endif
};


ngx_http_certmate_ctx_t *ngx_http_certmate_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_certmate_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body);
ngx_int_t ngx_http_certmate_skip_body(ngx_http_request_t *r);
ngx_int_t ngx_http_certmate_send(ngx_http_request_t *r, ngx_uint_t status,
    char *type, ngx_str_t *body);
ngx_uint_t ngx_http_certmate_store_refused(ngx_pool_t *pool, ngx_int_t rc,
    ngx_certmate_problem_t *problem);
ngx_int_t ngx_http_certmate_make_key(ngx_http_request_t *r, ngx_uint_t type,
    ngx_http_certmate_key_pt handler, void *data);
ngx_int_t ngx_http_certmate_work(ngx_http_request_t *r,
    ngx_http_certmate_work_pt handler, ngx_http_certmate_done_pt done,
    void *data);
ngx_certmate_audit_t *ngx_http_certmate_audit(ngx_http_request_t *r,
    const char *type, ngx_str_t *object, const char *fmt, ...);
ngx_int_t ngx_http_certmate_audit_detail(ngx_pool_t *pool,
    ngx_certmate_audit_t *audit, const char *fmt, ...);


#endif /* _NGX_HTTP_CERTMATE_REPLY_H_INCLUDED_ */
