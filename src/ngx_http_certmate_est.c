
/*
 * certmate: EST (RFC 7030) under the prefix of the location that has
 * "certmate_est"; a label, when given, is the path segment before the
 * operation and chooses the profile ("certmate_est_profile"):
 *
 *   GET  [LABEL/]cacerts          the CA chain, PKCS#7 certs-only
 *   GET  [LABEL/]csrattrs         what a CSR should have; 204: nothing
 *   POST [LABEL/]simpleenroll     a PKCS#10 CSR signed, PKCS#7 certs-only
 *   POST [LABEL/]simplereenroll   the same for the holder of a certificate
 *                                 of ours with the CSR's subject and names
 *   POST [LABEL/]serverkeygen     a key made here and its certificate,
 *                                 multipart/mixed
 *
 * Bodies are base64 both ways, with or without line breaks (a PEM CSR
 * is taken too).  Enrollments authenticate as "certmate_est_auth"
 * allows: HTTP Basic against a password file, a one-time token of POST
 * /v1/est/tokens (as a Bearer token or as the Basic password), a
 * verified client certificate.  A profile with "pop=on" wants the TLS
 * channel binding in the CSR's challengePassword (RFC 7030, 3.5).
 * Certificates are stored with source "est" and without their key:
 * kept, revocable, not served by SNI.
 */


#include "ngx_http_certmate_est.h"
#include "ngx_http_certmate_reply.h"
#include "ngx_http_certmate_verify.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_store.h"

#include <ngx_crypt.h>
#include <openssl/x509v3.h>


#define NGX_HTTP_CERTMATE_EST_CACERTS     0
#define NGX_HTTP_CERTMATE_EST_CSRATTRS    1
#define NGX_HTTP_CERTMATE_EST_ENROLL      2
#define NGX_HTTP_CERTMATE_EST_REENROLL    3
#define NGX_HTTP_CERTMATE_EST_KEYGEN      4

#define NGX_HTTP_CERTMATE_EST_BODY_MAX    16384
#define NGX_HTTP_CERTMATE_EST_PASSWD_MAX  (1024 * 1024)
#define NGX_HTTP_CERTMATE_EST_LINE        64
#define NGX_HTTP_CERTMATE_EST_RETRY       "5"
#define NGX_HTTP_CERTMATE_EST_BOUNDARY    "certmate-est-boundary"
#define NGX_HTTP_CERTMATE_EST_EXPORTER    "EXPORTER-Channel-Binding"


struct ngx_http_certmate_est_ctx_s {
    ngx_uint_t                   op;
    ngx_certmate_profile_t      *profile;
    ngx_certmate_est_token_t     token;     /* names empty: none used */
    ngx_str_t                    who;       /* for the log */
    X509                        *cert;      /* the client's, admitted */
    ngx_certmate_ca_request_t    req;

    /* the issuance, off the event loop */
    ngx_certmate_ca_signing_t   *ca;
    u_char                      *old;
    u_char                       id[EVP_MAX_MD_SIZE];
    ngx_uint_t                   enrolled;
    ngx_certmate_ca_issued_t     issued;
    ngx_str_t                    serial;    /* superseded, to revoke */
    ngx_certmate_audit_t        *revoke;    /* NULL: none */
    ngx_int_t                    revoked;
};


static ngx_int_t ngx_http_certmate_est_path(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_est_auth(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_est_passwd(ngx_http_request_t *r,
    ngx_str_t *file);
static ngx_int_t ngx_http_certmate_est_token(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_str_t *text,
    ngx_certmate_problem_t *problem);
static void ngx_http_certmate_est_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_est_enroll(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx);
static ngx_int_t ngx_http_certmate_est_pop(ngx_http_request_t *r,
    X509_REQ *csr, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_est_allowed(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_est_renewing(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_http_certmate_est_keygen(ngx_http_request_t *r,
    EVP_PKEY *key, void *data);
static ngx_int_t ngx_http_certmate_est_issue(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx);
static ngx_int_t ngx_http_certmate_est_work(ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_est_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work);
static ngx_int_t ngx_http_certmate_est_cacerts(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_est_csrattrs(ngx_http_request_t *r,
    ngx_certmate_profile_t *profile);
static ngx_int_t ngx_http_certmate_est_pkcs7(ngx_pool_t *pool,
    ngx_str_t *certs, ngx_str_t *b64);
static u_char *ngx_http_certmate_est_tlv(u_char *p, u_char tag, size_t len);
static ngx_int_t ngx_http_certmate_est_base64(ngx_pool_t *pool,
    ngx_str_t *der, ngx_str_t *b64);
static ngx_int_t ngx_http_certmate_est_send(ngx_http_request_t *r,
    char *type, ngx_str_t *b64);
static ngx_int_t ngx_http_certmate_est_multipart(ngx_http_request_t *r,
    EVP_PKEY *key, ngx_str_t *p7);
static ngx_int_t ngx_http_certmate_est_header(ngx_http_request_t *r,
    char *name, char *value);
static ngx_int_t ngx_http_certmate_est_not_ready(ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_est_refuse(ngx_http_request_t *r,
    ngx_uint_t status, ngx_certmate_problem_t *problem);


static ngx_str_t  ngx_http_certmate_est_ops[] = {
    ngx_string("cacerts"),
    ngx_string("csrattrs"),
    ngx_string("simpleenroll"),
    ngx_string("simplereenroll"),
    ngx_string("serverkeygen")
};


ngx_int_t
ngx_http_certmate_est_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_table_elt_t               *h;
    ngx_certmate_problem_t         problem;
    ngx_http_certmate_ctx_t       *rctx;
    ngx_http_certmate_est_ctx_t   *ctx;

    rctx = ngx_http_certmate_ctx(r);
    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_est_ctx_t));

    if (rctx == NULL || ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rctx->est = ctx;

    if (ngx_http_certmate_est_path(r, ctx, &problem) != NGX_OK) {
        return ngx_http_certmate_est_refuse(r, NGX_HTTP_NOT_FOUND, &problem);
    }

    if (ctx->op == NGX_HTTP_CERTMATE_EST_CACERTS
        || ctx->op == NGX_HTTP_CERTMATE_EST_CSRATTRS)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            ngx_certmate_problem(r->pool, &problem, "method_not_allowed",
                                 "%V allows GET and HEAD",
                                 &ngx_http_certmate_est_ops[ctx->op]);
            rc = ngx_http_certmate_est_header(r, "Allow", "GET, HEAD");
            goto refuse;
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ctx->op == NGX_HTTP_CERTMATE_EST_CACERTS) {
            return ngx_http_certmate_est_cacerts(r);
        }

        return ngx_http_certmate_est_csrattrs(r, ctx->profile);
    }

    if (r->method != NGX_HTTP_POST) {
        ngx_certmate_problem(r->pool, &problem, "method_not_allowed",
                             "%V allows POST",
                             &ngx_http_certmate_est_ops[ctx->op]);
        rc = ngx_http_certmate_est_header(r, "Allow", "POST");
        goto refuse;
    }

    /* who asks, before anything of the body is read; "who" is its actor */

    if (ctx->op == NGX_HTTP_CERTMATE_EST_REENROLL) {
        rc = ngx_http_certmate_client_admitted(r, &ctx->cert);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            ngx_certmate_problem(r->pool, &problem, "forbidden",
                                 "simplereenroll needs the verified, "
                                 "unrevoked client certificate that it "
                                 "renews");
            return ngx_http_certmate_est_refuse(r, NGX_HTTP_FORBIDDEN,
                                                &problem);
        }

        ngx_str_set(&ctx->who, "its client certificate");

    } else {
        rc = ngx_http_certmate_est_auth(r, ctx, &problem);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc != NGX_OK) {
            return ngx_http_certmate_est_refuse(r, rc, &problem);
        }
    }

    rctx->actor.len = sizeof("est ") - 1 + ctx->who.len;
    rctx->actor.data = ngx_pnalloc(r->pool, rctx->actor.len);
    if (rctx->actor.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(rctx->actor.data, "est %V", &ctx->who);

    h = r->headers_in.content_type;

    if (h == NULL
        || h->value.len < sizeof("application/pkcs10") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "application/pkcs10",
                           sizeof("application/pkcs10") - 1)
           != 0
        || (h->value.len > sizeof("application/pkcs10") - 1
            && h->value.data[sizeof("application/pkcs10") - 1] != ';'
            && h->value.data[sizeof("application/pkcs10") - 1] != ' '))
    {
        ngx_certmate_problem(r->pool, &problem, "unsupported_media_type",
                             "the body must be \"application/pkcs10\"");
        return ngx_http_certmate_est_refuse(r,
                                            NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                            &problem);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_CERTMATE_EST_BODY_MAX) {
        ngx_certmate_problem(r->pool, &problem, "body_too_large",
                             "the body has %O bytes, a CSR may have %d",
                             r->headers_in.content_length_n,
                             NGX_HTTP_CERTMATE_EST_BODY_MAX);
        return ngx_http_certmate_est_refuse(r,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            &problem);
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_certmate_est_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;

refuse:

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_est_refuse(r, NGX_HTTP_NOT_ALLOWED, &problem);
}


/* an operation's number by its name; NGX_ERROR: there is none */

ngx_int_t
ngx_http_certmate_est_operation(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_http_certmate_est_ops) / sizeof(ngx_str_t);
         i++)
    {
        if (name->len == ngx_http_certmate_est_ops[i].len
            && ngx_strncmp(name->data, ngx_http_certmate_est_ops[i].data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* "[LABEL/]OPERATION" after the location's prefix */

static ngx_int_t
ngx_http_certmate_est_path(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem)
{
    u_char                         *slash;
    ngx_int_t                       op;
    ngx_str_t                       path, label;
    ngx_uint_t                      i;
    ngx_http_certmate_loc_conf_t   *cmlcf;
    ngx_http_certmate_est_label_t  *lb;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    path.data = r->uri.data + cmlcf->prefix.len;
    path.len = r->uri.len - ngx_min(r->uri.len, cmlcf->prefix.len);

    if (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    ngx_str_null(&label);

    slash = ngx_strlchr(path.data, path.data + path.len, '/');

    if (slash) {
        label.data = path.data;
        label.len = slash - path.data;
        path.len -= label.len + 1;
        path.data = slash + 1;
    }

    op = ngx_http_certmate_est_operation(&path);

    if (op == NGX_ERROR || (slash && label.len == 0)) {
        ngx_certmate_problem(r->pool, problem, "not_found",
                             "no EST operation \"%V\"", &r->uri);
        return NGX_DECLINED;
    }

    ctx->op = op;

    lb = cmlcf->est_labels->elts;

    for (i = 0; i < cmlcf->est_labels->nelts; i++) {
        if (lb[i].label.len == label.len
            && ngx_strncmp(lb[i].label.data, label.data, label.len) == 0)
        {
            ctx->profile = lb[i].profile;
            return NGX_OK;
        }
    }

    ngx_certmate_problem(r->pool, problem, "not_found",
                         "no EST label \"%V\"", &label);
    return NGX_DECLINED;
}


/*
 * An enrollment's credentials, as "certmate_est_auth" takes them:
 * NGX_OK, or the status of the refusal
 */

static ngx_int_t
ngx_http_certmate_est_auth(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem)
{
    ngx_int_t                      rc;
    ngx_str_t                      text;
    ngx_table_elt_t               *h;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    if (cmlcf->est_auth & NGX_HTTP_CERTMATE_EST_CERT) {
        rc = ngx_http_certmate_client_admitted(r, &ctx->cert);

        if (rc != NGX_DECLINED) {
            ngx_str_set(&ctx->who, "a client certificate");
            return rc;
        }
    }

    h = r->headers_in.authorization;

    if (h == NULL) {
        if (cmlcf->est_auth
            & (NGX_HTTP_CERTMATE_EST_BASIC|NGX_HTTP_CERTMATE_EST_TOKEN))
        {
            ngx_certmate_problem(r->pool, problem, "unauthorized",
                                 "enrollment needs credentials");
            return NGX_HTTP_UNAUTHORIZED;
        }

        ngx_certmate_problem(r->pool, problem, "forbidden",
                             "enrollment needs a verified client "
                             "certificate");
        return NGX_HTTP_FORBIDDEN;
    }

    if ((cmlcf->est_auth & NGX_HTTP_CERTMATE_EST_TOKEN)
        && h->value.len > sizeof("Bearer ") - 1
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           == 0)
    {
        text.data = h->value.data + sizeof("Bearer ") - 1;
        text.len = h->value.len - (sizeof("Bearer ") - 1);

        rc = ngx_http_certmate_est_token(r, ctx, &text, problem);

        return rc == NGX_DECLINED ? NGX_HTTP_UNAUTHORIZED : rc;
    }

    if (ngx_http_auth_basic_user(r) != NGX_OK) {
        ngx_certmate_problem(r->pool, problem, "unauthorized",
                             "the Authorization header is neither HTTP "
                             "Basic nor a Bearer token taken here");
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (cmlcf->est_auth & NGX_HTTP_CERTMATE_EST_BASIC) {
        rc = ngx_http_certmate_est_passwd(r, &cmlcf->est_passwd);

        if (rc == NGX_OK) {
            ctx->who.len = sizeof("user \"\"") - 1 + r->headers_in.user.len;
            ctx->who.data = ngx_pnalloc(r->pool, ctx->who.len);
            if (ctx->who.data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(ctx->who.data, "user \"%V\"", &r->headers_in.user);
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    if (cmlcf->est_auth & NGX_HTTP_CERTMATE_EST_TOKEN) {
        rc = ngx_http_certmate_est_token(r, ctx, &r->headers_in.passwd,
                                         problem);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        if (!(cmlcf->est_auth & NGX_HTTP_CERTMATE_EST_BASIC)) {
            return NGX_HTTP_UNAUTHORIZED;
        }
    }

    ngx_certmate_problem(r->pool, problem, "unauthorized",
                         "wrong user name or password for \"%V\"",
                         &r->headers_in.user);
    return NGX_HTTP_UNAUTHORIZED;
}


/*
 * The Basic credentials against a file of "user:hash" lines, the
 * hashes as nginx's auth_basic takes them; read at every request, as
 * auth_basic does, so that changes need no reload.  NGX_DECLINED: no
 * match.
 */

static ngx_int_t
ngx_http_certmate_est_passwd(ngx_http_request_t *r, ngx_str_t *file)
{
    u_char           *buf, *p, *last, *eol, *colon, *passwd, *crypted;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_str_t        *user;
    ngx_file_t        f;
    ngx_file_info_t   fi;

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", file);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", file);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    if (size > NGX_HTTP_CERTMATE_EST_PASSWD_MAX) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "certmate est password file \"%V\" has more than "
                      "%d bytes", file, NGX_HTTP_CERTMATE_EST_PASSWD_MAX);
        goto done;
    }

    buf = ngx_pnalloc(r->pool, size + 1);
    passwd = ngx_pnalloc(r->pool, r->headers_in.passwd.len + 1);

    if (buf == NULL || passwd == NULL) {
        goto done;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = *file;
    f.log = r->connection->log;

    n = ngx_read_file(&f, buf, size, 0);
    if (n != (ssize_t) size) {
        goto done;
    }

    ngx_cpystrn(passwd, r->headers_in.passwd.data,
                r->headers_in.passwd.len + 1);

    user = &r->headers_in.user;
    rc = NGX_DECLINED;

    for (p = buf, last = buf + size; p < last; p = eol + 1) {

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (eol > p && eol[-1] == '\r') {
            eol[-1] = '\0';
        }

        *eol = '\0';

        colon = ngx_strlchr(p, eol, ':');

        if (p[0] == '#'
            || colon == NULL
            || (size_t) (colon - p) != user->len
            || ngx_strncmp(p, user->data, user->len) != 0)
        {
            continue;
        }

        p = colon + 1;

        colon = ngx_strlchr(p, eol, ':');
        if (colon) {
            *colon = '\0';
        }

        if (ngx_crypt(r->pool, passwd, p, &crypted) == NGX_OK
            && ngx_strlen(crypted) == ngx_strlen(p)
            && CRYPTO_memcmp(crypted, p, ngx_strlen(p)) == 0)
        {
            rc = NGX_OK;
        }

        break;
    }

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", file);
    }

    return rc;
}


/* a one-time token of the store, not expired; NGX_DECLINED: refused */

static ngx_int_t
ngx_http_certmate_est_token(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_str_t *text,
    ngx_certmate_problem_t *problem)
{
    ngx_int_t                       rc;
    ngx_certmate_est_token_t        token;
    ngx_http_certmate_main_conf_t  *cmmcf;
    u_char                          hash[SHA256_DIGEST_LENGTH];

    SHA256(text->data, text->len, hash);

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_est_token_get(hash, &token, r->connection->log);

    if (rc == NGX_OK) {
        ctx->token = token;
        ctx->token.names.data = ngx_pstrdup(r->pool, &token.names);
        ctx->token.profile.data = ngx_pstrdup(r->pool, &token.profile);

        if (ctx->token.names.data == NULL
            || ctx->token.profile.data == NULL)
        {
            rc = NGX_ERROR;
        }
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_DECLINED) {
        ngx_certmate_problem(r->pool, problem, "unauthorized",
                             "the enrollment token is not known: it was "
                             "used, it expired, or it never was");
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->token.expires < ngx_time()) {
        ngx_certmate_problem(r->pool, problem, "unauthorized",
                             "the enrollment token has expired");
        goto refused;
    }

    cmmcf = ngx_http_get_module_main_conf(r, ngx_certmate_module);

    ctx->profile = ngx_certmate_profile_find(cmmcf, &ctx->token.profile);

    if (ctx->profile == NULL) {
        ngx_certmate_problem(r->pool, problem, "unauthorized",
                             "the enrollment token's profile \"%V\" is no "
                             "longer configured", &ctx->token.profile);
        goto refused;
    }

    ngx_str_set(&ctx->who, "an enrollment token");

    return NGX_OK;

refused:

    ctx->token.names.len = 0;

    return NGX_DECLINED;
}


static void
ngx_http_certmate_est_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r,
                              ngx_http_certmate_est_enroll(r,
                                           ngx_http_certmate_ctx(r)->est));
}


/* the CSR of an enrollment, checked, and then what it gets */

static ngx_int_t
ngx_http_certmate_est_enroll(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx)
{
    ngx_int_t                 rc, type;
    ngx_str_t                 body;
    ngx_uint_t                status;
    ngx_certmate_problem_t    problem;

    rc = ngx_http_certmate_read_body(r, NGX_HTTP_CERTMATE_EST_BODY_MAX, &body);

    if (rc == NGX_DECLINED) {
        ngx_certmate_problem(r->pool, &problem, "body_too_large",
                             "the body has %uz bytes, a CSR may have %d",
                             body.len, NGX_HTTP_CERTMATE_EST_BODY_MAX);
        return ngx_http_certmate_est_refuse(r,
                                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                            &problem);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_certmate_ca_csr(r->pool, &body, &ctx->req, &problem);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_certmate_est_refuse(r, NGX_HTTP_BAD_REQUEST, &problem);
    }

    ctx->req.profile = ctx->profile;

    /* serverkeygen: a key of the CSR's type when the profile allows it */

    if (ctx->op == NGX_HTTP_CERTMATE_EST_KEYGEN) {
        type = ngx_certmate_key_type(ctx->req.key);

        ctx->req.key = NULL;
        ctx->req.key_type = (ctx->profile->key_types & (1 << type)) ? type
                                                                    : 0;
    }

    rc = ngx_certmate_ca_check(r->pool, &ctx->req, &problem);

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_est_allowed(r, ctx, &problem);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        status = (ngx_strcmp(problem.code, "profile_violation") == 0
                  || ngx_strcmp(problem.code, "forbidden") == 0)
                 ? NGX_HTTP_FORBIDDEN : NGX_HTTP_BAD_REQUEST;
        return ngx_http_certmate_est_refuse(r, status, &problem);
    }

    if (ctx->op == NGX_HTTP_CERTMATE_EST_KEYGEN) {
        return ngx_http_certmate_make_key(r, ctx->req.key_type,
                                          ngx_http_certmate_est_keygen, ctx);
    }

    return ngx_http_certmate_est_issue(r, ctx);
}


/*
 * What EST asks beyond the profile: proof of possession, the names of
 * a token, the certificate that a re-enrollment renews
 */

static ngx_int_t
ngx_http_certmate_est_allowed(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem)
{
    u_char      *p, *last;
    ngx_int_t    rc;
    ngx_uint_t   i;

    if (ctx->profile->pop) {
        rc = ngx_http_certmate_est_pop(r, ctx->req.csr, problem);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->token.names.len) {
        for (i = 0; i < ctx->req.nnames; i++) {
            p = ctx->token.names.data;
            last = p + ctx->token.names.len;

            while (p < last) {
                if (ngx_strlen(p) == ctx->req.names[i].len
                    && ngx_strncmp(p, ctx->req.names[i].data,
                                   ctx->req.names[i].len)
                       == 0)
                {
                    break;
                }

                p += ngx_strlen(p) + 1;
            }

            if (p == last) {
                ngx_certmate_problem(r->pool, problem, "forbidden",
                                     "the enrollment token does not allow "
                                     "the name \"%V\"", &ctx->req.names[i]);
                return NGX_DECLINED;
            }
        }
    }

    if (ctx->op == NGX_HTTP_CERTMATE_EST_REENROLL) {
        return ngx_http_certmate_est_renewing(r, ctx, problem);
    }

    return NGX_OK;
}


/*
 * Proof of possession (RFC 7030, 3.5): the CSR's challengePassword is
 * the base64 of this connection's channel binding, tls-unique on TLS
 * 1.2 and before, tls-exporter (RFC 9266) on TLS 1.3
 */

static ngx_int_t
ngx_http_certmate_est_pop(ngx_http_request_t *r, X509_REQ *csr,
    ngx_certmate_problem_t *problem)
{
    SSL                *ssl;
    int                 idx;
    size_t              n;
    ngx_str_t           binding, b64;
    ASN1_TYPE          *value;
    ASN1_STRING        *password;
    u_char              buf[EVP_MAX_MD_SIZE];

    if (r->connection->ssl == NULL) {
        ngx_certmate_problem(r->pool, problem, "forbidden",
                             "the profile needs proof of possession, which "
                             "needs TLS");
        return NGX_DECLINED;
    }

    ssl = r->connection->ssl->connection;

    if (SSL_version(ssl) >= TLS1_3_VERSION) {
        n = 32;

        if (SSL_export_keying_material(ssl, buf, n,
                                       NGX_HTTP_CERTMATE_EST_EXPORTER,
                                       sizeof(NGX_HTTP_CERTMATE_EST_EXPORTER)
                                       - 1, NULL, 0, 0)
            != 1)
        {
            ngx_ssl_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "SSL_export_keying_material() failed");
            return NGX_ERROR;
        }

    } else if (SSL_session_reused(ssl)) {
        n = SSL_get_finished(ssl, buf, sizeof(buf));

    } else {
        n = SSL_get_peer_finished(ssl, buf, sizeof(buf));
    }

    binding.data = buf;
    binding.len = ngx_min(n, sizeof(buf));

    b64.data = ngx_pnalloc(r->pool, ngx_base64_encoded_length(binding.len));
    if (b64.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64(&b64, &binding);

    idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
    value = (idx >= 0)
            ? X509_ATTRIBUTE_get0_type(X509_REQ_get_attr(csr, idx), 0)
            : NULL;

    if (value == NULL
        || (value->type != V_ASN1_PRINTABLESTRING
            && value->type != V_ASN1_UTF8STRING
            && value->type != V_ASN1_IA5STRING))
    {
        ngx_certmate_problem(r->pool, problem, "forbidden",
                             "the profile needs proof of possession: the "
                             "CSR's challengePassword must be the base64 of "
                             "the TLS channel binding (%s)",
                             SSL_version(ssl) >= TLS1_3_VERSION
                             ? "tls-exporter" : "tls-unique");
        return NGX_DECLINED;
    }

    password = value->value.asn1_string;

    if ((size_t) ASN1_STRING_length(password) != b64.len
        || CRYPTO_memcmp(ASN1_STRING_get0_data(password), b64.data, b64.len)
           != 0)
    {
        ngx_certmate_problem(r->pool, problem, "forbidden",
                             "the CSR's challengePassword is not the channel "
                             "binding of this TLS connection");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A re-enrollment renews a good certificate of our CA with the CSR's
 * subject and names (RFC 7030, 4.2.2)
 */

static ngx_int_t
ngx_http_certmate_est_renewing(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx, ngx_certmate_problem_t *problem)
{
    int                         i, n;
    X509                       *x;
    ngx_int_t                   rc;
    ngx_str_t                   serial;
    ngx_uint_t                  j, found;
    GENERAL_NAME               *gn;
    GENERAL_NAMES              *gens;
    ngx_certmate_serial_t       s;
    ngx_certmate_ca_signing_t  *ca;

    x = ctx->cert;

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return NGX_ERROR;
    }

    ca = ngx_certmate_ca_current(r->connection->log);

    serial.data = (u_char *) ASN1_STRING_get0_data(X509_get0_serialNumber(x));
    serial.len = ASN1_STRING_length(X509_get0_serialNumber(x));

    rc = NGX_DECLINED;

    if (ca && X509_check_issued(ca->cert, x) == X509_V_OK) {
        rc = ngx_certmate_store_serial_get(&serial, &s, r->connection->log);
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK || s.status != NGX_CERTMATE_SERIAL_GOOD) {
        ngx_certmate_problem(r->pool, problem, "forbidden",
                             "the client certificate is not a good one of "
                             "this CA");
        return NGX_DECLINED;
    }

    if (X509_NAME_cmp(X509_get_subject_name(x),
                      X509_REQ_get_subject_name(ctx->req.csr))
        != 0)
    {
        ngx_certmate_problem(r->pool, problem, "forbidden",
                             "the CSR's subject is not that of the client "
                             "certificate it renews");
        return NGX_DECLINED;
    }

    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    found = 0;

    for (i = 0; i < n; i++) {
        gn = sk_GENERAL_NAME_value(gens, i);

        if (gn->type != GEN_DNS) {
            found = 0;
            break;
        }

        for (j = 0; j < ctx->req.nnames; j++) {
            if ((size_t) ASN1_STRING_length(gn->d.dNSName)
                == ctx->req.names[j].len
                && ngx_strncasecmp((u_char *)
                                   ASN1_STRING_get0_data(gn->d.dNSName),
                                   ctx->req.names[j].data,
                                   ctx->req.names[j].len)
                   == 0)
            {
                found++;
                break;
            }
        }
    }

    GENERAL_NAMES_free(gens);

    if (found != ctx->req.nnames || (ngx_uint_t) n != ctx->req.nnames) {
        ngx_certmate_problem(r->pool, problem, "forbidden",
                             "the CSR's names are not those of the client "
                             "certificate it renews");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_est_keygen(ngx_http_request_t *r, EVP_PKEY *key,
    void *data)
{
    ngx_http_certmate_est_ctx_t *ctx = data;

    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->req.key = key;

    return ngx_http_certmate_est_issue(r, ctx);
}


static ngx_int_t
ngx_http_certmate_est_issue(ngx_http_request_t *r,
    ngx_http_certmate_est_ctx_t *ctx)
{
    ngx_int_t                      rc;
    unsigned int                   len;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    if (ctx->op == NGX_HTTP_CERTMATE_EST_REENROLL) {
        if (X509_digest(ctx->cert, EVP_sha256(), ctx->id, &len) != 1) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->old = ctx->id;
    }

    ctx->req.source = NGX_CERTMATE_SOURCE_EST;
    ctx->req.token = ctx->token.names.len ? ctx->token.hash : NULL;
    ctx->req.audit = ngx_http_certmate_audit(r,
                         ctx->op == NGX_HTTP_CERTMATE_EST_ENROLL
                         ? "est.enroll"
                         : ctx->op == NGX_HTTP_CERTMATE_EST_REENROLL
                         ? "est.reenroll" : "est.serverkeygen",
                         NULL, "profile \"%V\", first name \"%V\"",
                         &ctx->profile->name, &ctx->req.names[0]);
    if (ctx->req.audit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->old && cmlcf->est_revoke_superseded) {
        ctx->serial.data = (u_char *) ASN1_STRING_get0_data(
                                          X509_get0_serialNumber(ctx->cert));
        ctx->serial.len = ASN1_STRING_length(
                                          X509_get0_serialNumber(ctx->cert));

        ctx->revoke = ngx_http_certmate_audit(r, "serial.revoke", NULL, "");

        if (ctx->revoke == NULL
            || ngx_certmate_cert_serial(r->pool, ctx->cert,
                                        &ctx->revoke->object)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_certmate_ca_hold(r->pool, &ctx->ca, r->connection->log);

    if (rc == NGX_BUSY) {
        return ngx_http_certmate_est_not_ready(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_work(r, ngx_http_certmate_est_work,
                                  ngx_http_certmate_est_done, ctx);
}


/*
 * A thread of the pool: the certificate signed and stored, then the one
 * it supersedes revoked; done again on the event loop, what was done
 * is not
 */

static ngx_int_t
ngx_http_certmate_est_work(ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_est_ctx_t *ctx = work->data;

    ngx_int_t  rc;

    if (!ctx->enrolled) {
        rc = ngx_certmate_ca_issue(work->pool, ctx->ca, &ctx->req, ctx->old,
                                   &ctx->issued, &work->problem, work->log);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->enrolled = 1;
    }

    if (ctx->revoke == NULL) {
        return NGX_OK;
    }

    if (ngx_http_certmate_audit_detail(work->pool, ctx->revoke,
                                       "reason superseded, by %V",
                                       &ctx->issued.serial)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->revoked = ngx_certmate_store_revoke(&ctx->serial, 4 /* superseded */,
                                             ngx_time(), ctx->revoke,
                                             work->log);

    return (ctx->revoked == NGX_AGAIN) ? NGX_AGAIN : NGX_OK;
}


static ngx_int_t
ngx_http_certmate_est_done(ngx_http_request_t *r,
    ngx_http_certmate_work_t *work)
{
    ngx_http_certmate_est_ctx_t *ctx = work->data;

    ngx_str_t                 p7, ders[NGX_CERTMATE_CHAIN_MAX];
    ngx_uint_t                n, status;
    ngx_certmate_problem_t    problem;

    switch (work->rc) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return ngx_http_certmate_est_refuse(r, NGX_HTTP_UNAUTHORIZED,
                                            &work->problem);

    case NGX_CERTMATE_STORE_FULL:
    case NGX_CERTMATE_STORE_FAILED:
        status = ngx_http_certmate_store_refused(r->pool, work->rc, &problem);
        return ngx_http_certmate_est_refuse(r, status, &problem);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "certmate est enrolled certificate %V for \"%V\", "
                  "profile \"%V\", by %V", &ctx->issued.serial,
                  &ctx->req.names[0], &ctx->profile->name, &ctx->who);

    if (ctx->revoke && ctx->revoked == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "certmate est revoked the superseded certificate");

    } else if (ctx->revoke && ctx->revoked != NGX_BUSY) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "certmate est could not revoke the superseded "
                      "certificate");
    }

    /* the issued certificate, alone, as PKCS#7 certs-only */

    if (ngx_certmate_cert_split(&ctx->issued.cert.chain, ders, &n) != NGX_OK
        || ngx_http_certmate_est_pkcs7(r->pool, &ders[0], &p7) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->op == NGX_HTTP_CERTMATE_EST_KEYGEN) {
        return ngx_http_certmate_est_multipart(r, ctx->req.key, &p7);
    }

    return ngx_http_certmate_est_send(r,
                           "application/pkcs7-mime; smime-type=certs-only",
                           &p7);
}


/* the CA chain, the issuing CA up to the root */

static ngx_int_t
ngx_http_certmate_est_cacerts(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_str_t           p7;
    ngx_certmate_ca_t   ca;

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    rc = ngx_certmate_store_ca_get(&ca, r->connection->log);

    if (rc == NGX_OK) {
        rc = ngx_http_certmate_est_pkcs7(r->pool, &ca.chain, &p7);
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_certmate_est_not_ready(r);
    }

    return ngx_http_certmate_est_send(r, "application/pkcs7-mime", &p7);
}


/*
 * CsrAttrs (RFC 7030, 4.5.2): challengePassword when the profile wants
 * proof of possession, and the key type when it allows only some
 */

static ngx_int_t
ngx_http_certmate_est_csrattrs(ngx_http_request_t *r,
    ngx_certmate_profile_t *profile)
{
    int                     len, curve;
    u_char                 *p;
    ngx_int_t               rc;
    ngx_str_t               der, b64;
    ASN1_TYPE              *t;
    ASN1_STRING            *seq;
    ASN1_INTEGER           *bits;
    X509_ATTRIBUTE         *attr;
    STACK_OF(ASN1_TYPE)    *attrs;

    if (!profile->pop && profile->key_types == NGX_CERTMATE_KEY_ALL) {
        return ngx_http_certmate_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL);
    }

    rc = NGX_ERROR;
    attr = NULL;

    attrs = sk_ASN1_TYPE_new_null();
    if (attrs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (profile->pop) {
        t = ASN1_TYPE_new();

        if (t == NULL || sk_ASN1_TYPE_push(attrs, t) == 0) {
            ASN1_TYPE_free(t);
            goto done;
        }

        ASN1_TYPE_set(t, V_ASN1_OBJECT,
                      OBJ_nid2obj(NID_pkcs9_challengePassword));
    }

    if (profile->key_types != NGX_CERTMATE_KEY_ALL) {

        if (ngx_certmate_key_class(profile->key_type)
            == NGX_CERTMATE_CLASS_EC)
        {
            curve = (profile->key_type == NGX_CERTMATE_KEY_EC_P256)
                    ? NID_X9_62_prime256v1 : NID_secp384r1;
            attr = X509_ATTRIBUTE_create(NID_X9_62_id_ecPublicKey,
                                         V_ASN1_OBJECT, OBJ_nid2obj(curve));

        } else {
            bits = ASN1_INTEGER_new();

            if (bits == NULL
                || ASN1_INTEGER_set(bits,
                                    profile->key_type
                                    == NGX_CERTMATE_KEY_RSA_2048 ? 2048
                                    : profile->key_type
                                      == NGX_CERTMATE_KEY_RSA_3072 ? 3072
                                    : 4096)
                   != 1)
            {
                ASN1_INTEGER_free(bits);
                goto done;
            }

            attr = X509_ATTRIBUTE_create(NID_rsaEncryption, V_ASN1_INTEGER,
                                         bits);
            if (attr == NULL) {
                ASN1_INTEGER_free(bits);
            }
        }

        len = attr ? i2d_X509_ATTRIBUTE(attr, NULL) : -1;
        if (len <= 0) {
            goto done;
        }

        seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
        t = ASN1_TYPE_new();

        if (seq == NULL || t == NULL || sk_ASN1_TYPE_push(attrs, t) == 0
            || ASN1_STRING_set(seq, NULL, len) != 1)
        {
            ASN1_STRING_free(seq);
            ASN1_TYPE_free(t);
            goto done;
        }

        ASN1_TYPE_set(t, V_ASN1_SEQUENCE, seq);

        p = (u_char *) ASN1_STRING_get0_data(seq);
        (void) i2d_X509_ATTRIBUTE(attr, &p);
    }

    len = i2d_ASN1_SEQUENCE_ANY(attrs, NULL);
    if (len <= 0) {
        goto done;
    }

    der.data = ngx_pnalloc(r->pool, len);
    if (der.data == NULL) {
        goto done;
    }

    p = der.data;
    der.len = i2d_ASN1_SEQUENCE_ANY(attrs, &p);

    rc = ngx_http_certmate_est_base64(r->pool, &der, &b64);

done:

    X509_ATTRIBUTE_free(attr);
    sk_ASN1_TYPE_pop_free(attrs, ASN1_TYPE_free);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_est_send(r, "application/csrattrs", &b64);
}


/*
 * A degenerate SignedData (RFC 5652) with the certificates only, from
 * their DER, in base64: written here, for OpenSSL 3.0 would parse each
 * certificate again
 */

static ngx_int_t
ngx_http_certmate_est_pkcs7(ngx_pool_t *pool, ngx_str_t *certs,
    ngx_str_t *b64)
{
    u_char     *p;
    size_t      signed_len, content_len;
    ngx_str_t   der;

    static u_char  signed_data[] = {
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02
    };

    static u_char  version_to_content[] = {
        0x02, 0x01, 0x01,                       /* version 1 */
        0x31, 0x00,                             /* no digestAlgorithms */
        0x30, 0x0b,                             /* encapContentInfo: */
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,     /* id-data, no content */
        0xf7, 0x0d, 0x01, 0x07, 0x01
    };

    static u_char  no_signers[] = { 0x31, 0x00 };

#define ngx_http_certmate_est_tlv_len(len)                                    \
    (1 + ((len) < 0x80 ? 1 : (len) < 0x100 ? 2 : (len) < 0x10000 ? 3 : 4)     \
     + (len))

    signed_len = sizeof(version_to_content)
                 + ngx_http_certmate_est_tlv_len(certs->len)
                 + sizeof(no_signers);
    content_len = sizeof(signed_data)
                  + ngx_http_certmate_est_tlv_len(
                        ngx_http_certmate_est_tlv_len(signed_len));

    der.len = ngx_http_certmate_est_tlv_len(content_len);
    der.data = ngx_pnalloc(pool, der.len);
    if (der.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_certmate_est_tlv(der.data, 0x30, content_len);
    p = ngx_cpymem(p, signed_data, sizeof(signed_data));
    p = ngx_http_certmate_est_tlv(p, 0xa0,
                                  ngx_http_certmate_est_tlv_len(signed_len));
    p = ngx_http_certmate_est_tlv(p, 0x30, signed_len);
    p = ngx_cpymem(p, version_to_content, sizeof(version_to_content));
    p = ngx_http_certmate_est_tlv(p, 0xa0, certs->len);
    p = ngx_cpymem(p, certs->data, certs->len);
    ngx_memcpy(p, no_signers, sizeof(no_signers));

#undef ngx_http_certmate_est_tlv_len

    return ngx_http_certmate_est_base64(pool, &der, b64);
}


/* a DER tag and length; the value follows */

static u_char *
ngx_http_certmate_est_tlv(u_char *p, u_char tag, size_t len)
{
    *p++ = tag;

    if (len < 0x80) {
        *p++ = (u_char) len;

    } else if (len < 0x100) {
        *p++ = 0x81;
        *p++ = (u_char) len;

    } else if (len < 0x10000) {
        *p++ = 0x82;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 0x83;
        *p++ = (u_char) (len >> 16);
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;
    }

    return p;
}


/* base64 in lines of 64 characters, each ending in LF */

static ngx_int_t
ngx_http_certmate_est_base64(ngx_pool_t *pool, ngx_str_t *der,
    ngx_str_t *b64)
{
    u_char     *p;
    size_t      i, len;
    ngx_str_t   line;

    line.data = ngx_pnalloc(pool, ngx_base64_encoded_length(der->len));
    if (line.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64(&line, der);

    len = line.len + (line.len + NGX_HTTP_CERTMATE_EST_LINE - 1)
                     / NGX_HTTP_CERTMATE_EST_LINE;

    b64->data = ngx_pnalloc(pool, len);
    if (b64->data == NULL) {
        return NGX_ERROR;
    }

    p = b64->data;

    for (i = 0; i < line.len; i += NGX_HTTP_CERTMATE_EST_LINE) {
        p = ngx_cpymem(p, line.data + i,
                       ngx_min(line.len - i, NGX_HTTP_CERTMATE_EST_LINE));
        *p++ = '\n';
    }

    b64->len = p - b64->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_est_send(ngx_http_request_t *r, char *type, ngx_str_t *b64)
{
    if (ngx_http_certmate_est_header(r, "Content-Transfer-Encoding",
                                     "base64")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_send(r, NGX_HTTP_OK, type, b64);
}


/* serverkeygen (RFC 7030, 4.4.2): the PKCS#8 key, then the certificate */

static ngx_int_t
ngx_http_certmate_est_multipart(ngx_http_request_t *r, EVP_PKEY *key,
    ngx_str_t *p7)
{
    int                    len;
    u_char                *p;
    ngx_int_t              rc;
    ngx_str_t              der, b64, body;
    PKCS8_PRIV_KEY_INFO   *p8;

    p8 = EVP_PKEY2PKCS8(key);
    if (p8 == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = NGX_ERROR;

    len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    der.data = (len > 0) ? ngx_pnalloc(r->pool, len) : NULL;

    if (der.data) {
        p = der.data;
        der.len = i2d_PKCS8_PRIV_KEY_INFO(p8, &p);

        rc = ngx_http_certmate_est_base64(r->pool, &der, &b64);

        OPENSSL_cleanse(der.data, der.len);
    }

    PKCS8_PRIV_KEY_INFO_free(p8);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

#define NGX_HTTP_CERTMATE_EST_PART(type)                                      \
    "--" NGX_HTTP_CERTMATE_EST_BOUNDARY "\r\n"                                \
    "Content-Type: " type "\r\n"                                              \
    "Content-Transfer-Encoding: base64\r\n"                                   \
    "\r\n"

    body.len = sizeof(NGX_HTTP_CERTMATE_EST_PART("application/pkcs8")) - 1
               + b64.len
               + sizeof("\r\n") - 1
               + sizeof(NGX_HTTP_CERTMATE_EST_PART(
                            "application/pkcs7-mime; smime-type=certs-only"))
               - 1
               + p7->len
               + sizeof("\r\n--" NGX_HTTP_CERTMATE_EST_BOUNDARY "--\r\n") - 1;

    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data,
                   NGX_HTTP_CERTMATE_EST_PART("application/pkcs8"),
                   sizeof(NGX_HTTP_CERTMATE_EST_PART("application/pkcs8"))
                   - 1);
    p = ngx_cpymem(p, b64.data, b64.len);
    p = ngx_cpymem(p, "\r\n", 2);
    p = ngx_cpymem(p,
                   NGX_HTTP_CERTMATE_EST_PART(
                       "application/pkcs7-mime; smime-type=certs-only"),
                   sizeof(NGX_HTTP_CERTMATE_EST_PART(
                              "application/pkcs7-mime; smime-type=certs-only"))
                   - 1);
    p = ngx_cpymem(p, p7->data, p7->len);
    p = ngx_cpymem(p, "\r\n--" NGX_HTTP_CERTMATE_EST_BOUNDARY "--\r\n",
                   sizeof("\r\n--" NGX_HTTP_CERTMATE_EST_BOUNDARY "--\r\n")
                   - 1);

#undef NGX_HTTP_CERTMATE_EST_PART

    if (ngx_http_certmate_est_header(r, "Cache-Control", "no-store")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_send(r, NGX_HTTP_OK,
                                  "multipart/mixed; boundary="
                                  NGX_HTTP_CERTMATE_EST_BOUNDARY,
                                  &body);
}


static ngx_int_t
ngx_http_certmate_est_header(ngx_http_request_t *r, char *name, char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.len = ngx_strlen(name);
    h->key.data = (u_char *) name;
    h->value.len = ngx_strlen(value);
    h->value.data = (u_char *) value;

    return NGX_OK;
}


/* 503 until the helper has made the CA, which takes it seconds */

static ngx_int_t
ngx_http_certmate_est_not_ready(ngx_http_request_t *r)
{
    ngx_certmate_problem_t  problem;

    ngx_certmate_problem(r->pool, &problem, "ca_not_ready",
                         "the helper process has not made the CA yet");

    if (ngx_http_certmate_est_header(r, "Retry-After",
                                     NGX_HTTP_CERTMATE_EST_RETRY)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_certmate_est_refuse(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        &problem);
}


/* a refusal in text, logged; 401 says which credentials to send */

static ngx_int_t
ngx_http_certmate_est_refuse(ngx_http_request_t *r, ngx_uint_t status,
    ngx_certmate_problem_t *problem)
{
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_str_t                      body;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "certmate est refused %V \"%V\": %V",
                  &r->method_name, &r->unparsed_uri, &problem->message);

    if (status == NGX_HTTP_UNAUTHORIZED
        && ngx_http_certmate_est_header(r, "WWW-Authenticate",
                                        (cmlcf->est_auth
                                         & NGX_HTTP_CERTMATE_EST_BASIC)
                                        ? "Basic realm=\"certmate EST\""
                                        : "Basic realm=\"certmate EST "
                                          "token\"")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_certmate_skip_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    body.len = problem->message.len + 1;
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, problem->message.data, problem->message.len);
    *p = '\n';

    return ngx_http_certmate_send(r, status, "text/plain", &body);
}
