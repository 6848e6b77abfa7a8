
/*
 * certmate: HTTP requests of the helper process.
 *
 * Requests run on libcurl's multi interface and never block: the
 * helper's tick calls ngx_certmate_http_run(), which moves every
 * transfer on as far as it can without waiting and calls the handlers
 * of the finished ones.  Every request has a timeout.
 */


#include "ngx_certmate_http.h"

#include <curl/curl.h>


#define NGX_CERTMATE_HTTP_MAX_RESPONSE  (1024 * 1024)
#define NGX_CERTMATE_HTTP_POLL          10


static size_t ngx_certmate_http_header(char *line, size_t size, size_t n,
    void *data);
static ngx_int_t ngx_certmate_http_copy(ngx_certmate_http_t *http,
    ngx_str_t *dst, u_char *p, u_char *last);
static size_t ngx_certmate_http_write(char *p, size_t size, size_t n,
    void *data);
static void ngx_certmate_http_done(ngx_certmate_http_t *http,
    CURLcode result);


static CURLM  *ngx_certmate_http_multi;


/* helper process only */

ngx_int_t
ngx_certmate_http_start(ngx_certmate_http_t *http)
{
    CURL               *easy;
    ngx_uint_t          i;
    struct curl_slist  *headers, *h;
    u_char              line[128];

    if (ngx_certmate_http_multi == NULL) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            ngx_log_error(NGX_LOG_CRIT, http->log, 0,
                          "curl_global_init() failed");
            return NGX_ERROR;
        }

        ngx_certmate_http_multi = curl_multi_init();
        if (ngx_certmate_http_multi == NULL) {
            ngx_log_error(NGX_LOG_CRIT, http->log, 0,
                          "curl_multi_init() failed");
            return NGX_ERROR;
        }
    }

    http->status = 0;
    http->retry_after = 0;
    ngx_str_null(&http->error);
    ngx_str_null(&http->location);
    ngx_str_null(&http->nonce);
    ngx_str_null(&http->type);
    ngx_str_null(&http->response);
    http->size = 0;

    easy = curl_easy_init();
    if (easy == NULL) {
        ngx_log_error(NGX_LOG_CRIT, http->log, 0, "curl_easy_init() failed");
        return NGX_ERROR;
    }

    headers = NULL;

    for (i = 0; i < 3; i++) {
        if (i == 0) {
            ngx_sprintf(line, "Expect:%Z");

        } else if (i == 1 && http->content_type) {
            ngx_sprintf(line, "Content-Type: %s%Z", http->content_type);

        } else if (i == 2 && http->accept) {
            ngx_sprintf(line, "Accept: %s%Z", http->accept);

        } else {
            continue;
        }

        h = curl_slist_append(headers, (char *) line);
        if (h == NULL) {
            curl_slist_free_all(headers);
            curl_easy_cleanup(easy);
            ngx_log_error(NGX_LOG_CRIT, http->log, 0,
                          "curl_slist_append() failed");
            return NGX_ERROR;
        }

        headers = h;
    }

    (void) curl_easy_setopt(easy, CURLOPT_URL, http->url.data);
    (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, http);
    (void) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    (void) curl_easy_setopt(easy, CURLOPT_USERAGENT, "certmate (nginx)");
    (void) curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    (void) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) http->timeout);
    (void) curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                            (long) http->timeout);
    (void) curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    (void) curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION,
                            ngx_certmate_http_header);
    (void) curl_easy_setopt(easy, CURLOPT_HEADERDATA, http);
    (void) curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                            ngx_certmate_http_write);
    (void) curl_easy_setopt(easy, CURLOPT_WRITEDATA, http);

    if (http->ca_bundle.len) {
        (void) curl_easy_setopt(easy, CURLOPT_CAINFO, http->ca_bundle.data);
    }

    if (http->method == NGX_HTTP_POST) {
        (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDS, http->body.data);
        (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                                (long) http->body.len);

    } else if (http->method == NGX_HTTP_HEAD) {
        (void) curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    }

    if (curl_multi_add_handle(ngx_certmate_http_multi, easy) != CURLM_OK) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(easy);
        ngx_log_error(NGX_LOG_CRIT, http->log, 0,
                      "curl_multi_add_handle() failed");
        return NGX_ERROR;
    }

    http->easy = easy;
    http->headers = headers;

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, http->log, 0,
                   "certmate http %s \"%V\"",
                   http->method == NGX_HTTP_POST ? "POST"
                   : http->method == NGX_HTTP_HEAD ? "HEAD" : "GET",
                   &http->url);

    return NGX_OK;
}


/*
 * Moves every transfer on and finishes those that are done; returns
 * when it wants to be called again.  Handlers may start new requests.
 */

ngx_msec_t
ngx_certmate_http_run(ngx_log_t *log)
{
    int                   running, left;
    long                  timeout;
    CURLMsg              *msg;
    ngx_uint_t            done;
    ngx_certmate_http_t  *http;

    if (ngx_certmate_http_multi == NULL) {
        return NGX_TIMER_INFINITE;
    }

    /* again while handlers start new transfers that may finish at once */

    do {
        if (curl_multi_perform(ngx_certmate_http_multi, &running)
            != CURLM_OK)
        {
            ngx_log_error(NGX_LOG_CRIT, log, 0,
                          "curl_multi_perform() failed");
            return NGX_CERTMATE_HTTP_POLL;
        }

        done = 0;

        for ( ;; ) {
            msg = curl_multi_info_read(ngx_certmate_http_multi, &left);

            if (msg == NULL) {
                break;
            }

            if (msg->msg != CURLMSG_DONE) {
                continue;
            }

            (void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
                                     &http);

            ngx_certmate_http_done(http, msg->data.result);
            done++;
        }

    } while (done);

    if (running == 0) {
        return NGX_TIMER_INFINITE;
    }

    if (curl_multi_timeout(ngx_certmate_http_multi, &timeout) != CURLM_OK
        || timeout < 0
        || timeout > NGX_CERTMATE_HTTP_POLL)
    {
        timeout = NGX_CERTMATE_HTTP_POLL;
    }

    return (ngx_msec_t) timeout;
}


static void
ngx_certmate_http_done(ngx_certmate_http_t *http, CURLcode result)
{
    long   status;
    CURL  *easy;

    easy = http->easy;

    if (result == CURLE_OK) {
        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        http->status = status;

    } else if (http->error.len == 0) {
        http->error.data = (u_char *) curl_easy_strerror(result);
        http->error.len = ngx_strlen(http->error.data);
    }

    (void) curl_multi_remove_handle(ngx_certmate_http_multi, easy);
    curl_easy_cleanup(easy);
    curl_slist_free_all(http->headers);

    http->easy = NULL;
    http->headers = NULL;

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, http->log, 0,
                   "certmate http %ui \"%V\" \"%V\"",
                   http->status, &http->url, &http->error);

    http->handler(http);
}


/* the response headers ACME needs */

static size_t
ngx_certmate_http_header(char *line, size_t size, size_t n, void *data)
{
    ngx_certmate_http_t *http = data;

    u_char     *p, *last, *value;
    time_t      t;
    ngx_int_t   seconds;
    ngx_str_t   retry;

    p = (u_char *) line;
    last = p + size * n;

    while (last > p && (last[-1] == CR || last[-1] == LF)) {
        last--;
    }

    value = ngx_strlchr(p, last, ':');
    if (value == NULL) {
        return size * n;
    }

    for (value++; value < last && *value == ' '; value++) {
        /* void */
    }

#define ngx_certmate_http_is(name)                                            \
    ((size_t) (last - p) > sizeof(name) - 1                                   \
     && ngx_strncasecmp(p, (u_char *) name, sizeof(name) - 1) == 0)

    if (ngx_certmate_http_is("location:")) {
        if (ngx_certmate_http_copy(http, &http->location, value, last)
            != NGX_OK)
        {
            return 0;
        }

    } else if (ngx_certmate_http_is("replay-nonce:")) {
        if (ngx_certmate_http_copy(http, &http->nonce, value, last) != NGX_OK) {
            return 0;
        }

    } else if (ngx_certmate_http_is("content-type:")) {
        if (ngx_certmate_http_copy(http, &http->type, value, last) != NGX_OK) {
            return 0;
        }

    } else if (ngx_certmate_http_is("retry-after:")) {
        retry.data = value;
        retry.len = last - value;

        seconds = ngx_atoi(retry.data, retry.len);

        if (seconds != NGX_ERROR) {

            /* whole seconds: rounded up, it is never too early */

            http->retry_after = ngx_time() + seconds + 1;

        } else {
            t = ngx_parse_http_time(retry.data, retry.len);

            if (t != NGX_ERROR) {
                http->retry_after = t;
            }
        }
    }

#undef ngx_certmate_http_is

    return size * n;
}


static ngx_int_t
ngx_certmate_http_copy(ngx_certmate_http_t *http, ngx_str_t *dst, u_char *p,
    u_char *last)
{
    dst->len = last - p;
    dst->data = ngx_pnalloc(http->pool, dst->len + 1);

    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(dst->data, p, dst->len) = '\0';

    return NGX_OK;
}


static size_t
ngx_certmate_http_write(char *p, size_t size, size_t n, void *data)
{
    ngx_certmate_http_t *http = data;

    u_char  *buf;
    size_t   len;

    len = size * n;

    if (http->response.len + len > (http->max_response
                                    ? http->max_response
                                    : NGX_CERTMATE_HTTP_MAX_RESPONSE))
    {
        ngx_str_set(&http->error, "response too large");
        return 0;
    }

    if (http->response.len + len > http->size) {
        http->size = ngx_max(2 * http->size, http->response.len + len + 1);

        buf = ngx_pnalloc(http->pool, http->size);
        if (buf == NULL) {
            return 0;
        }

        ngx_memcpy(buf, http->response.data, http->response.len);
        http->response.data = buf;
    }

    ngx_memcpy(http->response.data + http->response.len, p, len);
    http->response.len += len;
    http->response.data[http->response.len] = '\0';

    return len;
}
