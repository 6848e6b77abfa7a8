
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
 *   POST   /v1/certificates/issue   issue from the built-in CA
 *   POST   /v1/certificates/{id}/renew
 *   POST   /v1/certificates/{id}/revoke
 *   POST   /v1/serials/{hex}/revoke
 *   GET    /v1/ca                   the built-in CA
 *   POST   /v1/ca/sign              sign a CSR
 *   POST   /v1/est/tokens           a one-time EST enrollment token
 *   GET    /v1/audit                the audit log, filtered, in pages
 *
 * Every request needs a bearer token whose SHA-256 one of the
 * "certmate_admin_token"s has.  Errors are JSON:
 * {"error": "<code>", "message": "<what and why>"}.
 */


#include "ngx_http_certmate_admin.h"
#include "ngx_http_certmate_reply.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_json.h"
#include "ngx_certmate_store.h"


#define NGX_HTTP_CERTMATE_LIST_LIMIT      100
#define NGX_HTTP_CERTMATE_LIST_LIMIT_MAX  1000
#define NGX_HTTP_CERTMATE_EST_TOKEN_LEN   32
#define NGX_HTTP_CERTMATE_EST_TOKEN_LIFE  86400

#define NGX_HTTP_CERTMATE_ALLOW_LEN       sizeof("GET, HEAD, POST, DELETE")

#define NGX_HTTP_CERTMATE_BODY_NONE       0
#define NGX_HTTP_CERTMATE_BODY_JSON       1
#define NGX_HTTP_CERTMATE_BODY_OPTIONAL   2

#define NGX_HTTP_UNPROCESSABLE_ENTITY     422


typedef ngx_int_t (*ngx_http_certmate_admin_pt)(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);


typedef struct {
    ngx_str_t                    path;
    ngx_uint_t                   arg;       /* "{id}" follows the path */
    ngx_str_t                    suffix;    /* and this follows "{id}" */
    ngx_uint_t                   method;
    ngx_uint_t                   body;
    ngx_http_certmate_admin_pt   handler;
} ngx_http_certmate_admin_route_t;


struct ngx_http_certmate_admin_ctx_s {
    ngx_http_certmate_admin_route_t  *route;
    ngx_str_t                         arg;
};


/* an issuance, with a new key of ours or for a CSR */

typedef struct {
    ngx_certmate_ca_request_t         req;
    ngx_certmate_ca_signing_t        *ca;
    ngx_str_t                         csr;      /* the CSR's text */
    u_char                           *old;
    u_char                            id[NGX_CERTMATE_ID_LEN];
    ngx_certmate_ca_issued_t          issued;
} ngx_http_certmate_admin_keyed_t;


/*
 * Another write: what its work needs, made on the event loop, and what
 * the work leaves for the reply, in the work's pool
 */

typedef struct {
    ngx_str_t                         body;
    ngx_str_t                         arg;
    u_char                            id[NGX_CERTMATE_ID_LEN];
    ngx_certmate_audit_t             *audit;
    ngx_certmate_problem_t            problem;
    ngx_certmate_cert_t               cert;
    ngx_uint_t                        replaced;
    ngx_str_t                         serial;
    ngx_uint_t                        reason;
    time_t                            now;
    ngx_array_t                       names;
    ngx_str_t                        *renewed;
    ngx_uint_t                        nrenewed;
    ngx_str_t                         text;
    time_t                            life;
    ngx_certmate_ca_request_t         req;
    ngx_certmate_est_token_t          token;
} ngx_http_certmate_admin_write_t;


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
static ngx_int_t ngx_http_certmate_admin_unauthorized(ngx_http_request_t *r,
    ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_audit_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_unauthorized_done(
    ngx_http_request_t *r, ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_challenge(ngx_http_request_t *r,
    ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_health(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_list(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_filter(ngx_http_request_t *r,
    ngx_http_certmate_admin_filter_t *filter,
    ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_limit(ngx_http_request_t *r,
    ngx_uint_t *limit, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_arg(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static ngx_uint_t ngx_http_certmate_admin_match(ngx_certmate_cert_t *cert,
    ngx_http_certmate_admin_filter_t *filter);
static ngx_int_t ngx_http_certmate_admin_get(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_acme(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_delete(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_delete_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_delete_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_import(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_import_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_import_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_issue(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_sign(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_sign_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_sign_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_renew(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_renew_acme(ngx_http_request_t *r,
    ngx_array_t *names);
static ngx_int_t ngx_http_certmate_admin_renew_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_renew_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_revoke(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_revoke_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_revoke_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_revoke_serial(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_serial_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_reason(ngx_http_request_t *r,
    ngx_str_t *body, ngx_uint_t *reason, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_ca(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_est_token(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_token_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_token_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_audit(ngx_http_request_t *r,
    ngx_str_t *arg, ngx_str_t *body);
static ngx_int_t ngx_http_certmate_admin_keyed(ngx_http_request_t *r,
    ngx_certmate_ca_request_t *req, u_char *old);
static ngx_int_t ngx_http_certmate_admin_keyed_issue(ngx_http_request_t *r,
    EVP_PKEY *key, void *data);
static ngx_int_t ngx_http_certmate_admin_keyed_work(
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_keyed_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_issued(ngx_http_request_t *r,
    ngx_int_t rc, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_bad_body(ngx_http_request_t *r,
    ngx_int_t rc, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_profile(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *validity, ngx_certmate_ca_request_t *req,
    ngx_certmate_problem_t *problem, ngx_uint_t *status);
static ngx_int_t ngx_http_certmate_admin_failed(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_admin_stored(ngx_int_t rc);
static ngx_int_t ngx_http_certmate_admin_cert_reply(ngx_http_request_t *r,
    ngx_uint_t status, ngx_certmate_cert_t *cert);
static ngx_int_t ngx_http_certmate_admin_read(ngx_http_request_t *r,
    ngx_http_certmate_admin_route_t *route, ngx_str_t *arg);
static void ngx_http_certmate_admin_read_done(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_admin_location(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_certmate_admin_unavailable(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_admin_full(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_admin_not_found(ngx_http_request_t *r,
    const char *what, ngx_str_t *arg);
static ngx_int_t ngx_http_certmate_admin_refuse(ngx_http_request_t *r,
    ngx_uint_t status, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *json);


static ngx_http_certmate_admin_route_t  ngx_http_certmate_admin_routes[] = {

    { ngx_string("/v1/health"), 0, ngx_null_string, NGX_HTTP_GET,
      NGX_HTTP_CERTMATE_BODY_NONE, ngx_http_certmate_admin_health },

    { ngx_string("/v1/certificates"), 0, ngx_null_string, NGX_HTTP_GET,
      NGX_HTTP_CERTMATE_BODY_NONE, ngx_http_certmate_admin_list },

    { ngx_string("/v1/certificates"), 0, ngx_null_string, NGX_HTTP_POST,
      NGX_HTTP_CERTMATE_BODY_JSON, ngx_http_certmate_admin_import },

    { ngx_string("/v1/certificates/issue"), 0, ngx_null_string,
      NGX_HTTP_POST, NGX_HTTP_CERTMATE_BODY_JSON,
      ngx_http_certmate_admin_issue },

    { ngx_string("/v1/certificates/"), 1, ngx_null_string, NGX_HTTP_GET,
      NGX_HTTP_CERTMATE_BODY_NONE, ngx_http_certmate_admin_get },

    { ngx_string("/v1/certificates/"), 1, ngx_null_string, NGX_HTTP_DELETE,
      NGX_HTTP_CERTMATE_BODY_NONE, ngx_http_certmate_admin_delete },

    { ngx_string("/v1/certificates/"), 1, ngx_string("/renew"),
      NGX_HTTP_POST, NGX_HTTP_CERTMATE_BODY_NONE,
      ngx_http_certmate_admin_renew },

    { ngx_string("/v1/certificates/"), 1, ngx_string("/revoke"),
      NGX_HTTP_POST, NGX_HTTP_CERTMATE_BODY_OPTIONAL,
      ngx_http_certmate_admin_revoke },

    { ngx_string("/v1/serials/"), 1, ngx_string("/revoke"),
      NGX_HTTP_POST, NGX_HTTP_CERTMATE_BODY_OPTIONAL,
      ngx_http_certmate_admin_revoke_serial },

    { ngx_string("/v1/ca"), 0, ngx_null_string, NGX_HTTP_GET,
      NGX_HTTP_CERTMATE_BODY_NONE, ngx_http_certmate_admin_ca },

    { ngx_string("/v1/ca/sign"), 0, ngx_null_string, NGX_HTTP_POST,
      NGX_HTTP_CERTMATE_BODY_JSON, ngx_http_certmate_admin_sign },

    { ngx_string("/v1/acme/orders"), 0, ngx_null_string, NGX_HTTP_GET,
      NGX_HTTP_CERTMATE_BODY_NONE, ngx_http_certmate_admin_acme },

    { ngx_string("/v1/est/tokens"), 0, ngx_null_string, NGX_HTTP_POST,
      NGX_HTTP_CERTMATE_BODY_JSON, ngx_http_certmate_admin_est_token },

    { ngx_string("/v1/audit"), 0, ngx_null_string, NGX_HTTP_GET,
      NGX_HTTP_CERTMATE_BODY_NONE, ngx_http_certmate_admin_audit }
};


ngx_int_t
ngx_http_certmate_admin_handler(ngx_http_request_t *r)
{
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_str_t                         path, arg;
    ngx_uint_t                        i, method, found;
    ngx_table_elt_t                  *h;
    ngx_certmate_problem_t            problem;
    ngx_http_certmate_loc_conf_t     *cmlcf;
    ngx_http_certmate_admin_route_t  *route;
    u_char                            methods[NGX_HTTP_CERTMATE_ALLOW_LEN];

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    rc = ngx_http_certmate_admin_auth(r, cmlcf, &problem);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_unauthorized(r, &problem);
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
            if (path.len <= route->path.len + route->suffix.len
                || ngx_strncmp(path.data, route->path.data, route->path.len)
                   != 0
                || ngx_strncmp(path.data + path.len - route->suffix.len,
                               route->suffix.data, route->suffix.len)
                   != 0)
            {
                continue;
            }

            arg.data = path.data + route->path.len;
            arg.len = path.len - route->path.len - route->suffix.len;

            if (ngx_strlchr(arg.data, arg.data + arg.len, '/')) {
                continue;
            }

        } else if (path.len != route->path.len
                   || ngx_strncmp(path.data, route->path.data, path.len) != 0)
        {
            continue;
        }

        if (route->method == method) {
            if (route->body == NGX_HTTP_CERTMATE_BODY_NONE) {
                return route->handler(r, &arg, NULL);
            }

            return ngx_http_certmate_admin_read(r, route, &arg);
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
    ngx_uint_t                  i, match, equal, which;
    ngx_table_elt_t            *h;
    ngx_http_certmate_ctx_t    *ctx;
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
    which = 0;
    t = cmlcf->tokens->elts;

    for (i = 0; i < cmlcf->tokens->nelts; i++) {
        equal = (CRYPTO_memcmp(md, t[i].hash, SHA256_DIGEST_LENGTH) == 0);
        match |= equal;
        which = equal ? i : which;
    }

    if (!match) {
        ngx_certmate_problem(r->pool, problem, "unauthorized",
                             "the bearer token is not valid here");
        return NGX_DECLINED;
    }

    /* the actor of the audit log's events: "token NAME" */

    ctx = ngx_http_certmate_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->actor.len = sizeof("token ") - 1 + t[which].name.len;
    ctx->actor.data = ngx_pnalloc(r->pool, ctx->actor.len);
    if (ctx->actor.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->actor.data, "token %V", &t[which].name);

    return NGX_OK;
}


/*
 * A refused credential: the refusal, and an event of the audit log
 * written off the event loop; at most one event a second in each
 * worker, which counts the ones it left out
 */

static ngx_int_t
ngx_http_certmate_admin_unauthorized(ngx_http_request_t *r,
    ngx_certmate_problem_t *problem)
{
    ngx_http_certmate_admin_write_t  *wr;

    static time_t      last;
    static ngx_uint_t  left_out;

    if (ngx_time() == last) {
        left_out++;
        return ngx_http_certmate_admin_challenge(r, problem);
    }

    last = ngx_time();

    wr = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_write_t));
    if (wr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wr->problem = *problem;
    wr->audit = ngx_http_certmate_audit(r, "admin.unauthorized", NULL,
                                        "%V %V: %V; %ui more left out before",
                                        &r->method_name, &r->uri,
                                        &problem->message, left_out);
    if (wr->audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    left_out = 0;

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_audit_work,
                                  ngx_http_certmate_admin_unauthorized_done,
                                  wr);
}


/* a thread of the pool */

static ngx_int_t
ngx_http_certmate_admin_audit_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    /* a store that fails says so in the error log; the refusal stands */

    if (ngx_certmate_store_audit_put(wr->audit, work->log) == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_admin_unauthorized_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    return ngx_http_certmate_admin_challenge(r, &wr->problem);
}


static ngx_int_t
ngx_http_certmate_admin_challenge(ngx_http_request_t *r,
    ngx_certmate_problem_t *problem)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer realm=\"certmate\"");

    return ngx_http_certmate_admin_refuse(r, NGX_HTTP_UNAUTHORIZED, problem);
}


static ngx_int_t
ngx_http_certmate_admin_health(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
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
ngx_http_certmate_admin_list(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
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
    ngx_int_t  rc;
    ngx_str_t  value;

    ngx_memzero(filter, sizeof(ngx_http_certmate_admin_filter_t));

    filter->source = NGX_ERROR;
    filter->expires_before = NGX_ERROR;

    rc = ngx_http_certmate_admin_limit(r, &filter->limit, problem);
    if (rc != NGX_OK) {
        return rc;
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

/* "limit" of a list: 1 to 1000, default 100 */

static ngx_int_t
ngx_http_certmate_admin_limit(ngx_http_request_t *r, ngx_uint_t *limit,
    ngx_certmate_problem_t *problem)
{
    ngx_int_t  n, rc;
    ngx_str_t  value;

    *limit = NGX_HTTP_CERTMATE_LIST_LIMIT;

    rc = ngx_http_certmate_admin_arg(r, "limit", &value);

    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_OK : rc;
    }

    n = ngx_atoi(value.data, value.len);

    if (n < 1 || n > NGX_HTTP_CERTMATE_LIST_LIMIT_MAX) {
        ngx_certmate_problem(r->pool, problem, "invalid_parameter",
                             "\"limit\" must be a number from 1 to %d",
                             NGX_HTTP_CERTMATE_LIST_LIMIT_MAX);
        return NGX_DECLINED;
    }

    *limit = n;

    return NGX_OK;
}


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
ngx_http_certmate_admin_get(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    ngx_int_t                  rc;
    ngx_str_t                  json;
    ngx_certmate_cert_t        cert;
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

    return ngx_http_certmate_admin_not_found(r, "certificate", arg);
}


static ngx_int_t
ngx_http_certmate_admin_acme(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
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
ngx_http_certmate_admin_delete(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    ngx_http_certmate_admin_write_t  *wr;

    wr = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_write_t));
    if (wr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_certmate_id_parse(arg, wr->id) != NGX_OK) {
        return ngx_http_certmate_admin_not_found(r, "certificate", arg);
    }

    wr->arg = *arg;
    wr->audit = ngx_http_certmate_audit(r, "certificate.delete", arg, "");
    if (wr->audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_delete_work,
                                  ngx_http_certmate_admin_delete_done, wr);
}


/* a thread of the pool */

static ngx_int_t
ngx_http_certmate_admin_delete_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    return ngx_http_certmate_admin_stored(
               ngx_certmate_store_delete(wr->id, wr->audit, work->log));
}


static ngx_int_t
ngx_http_certmate_admin_delete_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    if (work->rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_not_found(r, "certificate", &wr->arg);
    }

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_failed(r, work);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate deleted certificate %V", &wr->arg);

    return ngx_http_certmate_admin_send(r, NGX_HTTP_NO_CONTENT, NULL);
}


static ngx_int_t
ngx_http_certmate_admin_import(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    ngx_http_certmate_admin_write_t  *wr;

    wr = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_write_t));
    if (wr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wr->body = *body;
    wr->audit = ngx_http_certmate_audit(r, "certificate.import", NULL, "");
    if (wr->audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_import_work,
                                  ngx_http_certmate_admin_import_done, wr);
}


/* a thread of the pool: the body parsed, its chain and key checked */

static ngx_int_t
ngx_http_certmate_admin_import_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    ngx_int_t                   rc;
    ngx_str_t                   chain, key;
    ngx_certmate_json_field_t   fields[] = {
        { "certificate", NGX_CERTMATE_JSON_STRING, 1, &chain },
        { "private_key", NGX_CERTMATE_JSON_STRING, 1, &key },
        { NULL, 0, 0, NULL }
    };

    rc = ngx_certmate_json_fields(work->pool, &wr->body, fields,
                                  &work->problem);
    if (rc != NGX_OK) {
        work->status = NGX_HTTP_BAD_REQUEST;
        return rc;
    }

    ngx_memzero(&wr->cert, sizeof(ngx_certmate_cert_t));

    rc = ngx_certmate_cert_import(work->pool, &chain, &key, &wr->cert,
                                  &work->problem);
    if (rc != NGX_OK) {
        work->status = NGX_HTTP_UNPROCESSABLE_ENTITY;
        return rc;
    }

    wr->audit->object.data = ngx_pnalloc(work->pool, NGX_CERTMATE_ID_HEX_LEN);
    if (wr->audit->object.data == NULL) {
        return NGX_ERROR;
    }

    wr->audit->object.len = ngx_certmate_id_hex(wr->audit->object.data,
                                                wr->cert.id)
                            - wr->audit->object.data;

    if (ngx_http_certmate_audit_detail(work->pool, wr->audit,
                                       "names from \"%s\", source %V",
                                       wr->cert.names.data,
                                       ngx_certmate_source_name(
                                           wr->cert.source))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_certmate_admin_stored(
               ngx_certmate_store_put(&wr->cert, &wr->replaced, wr->audit,
                                      work->log));
}


static ngx_int_t
ngx_http_certmate_admin_import_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_failed(r, work);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate %s certificate %V for \"%s\"",
                  wr->replaced ? "replaced" : "imported", &wr->audit->object,
                  wr->cert.names.data);

    return ngx_http_certmate_admin_cert_reply(r, wr->replaced
                                                 ? NGX_HTTP_OK
                                                 : NGX_HTTP_CREATED,
                                              &wr->cert);
}


static ngx_int_t
ngx_http_certmate_admin_issue(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    ngx_int_t                   rc, type;
    ngx_str_t                   profile, key, validity;
    ngx_uint_t                  status;
    ngx_array_t                 names;
    ngx_certmate_problem_t      problem;
    ngx_certmate_ca_request_t   req;
    ngx_certmate_json_field_t   fields[] = {
        { "names", NGX_CERTMATE_JSON_STRINGS, 1, &names },
        { "profile", NGX_CERTMATE_JSON_STRING, 0, &profile },
        { "key", NGX_CERTMATE_JSON_STRING, 0, &key },
        { "validity", NGX_CERTMATE_JSON_STRING, 0, &validity },
        { NULL, 0, 0, NULL }
    };

    rc = ngx_certmate_json_fields(r->pool, body, fields, &problem);
    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_bad_body(r, rc, &problem);
    }

    ngx_memzero(&req, sizeof(ngx_certmate_ca_request_t));

    if (key.len) {
        type = ngx_certmate_key_type_parse(&key);

        if (type == NGX_ERROR) {
            ngx_certmate_problem(r->pool, &problem, "invalid_request",
                                 "\"key\" must be one of ec-p256, ec-p384, "
                                 "rsa-2048, rsa-3072, rsa-4096");
            return ngx_http_certmate_admin_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                  &problem);
        }

        req.key_type = type;
    }

    if (ngx_http_certmate_admin_profile(r, &profile, &validity, &req,
                                        &problem, &status)
        != NGX_OK)
    {
        return ngx_http_certmate_admin_refuse(r, status, &problem);
    }

    req.names = names.elts;
    req.nnames = names.nelts;

    return ngx_http_certmate_admin_keyed(r, &req, NULL);
}


static ngx_int_t
ngx_http_certmate_admin_sign(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    ngx_int_t                          rc;
    ngx_str_t                          csr, profile, validity;
    ngx_uint_t                         status;
    ngx_certmate_problem_t             problem;
    ngx_certmate_ca_request_t          req;
    ngx_http_certmate_admin_keyed_t   *kd;
    ngx_certmate_json_field_t          fields[] = {
        { "csr", NGX_CERTMATE_JSON_STRING, 1, &csr },
        { "profile", NGX_CERTMATE_JSON_STRING, 0, &profile },
        { "validity", NGX_CERTMATE_JSON_STRING, 0, &validity },
        { NULL, 0, 0, NULL }
    };

    rc = ngx_certmate_json_fields(r->pool, body, fields, &problem);
    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_bad_body(r, rc, &problem);
    }

    ngx_memzero(&req, sizeof(ngx_certmate_ca_request_t));

    if (ngx_http_certmate_admin_profile(r, &profile, &validity, &req,
                                        &problem, &status)
        != NGX_OK)
    {
        return ngx_http_certmate_admin_refuse(r, status, &problem);
    }

    kd = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_keyed_t));
    if (kd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kd->req = req;
    kd->csr = csr;
    kd->req.audit = ngx_http_certmate_audit(r, "ca.sign", NULL, "");
    if (kd->req.audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_certmate_ca_hold(r->pool, &kd->ca, r->connection->log);
    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_issued(r, rc, &problem);
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_sign_work,
                                  ngx_http_certmate_admin_sign_done, kd);
}


/* a thread of the pool: the CSR verified and checked, then signed */

static ngx_int_t
ngx_http_certmate_admin_sign_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_keyed_t *kd = work->data;

    ngx_int_t  rc;

    rc = ngx_certmate_ca_csr(work->pool, &kd->csr, &kd->req, &work->problem);

    if (rc == NGX_OK) {
        rc = ngx_certmate_ca_check(work->pool, &kd->req, &work->problem);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_certmate_audit_detail(work->pool, kd->req.audit,
                                       "profile \"%V\", first name \"%V\"",
                                       &kd->req.profile->name,
                                       &kd->req.names[0])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_certmate_ca_issue(work->pool, kd->ca, &kd->req, NULL,
                                 &kd->issued, &work->problem, work->log);
}


static ngx_int_t
ngx_http_certmate_admin_sign_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_keyed_t *kd = work->data;

    ngx_str_t                   json;
    ngx_certmate_json_t        *obj;
    ngx_certmate_ca_request_t  *req;
    ngx_certmate_ca_issued_t   *issued;

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_issued(r, work->rc, &work->problem);
    }

    req = &kd->req;
    issued = &kd->issued;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate signed a CSR: certificate %V for \"%V\", "
                  "profile \"%V\"", &issued->serial, &req->names[0],
                  &req->profile->name);

    obj = ngx_certmate_json_object(r->pool);

    if (obj == NULL
        || ngx_certmate_json_set_str(obj, "serial", &issued->serial)
           != NGX_OK
        || ngx_certmate_json_set_strs(obj, "names", req->names, req->nnames)
           != NGX_OK
        || ngx_certmate_json_set_time(obj, "not_before",
                                      issued->cert.not_before)
           != NGX_OK
        || ngx_certmate_json_set_time(obj, "not_after",
                                      issued->cert.not_after)
           != NGX_OK
        || ngx_certmate_json_set_str(obj, "profile", &req->profile->name)
           != NGX_OK
        || ngx_certmate_json_set_str(obj, "certificate", &issued->pem)
           != NGX_OK
        || ngx_certmate_json_set_str(obj, "chain", &issued->chain) != NGX_OK
        || ngx_certmate_json_object_done(r->pool, obj, &json) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_CREATED, &json);
}


/* a new key and certificate of the built-in CA, replacing the old one */

static ngx_int_t
ngx_http_certmate_admin_renew(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    u_char                      *p, *last;
    ngx_int_t                    rc;
    ngx_str_t                   *name;
    ngx_array_t                  names;
    ngx_http_certmate_main_conf_t  *cmmcf;
    ngx_certmate_cert_t          cert;
    ngx_certmate_problem_t       problem;
    ngx_certmate_ca_request_t    req;
    u_char                       id[NGX_CERTMATE_ID_LEN];

    if (ngx_certmate_id_parse(arg, id) != NGX_OK) {
        return ngx_http_certmate_admin_not_found(r, "certificate", arg);
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    ngx_memzero(&req, sizeof(ngx_certmate_ca_request_t));

    rc = ngx_certmate_store_get(id, &cert, r->connection->log);

    if (rc == NGX_OK
        && ngx_array_init(&names, r->pool, 4, sizeof(ngx_str_t)) != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK) {
        p = cert.names.data;
        last = p + cert.names.len;

        while (p < last) {
            name = ngx_array_push(&names);
            if (name == NULL) {
                rc = NGX_ERROR;
                break;
            }

            name->len = ngx_strlen(p);
            name->data = ngx_pnalloc(r->pool, name->len + 1);
            if (name->data == NULL) {
                rc = NGX_ERROR;
                break;
            }

            ngx_memcpy(name->data, p, name->len + 1);
            p += name->len + 1;
        }

        cmmcf = ngx_http_get_module_main_conf(r, ngx_certmate_module);
        req.profile = ngx_certmate_profile_find(cmmcf, &cert.profile);
        req.key_type = cert.key_type;
        req.names = names.elts;
        req.nnames = names.nelts;
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_not_found(r, "certificate", arg);
    }

    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    if (cert.source == NGX_CERTMATE_SOURCE_ACME) {
        return ngx_http_certmate_admin_renew_acme(r, &names);
    }

    if (cert.source != NGX_CERTMATE_SOURCE_CA) {
        ngx_certmate_problem(r->pool, &problem, "not_ca_issued",
                             "certificate \"%V\" is neither from the "
                             "built-in CA nor from ACME; it is not renewed "
                             "here", arg);
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_CONFLICT, &problem);
    }

    if (cert.revoked) {
        ngx_certmate_problem(r->pool, &problem, "already_revoked",
                             "certificate \"%V\" is revoked; issue a new one",
                             arg);
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_CONFLICT, &problem);
    }

    if (req.profile == NULL) {
        ngx_certmate_problem(r->pool, &problem, "unknown_profile",
                             "the certificate's profile is no longer "
                             "configured");
        return ngx_http_certmate_admin_refuse(r,
                                              NGX_HTTP_UNPROCESSABLE_ENTITY,
                                              &problem);
    }

    return ngx_http_certmate_admin_keyed(r, &req, id);
}


/* the helper renews the names of an ACME certificate now */

static ngx_int_t
ngx_http_certmate_admin_renew_acme(ngx_http_request_t *r, ngx_array_t *names)
{
    ngx_http_certmate_admin_write_t  *wr;

    wr = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_write_t));
    if (wr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wr->names = *names;
    wr->audit = ngx_http_certmate_audit(r, "acme.renew", NULL, "");
    if (wr->audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_renew_work,
                                  ngx_http_certmate_admin_renew_done, wr);
}


/* a thread of the pool: the names that ACME keeps are due now */

static ngx_int_t
ngx_http_certmate_admin_renew_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    ngx_int_t   rc;
    ngx_str_t  *name;
    ngx_uint_t  i;

    name = wr->names.elts;

    wr->renewed = ngx_palloc(work->pool, wr->names.nelts * sizeof(ngx_str_t));
    if (wr->renewed == NULL) {
        return NGX_ERROR;
    }

    wr->nrenewed = 0;

    for (i = 0; i < wr->names.nelts; i++) {
        rc = ngx_certmate_store_acme_renew(&name[i], work->log);

        if (rc == NGX_OK) {
            wr->renewed[wr->nrenewed++] = name[i];

        } else if (rc != NGX_DECLINED) {
            return ngx_http_certmate_admin_stored(rc);
        }
    }

    if (wr->nrenewed == 0) {
        ngx_certmate_problem(work->pool, &work->problem, "not_ca_issued",
                             "no \"certmate_acme\" keeps the names of this "
                             "certificate any more");
        work->status = NGX_HTTP_CONFLICT;
        return NGX_DECLINED;
    }

    wr->audit->object = wr->renewed[0];

    if (ngx_http_certmate_audit_detail(work->pool, wr->audit,
                                       "%ui more names", wr->nrenewed - 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_audit_put(wr->audit, work->log);

    return (rc == NGX_AGAIN || rc == NGX_ERROR) ? rc : NGX_OK;
}


static ngx_int_t
ngx_http_certmate_admin_renew_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    ngx_str_t             json, status;
    ngx_certmate_json_t  *obj;

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_failed(r, work);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate asked the helper to renew \"%V\" and %ui more "
                  "names now", &wr->renewed[0], wr->nrenewed - 1);

    ngx_str_set(&status, "renewing");

    obj = ngx_certmate_json_object(r->pool);

    if (obj == NULL
        || ngx_certmate_json_set_strs(obj, "names", wr->renewed,
                                      wr->nrenewed)
           != NGX_OK
        || ngx_certmate_json_set_str(obj, "status", &status) != NGX_OK
        || ngx_certmate_json_object_done(r->pool, obj, &json) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_ACCEPTED, &json);
}


static ngx_int_t
ngx_http_certmate_admin_revoke(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    ngx_int_t                         rc;
    ngx_str_t                         serial;
    ngx_uint_t                        reason, ours;
    ngx_certmate_cert_t               cert;
    ngx_certmate_problem_t            problem;
    ngx_http_certmate_admin_write_t  *wr;
    u_char                            id[NGX_CERTMATE_ID_LEN];

    if (ngx_http_certmate_admin_reason(r, body, &reason, &problem)
        != NGX_OK)
    {
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_BAD_REQUEST,
                                              &problem);
    }

    if (ngx_certmate_id_parse(arg, id) != NGX_OK) {
        return ngx_http_certmate_admin_not_found(r, "certificate", arg);
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    rc = ngx_certmate_store_get(id, &cert, r->connection->log);

    ours = (rc == NGX_OK && (cert.source == NGX_CERTMATE_SOURCE_CA
                             || cert.source == NGX_CERTMATE_SOURCE_EST));

    ngx_str_null(&serial);

    if (ours) {
        rc = ngx_certmate_ca_serial_parse(r->pool, &cert.serial, &serial);
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_not_found(r, "certificate", arg);
    }

    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    if (!ours) {
        ngx_certmate_problem(r->pool, &problem, "not_ca_issued",
                             "certificate \"%V\" is not from the built-in CA, "
                             "which can revoke only its own", arg);
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_CONFLICT, &problem);
    }

    wr = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_write_t));
    if (wr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wr->arg = *arg;
    wr->serial = serial;
    wr->reason = reason;
    wr->now = ngx_time();
    ngx_memcpy(wr->id, id, NGX_CERTMATE_ID_LEN);

    wr->audit = ngx_http_certmate_audit(r, "certificate.revoke", arg,
                                        "reason %V",
                                        ngx_certmate_ca_reason_name(reason));
    if (wr->audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_revoke_work,
                                  ngx_http_certmate_admin_revoke_done, wr);
}


/* a thread of the pool */

static ngx_int_t
ngx_http_certmate_admin_revoke_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    return ngx_http_certmate_admin_stored(
               ngx_certmate_store_revoke(&wr->serial, wr->reason, wr->now,
                                         wr->audit, work->log));
}


static ngx_int_t
ngx_http_certmate_admin_revoke_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    ngx_int_t                rc;
    ngx_certmate_cert_t      cert;
    ngx_certmate_problem_t   problem;

    if (work->rc == NGX_BUSY || work->rc == NGX_DECLINED) {
        ngx_certmate_problem(r->pool, &problem, "already_revoked",
                             "certificate \"%V\" is revoked already",
                             &wr->arg);
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_CONFLICT, &problem);
    }

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_failed(r, work);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate revoked certificate %V, %V", &wr->arg,
                  ngx_certmate_ca_reason_name(wr->reason));

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return ngx_http_certmate_admin_unavailable(r);
    }

    rc = ngx_certmate_store_get(wr->id, &cert, r->connection->log);

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_admin_cert_reply(r, NGX_HTTP_OK, &cert);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_certmate_store_read_end();

    return rc;
}


static ngx_int_t
ngx_http_certmate_admin_revoke_serial(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    ngx_int_t                         rc;
    ngx_uint_t                        reason;
    ngx_certmate_problem_t            problem;
    ngx_http_certmate_admin_write_t  *wr;

    if (ngx_http_certmate_admin_reason(r, body, &reason, &problem)
        != NGX_OK)
    {
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_BAD_REQUEST,
                                              &problem);
    }

    wr = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_write_t));
    if (wr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_certmate_ca_serial_parse(r->pool, arg, &wr->serial);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_not_found(r, "serial", arg);
    }

    wr->arg = *arg;
    wr->reason = reason;
    wr->now = ngx_time();

    wr->audit = ngx_http_certmate_audit(r, "serial.revoke", arg, "reason %V",
                                        ngx_certmate_ca_reason_name(reason));
    if (wr->audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_revoke_work,
                                  ngx_http_certmate_admin_serial_done, wr);
}


static ngx_int_t
ngx_http_certmate_admin_serial_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    ngx_str_t                hex, json, status;
    ngx_certmate_json_t     *obj;
    ngx_certmate_problem_t   problem;

    if (work->rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_not_found(r, "serial", &wr->arg);
    }

    if (work->rc == NGX_BUSY) {
        ngx_certmate_problem(r->pool, &problem, "already_revoked",
                             "serial \"%V\" is revoked already", &wr->arg);
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_CONFLICT, &problem);
    }

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_failed(r, work);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate revoked serial %V, %V", &wr->arg,
                  ngx_certmate_ca_reason_name(wr->reason));

    ngx_str_set(&status, "revoked");

    obj = ngx_certmate_json_object(r->pool);

    if (obj == NULL
        || ngx_certmate_ca_serial_hex(r->pool, &wr->serial, &hex) != NGX_OK
        || ngx_certmate_json_set_str(obj, "serial", &hex) != NGX_OK
        || ngx_certmate_json_set_str(obj, "status", &status) != NGX_OK
        || ngx_certmate_json_set_str(obj, "reason",
                                     ngx_certmate_ca_reason_name(wr->reason))
           != NGX_OK
        || ngx_certmate_json_set_time(obj, "revoked_at", wr->now) != NGX_OK
        || ngx_certmate_json_object_done(r->pool, obj, &json) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_OK, &json);
}


/* the reason of a revocation, from an optional body */

static ngx_int_t
ngx_http_certmate_admin_reason(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t *reason, ngx_certmate_problem_t *problem)
{
    ngx_int_t                   rc;
    ngx_str_t                   name;
    ngx_certmate_json_field_t   fields[] = {
        { "reason", NGX_CERTMATE_JSON_STRING, 0, &name },
        { NULL, 0, 0, NULL }
    };

    *reason = 0;

    if (body == NULL || body->len == 0) {
        return NGX_OK;
    }

    rc = ngx_certmate_json_fields(r->pool, body, fields, problem);
    if (rc != NGX_OK) {
        return rc;
    }

    if (name.len == 0) {
        return NGX_OK;
    }

    rc = ngx_certmate_ca_reason_parse(&name);

    if (rc == NGX_ERROR) {
        ngx_certmate_problem(r->pool, problem, "invalid_request",
                             "unknown \"reason\" \"%V\"; expected an RFC 5280 "
                             "reason such as keyCompromise or superseded",
                             &name);
        return NGX_DECLINED;
    }

    *reason = rc;

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_admin_ca(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    X509                 *x;
    BIO                  *bio;
    char                 *data;
    long                  len;
    ngx_int_t             rc;
    ngx_str_t             json, value, ders[NGX_CERTMATE_CHAIN_MAX];
    ngx_uint_t            i, n;
    ngx_certmate_ca_t     ca;
    ngx_certmate_json_t  *obj, *crl, *signer;

    obj = ngx_certmate_json_object(r->pool);
    crl = ngx_certmate_json_object(r->pool);
    signer = ngx_certmate_json_object(r->pool);
    bio = BIO_new(BIO_s_mem());

    if (obj == NULL || crl == NULL || signer == NULL || bio == NULL) {
        BIO_free(bio);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        BIO_free(bio);
        return ngx_http_certmate_admin_unavailable(r);
    }

    x = NULL;
    rc = ngx_certmate_store_ca_get(&ca, r->connection->log);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&value, "pending");
        rc = ngx_certmate_json_set_str(obj, "state", &value);
        goto done;
    }

    if (rc != NGX_OK
        || ngx_certmate_cert_split(&ca.chain, ders, &n) != NGX_OK)
    {
        rc = NGX_ERROR;
        goto done;
    }

    for (i = 0; i < n; i++) {
        x = ngx_certmate_cert_x509(&ders[i], r->connection->log);

        if (x == NULL || PEM_write_bio_X509(bio, x) != 1) {
            rc = NGX_ERROR;
            goto done;
        }

        if (i < n - 1) {
            X509_free(x);
        }
    }

    ngx_str_set(&value, "ready");

    if (ngx_certmate_json_set_str(obj, "state", &value) != NGX_OK) {
        rc = NGX_ERROR;
        goto done;
    }

    X509_free(x);
    x = ngx_certmate_cert_x509(&ders[0], r->connection->log);

    len = BIO_get_mem_data(bio, &data);
    value.data = (u_char *) data;
    value.len = len;

    if (x == NULL
        || ngx_certmate_json_set_str(obj, "chain", &value) != NGX_OK
        || ngx_certmate_cert_x509_name(r->pool, X509_get_subject_name(x),
                                       &value)
           != NGX_OK
        || ngx_certmate_json_set_str(obj, "subject", &value) != NGX_OK
        || ngx_certmate_json_set_time(obj, "not_after",
                         ngx_certmate_cert_time(X509_get0_notAfter(x)))
           != NGX_OK
        || ngx_certmate_json_set_uint(crl, "number", ca.crl_number) != NGX_OK
        || ngx_certmate_json_set_time(crl, "this_update", ca.crl_this_update)
           != NGX_OK
        || ngx_certmate_json_set_time(crl, "next_update", ca.crl_next_update)
           != NGX_OK
        || ngx_certmate_json_set_object(obj, "crl", crl) != NGX_OK)
    {
        rc = NGX_ERROR;
        goto done;
    }

    if (ca.signer.len) {
        X509_free(x);
        x = ngx_certmate_cert_x509(&ca.signer, r->connection->log);

        if (x == NULL
            || ngx_certmate_cert_serial(r->pool, x, &value) != NGX_OK
            || ngx_certmate_json_set_str(signer, "serial", &value) != NGX_OK
            || ngx_certmate_json_set_time(signer, "not_after",
                                          ca.signer_not_after)
               != NGX_OK
            || ngx_certmate_json_set_object(obj, "ocsp_signer", signer)
               != NGX_OK)
        {
            rc = NGX_ERROR;
            goto done;
        }
    }

    rc = NGX_OK;

done:

    X509_free(x);

    ngx_certmate_store_read_end();

    if (rc == NGX_OK) {
        rc = ngx_certmate_json_object_done(r->pool, obj, &json);
    }

    BIO_free(bio);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_OK, &json);
}


/*
 * A one-time EST enrollment token for some names and a profile: its
 * text is answered once, the store keeps its SHA-256
 */

static ngx_int_t
ngx_http_certmate_admin_est_token(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    u_char                            *p;
    time_t                             life;
    ngx_int_t                          rc;
    ngx_str_t                          profile, expires_in, validity, raw;
    ngx_uint_t                         i, status;
    ngx_array_t                        names;
    ngx_certmate_problem_t             problem;
    ngx_certmate_ca_request_t          req;
    ngx_http_certmate_admin_write_t   *wr;
    u_char                             random[NGX_HTTP_CERTMATE_EST_TOKEN_LEN];
    ngx_certmate_json_field_t          fields[] = {
        { "names", NGX_CERTMATE_JSON_STRINGS, 1, &names },
        { "profile", NGX_CERTMATE_JSON_STRING, 0, &profile },
        { "expires_in", NGX_CERTMATE_JSON_STRING, 0, &expires_in },
        { NULL, 0, 0, NULL }
    };

    rc = ngx_certmate_json_fields(r->pool, body, fields, &problem);
    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_bad_body(r, rc, &problem);
    }

    life = NGX_HTTP_CERTMATE_EST_TOKEN_LIFE;

    if (expires_in.len) {
        life = ngx_parse_time(&expires_in, 1);

        if (life == (time_t) NGX_ERROR || life == 0) {
            ngx_certmate_problem(r->pool, &problem, "invalid_request",
                                 "\"expires_in\" must be a time such as "
                                 "\"1h\" or \"7d\"");
            return ngx_http_certmate_admin_refuse(r, NGX_HTTP_BAD_REQUEST,
                                                  &problem);
        }
    }

    if (profile.len == 0) {
        ngx_str_set(&profile, "client");
    }

    ngx_str_null(&validity);
    ngx_memzero(&req, sizeof(ngx_certmate_ca_request_t));

    if (ngx_http_certmate_admin_profile(r, &profile, &validity, &req,
                                        &problem, &status)
        != NGX_OK)
    {
        return ngx_http_certmate_admin_refuse(r, status, &problem);
    }

    req.names = names.elts;
    req.nnames = names.nelts;

    rc = ngx_certmate_ca_check(r->pool, &req, &problem);

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_refuse(r,
                                              NGX_HTTP_UNPROCESSABLE_ENTITY,
                                              &problem);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (RAND_bytes(random, NGX_HTTP_CERTMATE_EST_TOKEN_LEN) != 1) {
        ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "RAND_bytes() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wr = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_write_t));
    if (wr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    raw.data = random;
    raw.len = NGX_HTTP_CERTMATE_EST_TOKEN_LEN;

    wr->text.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(raw.len));
    if (wr->text.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_encode_base64url(&wr->text, &raw);

    SHA256(wr->text.data, wr->text.len, wr->token.hash);
    wr->token.expires = ngx_time() + life;
    wr->token.profile = req.profile->name;
    wr->token.names.len = 0;

    for (i = 0; i < req.nnames; i++) {
        wr->token.names.len += req.names[i].len + 1;
    }

    wr->token.names.data = ngx_pnalloc(r->pool, wr->token.names.len);
    if (wr->token.names.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = wr->token.names.data;

    for (i = 0; i < req.nnames; i++) {
        p = ngx_cpymem(p, req.names[i].data, req.names[i].len);
        *p++ = '\0';
    }

    wr->req = req;
    wr->life = life;
    wr->audit = ngx_http_certmate_audit(r, "est.token", &req.names[0],
                                        "profile \"%V\", %ui names, expires "
                                        "in %T s", &req.profile->name,
                                        req.nnames, life);
    if (wr->audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_token_work,
                                  ngx_http_certmate_admin_token_done, wr);
}


/* a thread of the pool */

static ngx_int_t
ngx_http_certmate_admin_token_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    return ngx_http_certmate_admin_stored(
               ngx_certmate_store_est_token_put(&wr->token, wr->audit,
                                                work->log));
}


static ngx_int_t
ngx_http_certmate_admin_token_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_write_t *wr = work->data;

    ngx_str_t                   json;
    ngx_certmate_json_t        *obj;
    ngx_certmate_ca_request_t  *req;

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_failed(r, work);
    }

    req = &wr->req;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate made an EST enrollment token for \"%V\" and %ui "
                  "more names, profile \"%V\", expiring in %T s",
                  &req->names[0], req->nnames - 1, &req->profile->name,
                  wr->life);

    obj = ngx_certmate_json_object(r->pool);

    if (obj == NULL
        || ngx_certmate_json_set_str(obj, "token", &wr->text) != NGX_OK
        || ngx_certmate_json_set_strs(obj, "names", req->names, req->nnames)
           != NGX_OK
        || ngx_certmate_json_set_str(obj, "profile", &req->profile->name)
           != NGX_OK
        || ngx_certmate_json_set_time(obj, "expires_at", wr->token.expires)
           != NGX_OK
        || ngx_certmate_json_object_done(r->pool, obj, &json) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, NGX_HTTP_CREATED, &json);
}


/*
 * The audit log, oldest first: "since" (RFC 3339), "type" (exactly, or
 * the part before a dot: "certificate" has "certificate.import"),
 * "limit", "cursor" (the "next_cursor" of the page before)
 */

static ngx_int_t
ngx_http_certmate_admin_audit(ngx_http_request_t *r, ngx_str_t *arg,
    ngx_str_t *body)
{
    u_char                  *p;
    time_t                   since;
    uint64_t                 after;
    ngx_int_t                rc;
    ngx_str_t                value, type, json, next;
    ngx_uint_t               limit, n;
    ngx_certmate_json_t     *list;
    ngx_certmate_audit_t     audit;
    ngx_certmate_problem_t   problem;
    u_char                   cursor[NGX_INT64_LEN];

    rc = ngx_http_certmate_admin_limit(r, &limit, &problem);

    after = 0;
    since = 0;
    ngx_str_null(&type);

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_admin_arg(r, "cursor", &value);

        if (rc == NGX_OK) {
            after = 0;

            for (p = value.data; p < value.data + value.len; p++) {
                if (*p < '0' || *p > '9' || after > (uint64_t) -1 / 10 - 1) {
                    break;
                }

                after = after * 10 + (*p - '0');
            }

            if (value.len == 0 || p != value.data + value.len) {
                ngx_certmate_problem(r->pool, &problem, "invalid_parameter",
                                     "\"cursor\" must be a \"next_cursor\" "
                                     "of an earlier page");
                rc = NGX_DECLINED;
            }

        } else if (rc == NGX_DECLINED) {
            rc = NGX_OK;
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_admin_arg(r, "since", &value);

        if (rc == NGX_OK) {
            since = ngx_certmate_time_parse(&value);

            if (since == NGX_ERROR) {
                ngx_certmate_problem(r->pool, &problem, "invalid_parameter",
                                     "\"since\" must be an RFC 3339 time "
                                     "such as 2030-01-31T00:00:00Z");
                rc = NGX_DECLINED;
            }

        } else if (rc == NGX_DECLINED) {
            rc = NGX_OK;
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_admin_arg(r, "type", &type);
        rc = (rc == NGX_DECLINED) ? NGX_OK : rc;
    }

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

    ngx_str_null(&next);
    n = 0;

    for ( ;; ) {
        rc = ngx_certmate_store_audit_next(after, &audit, r->connection->log);

        if (rc == NGX_DECLINED) {
            rc = NGX_OK;
            break;
        }

        if (rc != NGX_OK) {
            break;
        }

        if (audit.time < since
            || (type.len
                && !(audit.type.len == type.len
                     && ngx_strncmp(audit.type.data, type.data, type.len)
                        == 0)
                && !(audit.type.len > type.len
                     && audit.type.data[type.len] == '.'
                     && ngx_strncmp(audit.type.data, type.data, type.len)
                        == 0)))
        {
            after = audit.seq;
            continue;
        }

        if (n == limit) {
            next.data = cursor;
            next.len = ngx_sprintf(cursor, "%uL", after) - cursor;
            break;
        }

        if (ngx_certmate_json_list_add_audit(list, &audit) != NGX_OK) {
            rc = NGX_ERROR;
            break;
        }

        after = audit.seq;
        n++;
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


/* issues with a new key of ours, stored with the certificate */

static ngx_int_t
ngx_http_certmate_admin_keyed(ngx_http_request_t *r,
    ngx_certmate_ca_request_t *req, u_char *old)
{
    ngx_int_t                         rc;
    ngx_certmate_problem_t            problem;
    ngx_http_certmate_admin_keyed_t  *kd;

    rc = ngx_certmate_ca_check(r->pool, req, &problem);

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_refuse(r,
                                              NGX_HTTP_UNPROCESSABLE_ENTITY,
                                              &problem);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kd = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_admin_keyed_t));
    if (kd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kd->req = *req;

    if (old) {
        ngx_memcpy(kd->id, old, NGX_CERTMATE_ID_LEN);
        kd->old = kd->id;
    }

    return ngx_http_certmate_make_key(r, req->key_type,
                                      ngx_http_certmate_admin_keyed_issue, kd);
}


static ngx_int_t
ngx_http_certmate_admin_keyed_issue(ngx_http_request_t *r, EVP_PKEY *key,
    void *data)
{
    ngx_http_certmate_admin_keyed_t *kd = data;

    ngx_int_t               rc;
    ngx_certmate_problem_t  problem;

    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kd->req.key = key;
    kd->req.kept = 1;
    kd->req.source = NGX_CERTMATE_SOURCE_CA;
    kd->req.audit = ngx_http_certmate_audit(r, kd->old ? "certificate.renew"
                                                       : "certificate.issue",
                                            NULL, "profile \"%V\", first "
                                            "name \"%V\"",
                                            &kd->req.profile->name,
                                            &kd->req.names[0]);
    if (kd->req.audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_certmate_ca_hold(r->pool, &kd->ca, r->connection->log);
    if (rc != NGX_OK) {
        return ngx_http_certmate_admin_issued(r, rc, &problem);
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_admin_keyed_work,
                                  ngx_http_certmate_admin_keyed_done, kd);
}


/* a thread of the pool */

static ngx_int_t
ngx_http_certmate_admin_keyed_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_keyed_t *kd = work->data;

    return ngx_certmate_ca_issue(work->pool, kd->ca, &kd->req, kd->old,
                                 &kd->issued, &work->problem, work->log);
}


static ngx_int_t
ngx_http_certmate_admin_keyed_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_admin_keyed_t *kd = work->data;

    if (work->rc != NGX_OK) {
        return ngx_http_certmate_admin_issued(r, work->rc, &work->problem);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate issued certificate %V for \"%s\", profile \"%V\"",
                  &kd->issued.serial, kd->issued.cert.names.data,
                  &kd->req.profile->name);

    return ngx_http_certmate_admin_cert_reply(r, NGX_HTTP_CREATED,
                                              &kd->issued.cert);
}


/* the answer to an issuance that did not succeed */

static ngx_int_t
ngx_http_certmate_admin_issued(ngx_http_request_t *r, ngx_int_t rc,
    ngx_certmate_problem_t *problem)
{
    ngx_uint_t  status;

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_refuse(r,
                                              NGX_HTTP_UNPROCESSABLE_ENTITY,
                                              problem);
    }

    if (rc == NGX_BUSY) {
        ngx_certmate_problem(r->pool, problem, "ca_not_ready",
                             "the helper process has not made the CA yet");
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                              problem);
    }

    if (rc == NGX_CERTMATE_STORE_FULL || rc == NGX_CERTMATE_STORE_FAILED) {
        status = ngx_http_certmate_store_refused(r->pool, rc, problem);
        return ngx_http_certmate_admin_refuse(r, status, problem);
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the answer to a JSON body that did not parse */

static ngx_int_t
ngx_http_certmate_admin_bad_body(ngx_http_request_t *r, ngx_int_t rc,
    ngx_certmate_problem_t *problem)
{
    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_admin_refuse(r, NGX_HTTP_BAD_REQUEST,
                                              problem);
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the profile and validity of a request; NGX_DECLINED: refused */

static ngx_int_t
ngx_http_certmate_admin_profile(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *validity, ngx_certmate_ca_request_t *req,
    ngx_certmate_problem_t *problem, ngx_uint_t *status)
{
    ngx_http_certmate_main_conf_t  *cmmcf;

    cmmcf = ngx_http_get_module_main_conf(r, ngx_certmate_module);

    if (cmmcf->ca == NULL) {
        ngx_certmate_problem(r->pool, problem, "not_found",
                             "there is no \"certmate_ca\"");
        *status = NGX_HTTP_NOT_FOUND;
        return NGX_DECLINED;
    }

    if (name->len == 0) {
        ngx_str_set(name, "server");
    }

    req->profile = ngx_certmate_profile_find(cmmcf, name);

    if (req->profile == NULL) {
        ngx_certmate_problem(r->pool, problem, "unknown_profile",
                             "no profile \"%V\"", name);
        *status = NGX_HTTP_UNPROCESSABLE_ENTITY;
        return NGX_DECLINED;
    }

    if (validity->len) {
        req->validity = ngx_parse_time(validity, 1);

        if (req->validity == (time_t) NGX_ERROR || req->validity < 60) {
            ngx_certmate_problem(r->pool, problem, "invalid_request",
                                 "\"validity\" must be a time such as "
                                 "\"30d\" or \"12h\"");
            *status = NGX_HTTP_BAD_REQUEST;
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the answer to a write whose work did not succeed */

static ngx_int_t
ngx_http_certmate_admin_failed(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    switch (work->rc) {

    case NGX_DECLINED:
        return ngx_http_certmate_admin_refuse(r, work->status,
                                              &work->problem);

    case NGX_CERTMATE_STORE_FULL:
        return ngx_http_certmate_admin_full(r);

    case NGX_ABORT:
    case NGX_AGAIN:
        return ngx_http_certmate_admin_unavailable(r);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* a store's failed write, for ngx_http_certmate_admin_failed() */

static ngx_int_t
ngx_http_certmate_admin_stored(ngx_int_t rc)
{
    return (rc == NGX_ERROR) ? NGX_ABORT : rc;
}


static ngx_int_t
ngx_http_certmate_admin_cert_reply(ngx_http_request_t *r, ngx_uint_t status,
    ngx_certmate_cert_t *cert)
{
    ngx_str_t                  json;
    ngx_certmate_cert_info_t   info;

    if (ngx_certmate_cert_info(r->pool, cert, &info) != NGX_OK
        || ngx_certmate_json_certificate(r->pool, &info, &json) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_CREATED
        && ngx_http_certmate_admin_location(r, &info.id) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_admin_send(r, status, &json);
}


/*
 * A request with a JSON body: its type and length checked, then read,
 * then given to the route's handler
 */

static ngx_int_t
ngx_http_certmate_admin_read(ngx_http_request_t *r,
    ngx_http_certmate_admin_route_t *route, ngx_str_t *arg)
{
    ngx_int_t                       rc;
    ngx_str_t                      *type;
    ngx_certmate_problem_t          problem;
    ngx_http_certmate_ctx_t        *rctx;
    ngx_http_certmate_loc_conf_t   *cmlcf;
    ngx_http_certmate_admin_ctx_t  *ctx;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    if (route->body == NGX_HTTP_CERTMATE_BODY_OPTIONAL
        && r->headers_in.content_length_n <= 0
        && !r->headers_in.chunked)
    {
        return route->handler(r, arg, NULL);
    }

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

    rctx = ngx_http_certmate_ctx(r);
    ctx = ngx_palloc(r->pool, sizeof(ngx_http_certmate_admin_ctx_t));

    if (rctx == NULL || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->route = route;
    ctx->arg = *arg;

    rctx->admin = ctx;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_certmate_admin_read_done);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_certmate_admin_read_done(ngx_http_request_t *r)
{
    ngx_str_t                       body;
    ngx_http_certmate_admin_ctx_t  *ctx;

    ctx = ngx_http_certmate_ctx(r)->admin;

    if (ngx_http_certmate_read_body(r, 0, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ctx->route->handler(r, &ctx->arg, &body));
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
    ngx_uint_t              status;
    ngx_certmate_problem_t  problem;

    status = ngx_http_certmate_store_refused(r->pool,
                                             NGX_CERTMATE_STORE_FAILED,
                                             &problem);

    return ngx_http_certmate_admin_refuse(r, status, &problem);
}


static ngx_int_t
ngx_http_certmate_admin_full(ngx_http_request_t *r)
{
    ngx_uint_t              status;
    ngx_certmate_problem_t  problem;

    status = ngx_http_certmate_store_refused(r->pool, NGX_CERTMATE_STORE_FULL,
                                             &problem);

    return ngx_http_certmate_admin_refuse(r, status, &problem);
}


static ngx_int_t
ngx_http_certmate_admin_not_found(ngx_http_request_t *r, const char *what,
    ngx_str_t *arg)
{
    ngx_certmate_problem_t  problem;

    ngx_certmate_problem(r->pool, &problem, "not_found",
                         "no %s \"%V\"", what, arg);

    return ngx_http_certmate_admin_refuse(r, NGX_HTTP_NOT_FOUND, &problem);
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
    ngx_table_elt_t  *h;

    rc = ngx_http_certmate_skip_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

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

    return ngx_http_certmate_send(r, status, "application/json", json);
}
