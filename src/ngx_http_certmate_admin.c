
/*
 * certmate: the admin JSON API, under the prefix of the location that
 * has "certmate_admin":
 *
 *   GET    /v1/health               store status
 *   GET    /v1/certificates         list, filtered, in pages
 *   POST   /v1/certificates         import a PEM chain and key
 *   GET    /v1/certificates/{id}    one certificate
 *   DELETE /v1/certificates/{id}    delete one
 *   GET    /v1/acme/orders          what certmate_acme does for each name
 *
 * Every request needs a bearer token whose SHA-256 one of the
 * "certmate_admin_token"s has.  Errors are JSON:
 * {"error": "<code>", "message": "<what and why>"}.
 */


#include "ngx_http_certmate_admin.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_json.h"
#include "ngx_certmate_store.h"


#define NGX_HTTP_CERTMATE_LIST_LIMIT      100
#define NGX_HTTP_CERTMATE_LIST_LIMIT_MAX  1000

#define NGX_HTTP_CERTMATE_ALLOW_LEN       sizeof("GET, HEAD, POST, DELETE")

#define NGX_HTTP_UNPROCESSABLE_ENTITY     422
#define NGX_HTTP_INSUFFICIENT_STORAGE     507


typedef ngx_int_t (*ngx_http_certmate_admin_pt)(ngx_http_request_t *r,
    ngx_str_t *arg);


typedef struct {
    ngx_str_t                    path;
    ngx_uint_t                   arg;       /* path ends in "/{id}" */
    ngx_uint_t                   method;
    ngx_http_certmate_admin_pt   handler;
} ngx_http_certmate_admin_route_t;


typedef struct {
    ngx_uint_t                   limit;
    ngx_uint_t                   after;
    u_char                       cursor[NGX_CERTMATE_ID_LEN];
    ngx_str_t                    name;
    ngx_int_t                    source;
    time_t                       expires_before;
} ngx_http_certmate_admin_filter_t;


static ngx_int_t ngx_http_certmate_admin_auth(ngx_http_request_t *r,
    ngx_http_certmate_loc_conf_t *cmlcf, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_health(ngx_http_request_t *r,
    ngx_str_t *arg);
static ngx_int_t ngx_http_certmate_admin_list(ngx_http_request_t *r,
    ngx_str_t *arg);
static ngx_int_t ngx_http_certmate_admin_filter(ngx_http_request_t *r,
    ngx_http_certmate_admin_filter_t *filter,
    ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_arg(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_uint_t ngx_http_certmate_admin_match(ngx_certmate_cert_t *cert,
    ngx_http_certmate_admin_filter_t *filter);
static ngx_int_t ngx_http_certmate_admin_get(ngx_http_request_t *r,
    ngx_str_t *arg);
static ngx_int_t ngx_http_certmate_admin_acme(ngx_http_request_t *r,
    ngx_str_t *arg);
static ngx_int_t ngx_http_certmate_admin_delete(ngx_http_request_t *r,
    ngx_str_t *arg);
static ngx_int_t ngx_http_certmate_admin_import(ngx_http_request_t *r,
    ngx_str_t *arg);
static void ngx_http_certmate_admin_import_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_admin_import_store(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_admin_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_location(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_certmate_admin_unavailable(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_admin_refuse(ngx_http_request_t *r,
    ngx_uint_t status, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *json);


static ngx_http_certmate_admin_route_t  ngx_http_certmate_admin_routes[] = {

    { ngx_string("/v1/health"), 0, NGX_HTTP_GET,
      ngx_http_certmate_admin_health },

    { ngx_string("/v1/certificates"), 0, NGX_HTTP_GET,
      ngx_http_certmate_admin_list },

    { ngx_string("/v1/certificates"), 0, NGX_HTTP_POST,
      ngx_http_certmate_admin_import },

    { ngx_string("/v1/certificates/"), 1, NGX_HTTP_GET,
      ngx_http_certmate_admin_get },

    { ngx_string("/v1/certificates/"), 1, NGX_HTTP_DELETE,
      ngx_http_certmate_admin_delete },

    { ngx_string("/v1/acme/orders"), 0, NGX_HTTP_GET,
      ngx_http_certmate_admin_acme }
};


ngx_int_t
ngx_http_certmate_admin_handler(ngx_http_request_t *r)
{
    u_char                           *p;
    ngx_str_t                         path, arg;
    ngx_uint_t                        i, method, found;
    ngx_table_elt_t                  *h;
    ngx_certmate_problem_t            problem;
    ngx_http_certmate_loc_conf_t     *cmlcf;
    ngx_http_certmate_admin_route_t  *route;
    u_char                            methods[NGX_HTTP_CERTMATE_ALLOW_LEN];

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    if (ngx_http_certmate_admin_auth(r, cmlcf, &problem) != NGX_OK) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer realm=\"certmate\"");

        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                              &problem);
    }

    path.data = r->uri.data + cmlcf->prefix.len;
    path.len = r->uri.len - ngx_min(r->uri.len, cmlcf->prefix.len);

    if (cmlcf->prefix.len && cmlcf->prefix.data[cmlcf->prefix.len - 1] == '/'
        && r->uri.len >= cmlcf->prefix.len)
    {
        path.data--;
        path.len++;
    }

    method = (r->method == NGX_HTTP_HEAD) ? NGX_HTTP_GET : r->method;

    found = 0;
    p = methods;
    ngx_str_null(&arg);

    for (i = 0; i < sizeof(ngx_http_certmate_admin_routes)
                    / sizeof(ngx_http_certmate_admin_route_t); i++)
    {
        route = &ngx_http_certmate_admin_routes[i];

        if (route->arg) {
            if (path.len <= route->path.len
                || ngx_strncmp(path.data, route->path.data, route->path.len)
                   != 0
                || ngx_strlchr(path.data + route->path.len,
                               path.data + path.len, '/'))
            {
                continue;
            }

            arg.data = path.data + route->path.len;
            arg.len = path.len - route->path.len;

        } else if (path.len != route->path.len
                   || ngx_strncmp(path.data, route->path.data, path.len) != 0)
        {
            continue;
        }

        if (route->method == method) {
            return route->handler(r, &arg);
        }

        found = 1;

        p = ngx_slprintf(p, methods + sizeof(methods), "%s%s",
                         p == methods ? "" : ", ",
                         route->method == NGX_HTTP_GET ? "GET, HEAD"
                         : route->method == NGX_HTTP_POST ? "POST"
                         : "DELETE");
    }

    if (!found) {
        ngx_certmate_problem(r->pool, &problem, "not_found",
                             "no such resource \"%V\"", &path);
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_NOT_FOUND, &problem);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.len = p - methods;
    h->value.data = ngx_pnalloc(r->pool, h->value.len);

    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(h->value.data, methods, h->value.len);

    ngx_certmate_problem(r->pool, &problem, "method_not_allowed",
                         "\"%V\" allows %V", &path, &h->value);

    return ngx_http_certmate_admin_refuse(r, NGX_HTTP_NOT_ALLOWED, &problem);
}


/* a bearer token whose SHA-256 is configured; compared in constant time */

static ngx_int_t
ngx_http_certmate_admin_auth(ngx_http_request_t *r,
    ngx_http_certmate_loc_conf_t *cmlcf, ngx_certmate_problem_t *problem)
{
    ngx_str_t                   token;
    ngx_uint_t                  i, match;
    ngx_table_elt_t            *h;
    ngx_http_certmate_token_t  *t;
    u_char                      md[SHA256_DIGEST_LENGTH];

    h = r->headers_in.authorization;

    if (h == NULL
        || h->value.len <= sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           != 0)
    {
        ngx_certmate_problem(r->pool, problem, "unauthorized",
                             "a bearer token is required");
        return NGX_DECLINED;
    }

    token.data = h->value.data + sizeof("Bearer ") - 1;
    token.len = h->value.len - (sizeof("Bearer ") - 1);

    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    SHA256(token.data, token.len, md);

    match = 0;
    t = cmlcf->tokens->elts;

    for (i = 0; i < cmlcf->tokens->nelts; i++) {
        match |= (CRYPTO_memcmp(md, t[i].hash, SHA256_DIGEST_LENGTH) == 0);
    }

    if (match) {
        return NGX_OK;
    }

    ngx_certmate_problem(r->pool, problem, "unauthorized",
                         "the bearer token is not valid here");
    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_certmate_admin_health(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_int_t                    rc;
    ngx_str_t                    json;
    ngx_certmate_store_status_t  status;

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    rc = ngx_certmate_store_status(&status, r->connection->log);

    ngx_certmate_store_read_end();

    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    if (ngx_certmate_json_health(r->pool, &status, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_OK, &json);
}


static ngx_int_t
ngx_http_certmate_admin_list(ngx_http_request_t *r, ngx_str_t *arg)
{
    u_char                            *after;
    ngx_int_t                          rc;
    ngx_str_t                          json, next;
    ngx_uint_t                         n;
    ngx_certmate_cert_t                cert;
    ngx_certmate_json_t               *list;
    ngx_certmate_problem_t             problem;
    ngx_certmate_cert_info_t           info;
    ngx_http_certmate_admin_filter_t   filter;

    rc = ngx_http_certmate_admin_filter(r, &filter, &problem);

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_BAD_REQUEST,
                                              &problem);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    list = ngx_certmate_json_list(r->pool);
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    after = filter.after ? filter.cursor : NULL;
    ngx_str_null(&next);
    n = 0;

    for ( ;; ) {
        rc = ngx_certmate_store_next(after, &cert, r->connection->log);

        if (rc == NGX_DECLINED) {
            rc = NGX_OK;
            break;
        }

        if (rc != NGX_OK) {
            break;
        }

        ngx_memcpy(filter.cursor, cert.id, NGX_CERTMATE_ID_LEN);
        after = filter.cursor;

        if (!ngx_http_certmate_admin_match(&cert, &filter)) {
            continue;
        }

        if (n == filter.limit) {

            /* there is more: the next page starts after the last item */

            next.len = NGX_CERTMATE_ID_HEX_LEN;
            break;
        }

        rc = ngx_certmate_cert_info(r->pool, &cert, &info);
        if (rc != NGX_OK) {
            break;
        }

        if (ngx_certmate_json_list_add(list, &info) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }

        n++;
        next.data = info.id.data;
    }

    ngx_certmate_store_read_end();

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_certmate_json_list_done(r->pool, list, &next, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_OK, &json);
}


static ngx_int_t
ngx_http_certmate_admin_filter(ngx_http_request_t *r,
    ngx_http_certmate_admin_filter_t *filter, ngx_certmate_problem_t *problem)
{
    ngx_int_t  n, rc;
    ngx_str_t  value;

    ngx_memzero(filter, sizeof(ngx_http_certmate_admin_filter_t));

    filter->limit = NGX_HTTP_CERTMATE_LIST_LIMIT;
    filter->source = NGX_ERROR;
    filter->expires_before = NGX_ERROR;

    rc = ngx_http_certmate_admin_arg(r, "limit", &value);

    if (rc == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n < 1 || n > NGX_HTTP_CERTMATE_LIST_LIMIT_MAX) {
            ngx_certmate_problem(r->pool, problem, "invalid_parameter",
                                 "\"limit\" must be a number from 1 to %d",
                                 NGX_HTTP_CERTMATE_LIST_LIMIT_MAX);
            return NGX_DECLINED;
        }

        filter->limit = n;

    } else if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_http_certmate_admin_arg(r, "cursor", &value);

    if (rc == NGX_OK) {
        if (ngx_certmate_id_parse(&value, filter->cursor) != NGX_OK) {
            ngx_certmate_problem(r->pool, problem, "invalid_parameter",
                                 "\"cursor\" must be a \"next_cursor\" of "
                                 "an earlier page");
            return NGX_DECLINED;
        }

        filter->after = 1;

    } else if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_http_certmate_admin_arg(r, "name", &value);

    if (rc == NGX_OK) {
        if (value.len == 0 || value.len > NGX_CERTMATE_NAME_MAX) {
            ngx_certmate_problem(r->pool, problem, "invalid_parameter",
                                 "\"name\" must be a DNS name");
            return NGX_DECLINED;
        }

        filter->name = value;

    } else if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_http_certmate_admin_arg(r, "source", &value);

    if (rc == NGX_OK) {
        filter->source = ngx_certmate_source_parse(&value);

        if (filter->source == NGX_ERROR) {
            ngx_certmate_problem(r->pool, problem, "invalid_parameter",
                                 "\"source\" must be one of import, ca, "
                                 "acme, est");
            return NGX_DECLINED;
        }

    } else if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    rc = ngx_http_certmate_admin_arg(r, "expires_before", &value);

    if (rc == NGX_OK) {
        filter->expires_before = ngx_certmate_time_parse(&value);

        if (filter->expires_before == NGX_ERROR) {
            ngx_certmate_problem(r->pool, problem, "invalid_parameter",
                                 "\"expires_before\" must be an RFC 3339 "
                                 "time such as 2030-01-31T00:00:00Z");
            return NGX_DECLINED;
        }

    } else if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a query argument, unescaped */

static ngx_int_t
ngx_http_certmate_admin_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(r->pool, raw.len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_certmate_admin_match(ngx_certmate_cert_t *cert,
    ngx_http_certmate_admin_filter_t *filter)
{
    if (filter->source != NGX_ERROR
        && cert->source != (ngx_uint_t) filter->source)
    {
        return 0;
    }

    if (filter->expires_before != NGX_ERROR
        && cert->not_after >= filter->expires_before)
    {
        return 0;
    }

    if (filter->name.len && !ngx_certmate_cert_has_name(cert, &filter->name)) {
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_http_certmate_admin_get(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_int_t                  rc;
    ngx_str_t                  json;
    ngx_certmate_cert_t        cert;
    ngx_certmate_problem_t     problem;
    ngx_certmate_cert_info_t   info;

    if (ngx_certmate_id_parse(arg, cert.id) != NGX_OK) {
        goto not_found;
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    rc = ngx_certmate_store_get(cert.id, &cert, r->connection->log);

    if (rc == NGX_OK) {
        rc = ngx_certmate_cert_info(r->pool, &cert, &info);
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_DECLINED) {
        goto not_found;
    }

    if (rc != NGX_OK
        || ngx_certmate_json_certificate(r->pool, &info, &json) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_OK, &json);

not_found:

    ngx_certmate_problem(r->pool, &problem, "not_found",
                         "no certificate \"%V\"", arg);
    return ngx_http_certmate_admin_refuse(r, NGX_HTTP_NOT_FOUND, &problem);
}


static ngx_int_t
ngx_http_certmate_admin_acme(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_int_t                   rc;
    ngx_str_t                   json, next, last, *after;
    ngx_certmate_json_t        *list;
    ngx_certmate_acme_state_t   state;
    u_char                      name[NGX_CERTMATE_NAME_MAX];

    list = ngx_certmate_json_list(r->pool);
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    after = NULL;
    last.data = name;

    for ( ;; ) {
        rc = ngx_certmate_store_acme_next(after, &state, r->connection->log);

        if (rc != NGX_OK) {
            break;
        }

        if (ngx_certmate_json_list_add_acme(list, &state) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }

        last.len = ngx_min(state.name.len, NGX_CERTMATE_NAME_MAX);
        ngx_memcpy(name, state.name.data, last.len);
        after = &last;
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&next);

    if (ngx_certmate_json_list_done(r->pool, list, &next, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_OK, &json);
}


static ngx_int_t
ngx_http_certmate_admin_delete(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_int_t               rc;
    ngx_certmate_problem_t  problem;
    u_char                  id[NGX_CERTMATE_ID_LEN];

    if (ngx_certmate_id_parse(arg, id) != NGX_OK) {
        goto not_found;
    }

    rc = ngx_certmate_store_delete(id, r->connection->log);

    if (rc == NGX_DECLINED) {
        goto not_found;
    }

    if (rc == NGX_CERTMATE_STORE_FULL) {
        ngx_certmate_problem(r->pool, &problem, "store_full",
                             "the store is full; raise \"max_size\" of "
                             "\"certmate_store\"");
        return ngx_http_certmate_admin_refuse(r,
                                              NGX_HTTP_INSUFFICIENT_STORAGE,
                                              &problem);
    }

    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate deleted certificate %V", arg);

    return ngx_http_certmate_admin_send(r, NGX_HTTP_NO_CONTENT, NULL);

not_found:

    ngx_certmate_problem(r->pool, &problem, "not_found",
                         "no certificate \"%V\"", arg);
    return ngx_http_certmate_admin_refuse(r, NGX_HTTP_NOT_FOUND, &problem);
}


static ngx_int_t
ngx_http_certmate_admin_import(ngx_http_request_t *r, ngx_str_t *arg)
{
    ngx_int_t                      rc;
    ngx_str_t                     *type;
    ngx_certmate_problem_t         problem;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL
        || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1)
           != 0
        || (type->len > sizeof("application/json") - 1
            && type->data[sizeof("application/json") - 1] != ';'
            && type->data[sizeof("application/json") - 1] != ' '))
    {
        ngx_certmate_problem(r->pool, &problem, "unsupported_media_type",
                             "the body must be \"application/json\"");
        return ngx_http_certmate_admin_refuse(r,
                                           NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                           &problem);
    }

    if (r->headers_in.content_length_n < 0) {
        ngx_certmate_problem(r->pool, &problem, "length_required",
                             "the body needs a Content-Length");
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_LENGTH_REQUIRED,
                                              &problem);
    }

    if (cmlcf->body_limit
        && r->headers_in.content_length_n > cmlcf->body_limit)
    {
        ngx_certmate_problem(r->pool, &problem, "body_too_large",
                             "the body has %O bytes, "
                             "\"client_max_body_size\" allows %O",
                             r->headers_in.content_length_n,
                             cmlcf->body_limit);
        return ngx_http_certmate_admin_refuse(r,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         &problem);
    }

    rc = ngx_http_read_client_request_body(r,
                                         ngx_http_certmate_admin_import_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_certmate_admin_import_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_certmate_admin_import_store(r));
}


static ngx_int_t
ngx_http_certmate_admin_import_store(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  body, chain, key, json;
    ngx_uint_t                 status, replaced;
    ngx_certmate_cert_t        cert;
    ngx_certmate_problem_t     problem;
    ngx_certmate_cert_info_t   info;

    if (ngx_http_certmate_admin_body(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_certmate_json_import(r->pool, &body, &chain, &key, &problem);

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_BAD_REQUEST,
                                              &problem);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cert, sizeof(ngx_certmate_cert_t));

    rc = ngx_certmate_cert_import(r->pool, &chain, &key, &cert, &problem);

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_refuse(r,
                                              NGX_HTTP_UNPROCESSABLE_ENTITY,
                                              &problem);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_certmate_store_put(&cert, &replaced, r->connection->log);

    if (rc == NGX_CERTMATE_STORE_FULL) {
        ngx_certmate_problem(r->pool, &problem, "store_full",
                             "the store is full; raise \"max_size\" of "
                             "\"certmate_store\"");
        return ngx_http_certmate_admin_refuse(r,
                                              NGX_HTTP_INSUFFICIENT_STORAGE,
                                              &problem);
    }

    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    if (ngx_certmate_cert_info(r->pool, &cert, &info) != NGX_OK
        || ngx_certmate_json_certificate(r->pool, &info, &json) != NGX_OK
        || ngx_http_certmate_admin_location(r, &info.id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate %s certificate %V for \"%s\"",
                  replaced ? "replaced" : "imported", &info.id,
                  cert.names.data);

    status = replaced ? NGX_HTTP_OK : NGX_HTTP_CREATED;

    return ngx_http_certmate_admin_send(r, status, &json);
}


/* the request body in one piece, from memory or the temporary file */

static ngx_int_t
ngx_http_certmate_admin_body(ngx_http_request_t *r, ngx_str_t *body)
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


static ngx_int_t
ngx_http_certmate_admin_location(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                        *p;
    ngx_table_elt_t               *h;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, cmlcf->prefix.len
                                         + sizeof("/v1/certificates/") - 1
                                         + id->len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(h->value.data, cmlcf->prefix.data, cmlcf->prefix.len);

    if (p > h->value.data && p[-1] == '/') {
        p--;
    }

    p = ngx_cpymem(p, "/v1/certificates/", sizeof("/v1/certificates/") - 1);
    p = ngx_cpymem(p, id->data, id->len);

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value.len = p - h->value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_admin_unavailable(ngx_http_request_t *r)
{
    ngx_certmate_problem_t  problem;

    ngx_certmate_problem(r->pool, &problem, "store_unavailable",
                         "the certificate store failed; the error log "
                         "says why");

    return ngx_http_certmate_admin_refuse(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          &problem);
}


static ngx_int_t
ngx_http_certmate_admin_refuse(ngx_http_request_t *r, ngx_uint_t status,
    ngx_certmate_problem_t *problem)
{
    ngx_str_t  json;

    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "certmate admin refused %V: %V",
                      &r->method_name, &problem->message);
    }

    if (ngx_certmate_json_problem(r->pool, problem, &json) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, status, &json);
}


static ngx_int_t
ngx_http_certmate_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *json)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;

    if (status == NGX_HTTP_UNPROCESSABLE_ENTITY) {
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Entity");
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    if (json == NULL) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = json->len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = json->data;
    b->last = json->data + json->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
