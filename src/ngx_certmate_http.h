
/*
 * certmate: HTTP requests of the helper process, on libcurl's multi
 * interface; the only file that knows libcurl.
 */


#ifndef _NGX_CERTMATE_HTTP_H_INCLUDED_
#define _NGX_CERTMATE_HTTP_H_INCLUDED_


#include "ngx_certmate.h"


typedef struct ngx_certmate_http_s  ngx_certmate_http_t;

typedef void (*ngx_certmate_http_handler_pt)(ngx_certmate_http_t *http);


struct ngx_certmate_http_s {
    /* the request: a GET, a HEAD, or a POST of "body" */
    ngx_uint_t                     method;
    ngx_str_t                      url;
    ngx_str_t                      body;
    const char                    *content_type;
    const char                    *accept;
    ngx_str_t                      ca_bundle;
    ngx_msec_t                     timeout;
    size_t                         max_response;    /* 0: 1 MB */

    ngx_certmate_http_handler_pt   handler;
    void                          *data;
    ngx_pool_t                    *pool;
    ngx_log_t                     *log;

    /* the response: status 0 when there is none, and "error" says why */
    ngx_uint_t                     status;
    ngx_str_t                      error;
    ngx_str_t                      location;
    ngx_str_t                      nonce;
    ngx_str_t                      type;
    time_t                         retry_after;     /* 0: none */
    ngx_str_t                      response;

    void                          *easy;
    void                          *headers;
    size_t                         size;            /* of "response" */
};


ngx_int_t ngx_certmate_http_start(ngx_certmate_http_t *http);
ngx_msec_t ngx_certmate_http_run(ngx_log_t *log);


#endif /* _NGX_CERTMATE_HTTP_H_INCLUDED_ */
