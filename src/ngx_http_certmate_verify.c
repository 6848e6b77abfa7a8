
/*
 * certmate: client certificates for an mTLS gateway.
 *
 * Handshake: a server with "certmate_verify_client" asks for a client
 * certificate and verifies its chain with a verify callback of its own,
 * against a per-worker X509_STORE of the "certmate_client_ca" anchors
 * and the store's issuing CA (rebuilt when the CA record changes).  The
 * handshake completes whatever the outcome, as with nginx's
 * "ssl_verify_client": the outcome is kept as the connection's verify
 * result and acted on per request.  For a foreign certificate the
 * handshake also notes, once, the CRL distribution point and the OCSP
 * responder it names, for the helper to fetch.
 *
 * Request, in the rewrite phases (before "return" and "rewrite", whose
 * handlers run after ours): in the server's, as nginx does for its own
 * verification, a certificate that failed verification gets 495 and a
 * missing one 496 with "on" (so "error_page" for them belongs in the
 * server).  In the location's, revocation is looked up from the store
 * only: the serial's status for the built-in CA, the fetched CRLs and
 * OCSP answers for foreign CAs; revoked is 495, missing or stale data
 * refuses with "certmate_revocation hard" and admits with "soft".  Then
 * the location's "certmate_client_require" rules: 496 without a
 * certificate, 403 unless one of them admits.
 */


#include "ngx_http_certmate_verify.h"
#include "ngx_http_certmate_metrics.h"
#include "ngx_http_certmate_reply.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_store.h"


#define NGX_HTTP_CERTMATE_GOOD     1
#define NGX_HTTP_CERTMATE_REVOKED  2
#define NGX_HTTP_CERTMATE_UNKNOWN  3
#define NGX_HTTP_CERTMATE_STALE    4


/* what a request knows of its client certificate */

struct ngx_http_certmate_client_s {
    X509                      *cert;        /* NULL: none */
    long                       verify;      /* X509_V_OK, or why not */
    ngx_uint_t                 revocation;  /* 0: not looked up */
    ngx_uint_t                 reason;      /* CRLReason, when revoked */
    ngx_str_t                  profile;     /* issued by the built-in CA */
    ngx_str_t                  serial;      /* hex */
    ngx_uint_t                 counted;     /* in the metrics */
};


static void ngx_http_certmate_anchors_free(void *data);
static ngx_int_t ngx_http_certmate_anchors(ngx_conf_t *cf, ngx_str_t *file,
    STACK_OF(X509) **anchors);
static char *ngx_http_certmate_require_regex(ngx_conf_t *cf,
    ngx_str_t *value, ngx_http_certmate_require_t *rq, ngx_uint_t san);
static X509_STORE *ngx_http_certmate_trust(
    ngx_http_certmate_srv_conf_t *cmscf, SSL_CTX *ctx, ngx_log_t *log);
static int ngx_http_certmate_verify_chain(X509_STORE_CTX *x509_store,
    void *arg);
static void ngx_http_certmate_verify_note(X509 *leaf, X509 *issuer,
    ngx_log_t *log);
static ngx_int_t ngx_http_certmate_verify_handler(ngx_http_request_t *r);
static void ngx_http_certmate_verify_count(ngx_http_certmate_client_t *cl);
static ngx_int_t ngx_http_certmate_client_revoked(ngx_http_request_t *r,
    ngx_http_certmate_client_t *cl);
static ngx_http_certmate_client_t *ngx_http_certmate_client(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_certmate_client_revocation(ngx_http_request_t *r,
    ngx_http_certmate_client_t *cl);
static ngx_uint_t ngx_http_certmate_foreign(X509 *leaf, ngx_str_t *serial,
    time_t max_age, ngx_uint_t *reason, ngx_log_t *log);
static ngx_uint_t ngx_http_certmate_fresh(ngx_certmate_revocation_t *rv,
    time_t max_age);
static ngx_uint_t ngx_http_certmate_required(ngx_http_request_t *r,
    ngx_http_certmate_client_t *cl, ngx_array_t *requires);
#if (NGX_PCRE)
static ngx_uint_t ngx_http_certmate_san_match(ngx_regex_t *re, X509 *x);
#endif
static ngx_int_t ngx_http_certmate_san(ngx_pool_t *pool, X509 *x,
    ngx_str_t *text);
static ngx_str_t *ngx_http_certmate_san_value(GENERAL_NAME *gn,
    ngx_str_t *type, ngx_str_t *value, u_char *buf);
static uintptr_t ngx_http_certmate_san_escape(u_char *dst, ngx_str_t *value);
static ngx_int_t ngx_http_certmate_client_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_certmate_revocation_names[] = {
    ngx_null_string,
    ngx_string("good"),
    ngx_string("revoked"),
    ngx_string("unknown"),
    ngx_string("stale")
};


/* the client variables, by their "data" */

#define NGX_HTTP_CERTMATE_VAR_VERIFY       0
#define NGX_HTTP_CERTMATE_VAR_REVOCATION   1
#define NGX_HTTP_CERTMATE_VAR_SERIAL       2
#define NGX_HTTP_CERTMATE_VAR_SUBJECT      3
#define NGX_HTTP_CERTMATE_VAR_ISSUER       4
#define NGX_HTTP_CERTMATE_VAR_SAN          5
#define NGX_HTTP_CERTMATE_VAR_FINGERPRINT  6
#define NGX_HTTP_CERTMATE_VAR_NOT_AFTER    7


static ngx_http_variable_t  ngx_http_certmate_client_vars[] = {

    { ngx_string("certmate_client_verify"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_VERIFY,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("certmate_client_revocation"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_REVOCATION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("certmate_client_serial"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_SERIAL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("certmate_client_subject"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_SUBJECT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("certmate_client_issuer"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_ISSUER,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("certmate_client_san"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_SAN,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("certmate_client_fingerprint"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_FINGERPRINT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("certmate_client_not_after"), NULL,
      ngx_http_certmate_client_variable, NGX_HTTP_CERTMATE_VAR_NOT_AFTER,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* "certmate_verify_client on|optional|off" */

char *
ngx_http_certmate_verify_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_certmate_srv_conf_t *cmscf = conf;

    char  *rv;

    rv = ngx_conf_set_enum_slot(cf, cmd, conf);

    cmscf->verify_file = cf->conf_file->file.name.data;
    cmscf->verify_line = cf->conf_file->line;

    return rv;
}


/* "certmate_client_ca FILE" */

char *
ngx_http_certmate_client_ca(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_srv_conf_t *cmscf = conf;

    X509                           *x;
    ngx_str_t                      *value;
    ngx_uint_t                      i;
    ngx_http_certmate_main_conf_t  *cmmcf;

    if (cmscf->client_ca.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cmscf->client_ca = value[1];

    if (ngx_conf_full_name(cf->cycle, &cmscf->client_ca, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_certmate_anchors(cf, &cmscf->client_ca, &cmscf->anchors)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the helper checks fetched CRLs and OCSP answers against them */

    cmmcf = ngx_http_conf_get_module_main_conf(cf, ngx_certmate_module);

    if (cmmcf->client_cas == NULL) {
        cmmcf->client_cas = sk_X509_new_null();
        if (cmmcf->client_cas == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < (ngx_uint_t) sk_X509_num(cmscf->anchors); i++) {
        x = sk_X509_value(cmscf->anchors, i);

        if (sk_X509_push(cmmcf->client_cas, x) == 0) {
            return NGX_CONF_ERROR;
        }

        X509_up_ref(x);
    }

    return NGX_CONF_OK;
}


static void
ngx_http_certmate_anchors_free(void *data)
{
    STACK_OF(X509)  *anchors = data;

    sk_X509_pop_free(anchors, X509_free);
}


static ngx_int_t
ngx_http_certmate_anchors(ngx_conf_t *cf, ngx_str_t *file,
    STACK_OF(X509) **anchors)
{
    BIO                 *bio;
    X509                *x;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    *anchors = sk_X509_new_null();
    if (*anchors == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_certmate_anchors_free;
    cln->data = *anchors;

    bio = BIO_new_file((char *) file->data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"certmate_client_ca\" file \"%V\"",
                           file);
        ERR_clear_error();
        return NGX_ERROR;
    }

    for ( ;; ) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL) {
            break;
        }

        if (sk_X509_push(*anchors, x) == 0) {
            X509_free(x);
            BIO_free(bio);
            return NGX_ERROR;
        }
    }

    BIO_free(bio);

    /* the end of the file is an error too: PEM_R_NO_START_LINE */

    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE
        || sk_X509_num(*anchors) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"certmate_client_ca\" file \"%V\" has no "
                           "readable PEM certificates, or a damaged one",
                           file);
        ERR_clear_error();
        return NGX_ERROR;
    }

    ERR_clear_error();

    return NGX_OK;
}


/* "certmate_revocation hard|soft [max_age=TIME]" */

char *
ngx_http_certmate_revocation(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_loc_conf_t *cmlcf = conf;

    ngx_str_t  *value, v;

    if (cmlcf->revocation != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "hard") == 0) {
        cmlcf->revocation = NGX_HTTP_CERTMATE_REVOCATION_HARD;

    } else if (ngx_strcmp(value[1].data, "soft") == 0) {
        cmlcf->revocation = NGX_HTTP_CERTMATE_REVOCATION_SOFT;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\", expected \"hard\" or "
                           "\"soft\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    cmlcf->revocation_max_age = 0;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "max_age=", 8) != 0) {
        goto invalid;
    }

    v.data = value[2].data + 8;
    v.len = value[2].len - 8;

    cmlcf->revocation_max_age = ngx_parse_time(&v, 1);

    if (cmlcf->revocation_max_age == (time_t) NGX_ERROR
        || cmlcf->revocation_max_age == 0)
    {
        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected \"max_age=\" "
                       "and a time", &value[2]);
    return NGX_CONF_ERROR;
}


/* "certmate_client_require [profile=NAME] [san=REGEX] [subject=REGEX]" */

char *
ngx_http_certmate_client_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_certmate_loc_conf_t *cmlcf = conf;

    char                           *rv;
    ngx_str_t                      *value;
    ngx_uint_t                      i;
    ngx_http_certmate_require_t    *rq;
    ngx_http_certmate_main_conf_t  *cmmcf;

    if (cmlcf->requires == NGX_CONF_UNSET_PTR) {
        cmlcf->requires = ngx_array_create(cf->pool, 2,
                                           sizeof(ngx_http_certmate_require_t));
        if (cmlcf->requires == NULL) {
            return NGX_CONF_ERROR;
        }

        cmlcf->require_file = cf->conf_file->file.name.data;
        cmlcf->require_line = cf->conf_file->line;
    }

    rq = ngx_array_push(cmlcf->requires);
    if (rq == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rq, sizeof(ngx_http_certmate_require_t));

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "profile=", 8) == 0) {
            rq->profile.data = value[i].data + 8;
            rq->profile.len = value[i].len - 8;

            cmmcf = ngx_http_conf_get_module_main_conf(cf,
                                                       ngx_certmate_module);

            if (cmmcf->ca == NULL) {
                return "with \"profile=\" requires \"certmate_ca\" "
                       "before it";
            }

            if (ngx_certmate_profile_find(cmmcf, &rq->profile) == NULL
                && ngx_strcmp(rq->profile.data, "server") != 0
                && ngx_strcmp(rq->profile.data, "client") != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown profile \"%V\"", &rq->profile);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "san=", 4) == 0
            || ngx_strncmp(value[i].data, "subject=", 8) == 0)
        {
            rv = ngx_http_certmate_require_regex(cf, &value[i], rq,
                                                 value[i].data[1] == 'a');
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected \"profile=\", "
                           "\"san=\" or \"subject=\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_certmate_require_regex(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_certmate_require_t *rq, ngx_uint_t san)
{
#if (NGX_PCRE)
    ngx_regex_compile_t  rc;
    u_char               errstr[NGX_MAX_CONF_ERRSTR];

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern.data = (u_char *) ngx_strchr(value->data, '=') + 1;
    rc.pattern.len = value->data + value->len - rc.pattern.data;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (rc.pattern.len == 0 || ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid regex in \"%V\"%s%V",
                           value, rc.err.len ? ": " : "", &rc.err);
        return NGX_CONF_ERROR;
    }

    if (san) {
        rq->san = rc.regex;

    } else {
        rq->subject = rc.regex;
    }

    return NGX_CONF_OK;

#else

    return "with \"san=\" or \"subject=\" needs nginx built with PCRE";

#endif
}


ngx_int_t
ngx_http_certmate_verify_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_certmate_client_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_certmate_verify_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * in both rewrite phases, and first in each (handlers run in the
     * reverse order of their modules), so that "return" and "rewrite"
     * cannot answer before the check
     */

    h = ngx_array_push(
                   &cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_certmate_verify_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_certmate_verify_handler;

    return NGX_OK;
}


/* a server's SSL_CTX asks for client certificates and verifies them */

ngx_int_t
ngx_http_certmate_verify_ctx(ngx_conf_t *cf, ngx_http_core_srv_conf_t *cscf,
    ngx_http_certmate_srv_conf_t *cmscf, ngx_http_ssl_srv_conf_t *sscf)
{
    int                    i;
    X509_NAME             *name;
    unsigned int           len;
    EVP_MD_CTX            *md;
    STACK_OF(X509_NAME)   *names;
    u_char                 sid[SSL_MAX_SID_CTX_LENGTH];
    u_char                 buf[EVP_MAX_MD_SIZE];

    if (sscf->verify) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_verify_client\" and \"ssl_verify_client\" "
                      "cannot be used together");
        return NGX_ERROR;
    }

    SSL_CTX_set_verify(sscf->ssl.ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_verify_depth(sscf->ssl.ctx, cmscf->verify_depth);
    SSL_CTX_set_cert_verify_callback(sscf->ssl.ctx,
                                     ngx_http_certmate_verify_chain, cmscf);

    names = sk_X509_NAME_new_null();
    if (names == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; cmscf->anchors && i < sk_X509_num(cmscf->anchors); i++) {
        name = X509_NAME_dup(
                   X509_get_subject_name(sk_X509_value(cmscf->anchors, i)));

        if (name == NULL || sk_X509_NAME_push(names, name) == 0) {
            X509_NAME_free(name);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return NGX_ERROR;
        }
    }

    SSL_CTX_set_client_CA_list(sscf->ssl.ctx, names);

    /*
     * sessions of servers that trust differently must not resume here:
     * the session id context is made of the server and its trust
     */

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md, cscf->server_name.data,
                            cscf->server_name.len)
           != 1
        || EVP_DigestUpdate(md, &cmscf->verify_depth,
                            sizeof(cmscf->verify_depth))
           != 1
        || EVP_DigestUpdate(md, cmscf->client_ca.data, cmscf->client_ca.len)
           != 1
        || EVP_DigestFinal_ex(md, buf, &len) != 1)
    {
        EVP_MD_CTX_free(md);
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0, "EVP_Digest() failed");
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(md);

    ngx_memcpy(sid, buf, ngx_min(len, SSL_MAX_SID_CTX_LENGTH));

    if (SSL_CTX_set_session_id_context(sscf->ssl.ctx, sid,
                                       ngx_min(len, SSL_MAX_SID_CTX_LENGTH))
        != 1)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_session_id_context() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * After the SNI callback chose a server that verifies: its trust store
 * up to date, so that the certificate request names the current CA.
 */

void
ngx_http_certmate_verify_servername(ngx_connection_t *c,
    ngx_http_certmate_srv_conf_t *cmscf)
{
    (void) ngx_http_certmate_trust(cmscf,
                                   SSL_get_SSL_CTX(c->ssl->connection),
                                   c->log);
}


/*
 * The server's trust store, rebuilt when the CA record changed: the
 * anchors and the issuing CA, each trusted as it is (partial chains),
 * so that trusting an imported sub-CA does not trust its siblings.
 */

static X509_STORE *
ngx_http_certmate_trust(ngx_http_certmate_srv_conf_t *cmscf, SSL_CTX *ctx,
    ngx_log_t *log)
{
    int                         i, n;
    X509                       *x;
    uint64_t                    version;
    X509_NAME                  *name;
    X509_STORE                 *store;
    STACK_OF(X509_NAME)        *names;
    ngx_certmate_ca_signing_t  *ca;

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return cmscf->trust;
    }

    ca = ngx_certmate_ca_current(log);
    version = ca ? ca->version : 0;

    if (cmscf->trust && cmscf->trust_version == version) {
        ngx_certmate_store_read_end();
        return cmscf->trust;
    }

    store = X509_STORE_new();
    names = sk_X509_NAME_new_null();

    if (store == NULL || names == NULL) {
        goto failed;
    }

    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);

    n = cmscf->anchors ? sk_X509_num(cmscf->anchors) : 0;

    for (i = 0; i <= n; i++) {
        x = (i < n) ? sk_X509_value(cmscf->anchors, i) : ca ? ca->cert : NULL;

        if (x == NULL) {
            break;
        }

        name = X509_NAME_dup(X509_get_subject_name(x));

        if (name == NULL || sk_X509_NAME_push(names, name) == 0) {
            X509_NAME_free(name);
            goto failed;
        }

        if (X509_STORE_add_cert(store, x) != 1) {
            goto failed;
        }
    }

    ngx_certmate_store_read_end();

    if (ca && X509_up_ref(ca->cert) != 1) {
        goto failed;
    }

    SSL_CTX_set_client_CA_list(ctx, names);

    X509_STORE_free(cmscf->trust);
    X509_free(cmscf->trust_ca);

    cmscf->trust = store;
    cmscf->trust_ca = ca ? ca->cert : NULL;
    cmscf->trust_version = version;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, log, 0,
                   "certmate verify trust rebuilt for CA version %uL",
                   version);

    return store;

failed:

    ngx_certmate_store_read_end();

    ngx_ssl_error(NGX_LOG_ALERT, log, 0,
                  "certmate cannot build the client trust store");

    X509_STORE_free(store);
    sk_X509_NAME_pop_free(names, X509_NAME_free);

    return cmscf->trust;
}


/*
 * The handshake's chain verification.  The outcome becomes the
 * connection's verify result; the handshake goes on either way.
 */

static int
ngx_http_certmate_verify_chain(X509_STORE_CTX *x509_store, void *arg)
{
    ngx_http_certmate_srv_conf_t *cmscf = arg;

    X509              *leaf, *issuer;
    long               err;
    SSL               *ssl;
    X509_STORE        *store;
    X509_STORE_CTX    *vctx;
    ngx_connection_t  *c;

    ssl = X509_STORE_CTX_get_ex_data(x509_store,
                                     SSL_get_ex_data_X509_STORE_CTX_idx());
    c = ngx_ssl_get_connection(ssl);
    leaf = X509_STORE_CTX_get0_cert(x509_store);

    store = ngx_http_certmate_trust(cmscf, SSL_get_SSL_CTX(ssl), c->log);

    vctx = X509_STORE_CTX_new();

    if (store == NULL || vctx == NULL
        || X509_STORE_CTX_init(vctx, store, leaf,
                               X509_STORE_CTX_get0_untrusted(x509_store))
           != 1)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0,
                      "certmate cannot verify a client certificate");
        X509_STORE_CTX_free(vctx);
        X509_STORE_CTX_set_error(x509_store, X509_V_ERR_UNSPECIFIED);
        return 1;
    }

    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
    X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(vctx),
                                cmscf->verify_depth);

    if (X509_verify_cert(vctx) == 1) {
        err = X509_V_OK;

        issuer = sk_X509_value(X509_STORE_CTX_get0_chain(vctx), 1);

        /* the built-in CA's clients are known to the store already */

        if (issuer
            && (cmscf->trust_ca == NULL
                || X509_cmp(issuer, cmscf->trust_ca) != 0))
        {
            ngx_http_certmate_verify_note(leaf, issuer, c->log);
        }

    } else {
        err = X509_STORE_CTX_get_error(vctx);

        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "certmate verify client certificate: %l: %s",
                       err, X509_verify_cert_error_string(err));
    }

    X509_STORE_CTX_free(vctx);
    ERR_clear_error();

    X509_STORE_CTX_set_error(x509_store, err);

    return 1;
}


/*
 * A foreign certificate's CRL distribution point and OCSP responder,
 * noted in the store for the helper unless known already.
 */

static void
ngx_http_certmate_verify_note(X509 *leaf, X509 *issuer, ngx_log_t *log)
{
    int                          i, j;
    u_char                      *der;
    ngx_str_t                    url, cert, serial;
    DIST_POINT                  *dp;
    GENERAL_NAME                *gn;
    STACK_OF(DIST_POINT)        *dps;
    STACK_OF(OPENSSL_STRING)    *ocsp;
    u_char                       hash[SHA256_DIGEST_LENGTH];

    der = NULL;
    cert.len = i2d_X509(issuer, &der);

    if ((int) cert.len <= 0) {
        return;
    }

    cert.data = der;

    dps = X509_get_ext_d2i(leaf, NID_crl_distribution_points, NULL, NULL);

    for (i = 0; i < sk_DIST_POINT_num(dps); i++) {
        dp = sk_DIST_POINT_value(dps, i);

        if (dp->distpoint == NULL || dp->distpoint->type != 0) {
            continue;
        }

        for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname);
             j++)
        {
            gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);

            if (gn->type != GEN_URI) {
                continue;
            }

            url.data = (u_char *) ASN1_STRING_get0_data(gn->d.ia5);
            url.len = ASN1_STRING_length(gn->d.ia5);

            if (ngx_strncasecmp(url.data, (u_char *) "http://", 7) == 0
                || ngx_strncasecmp(url.data, (u_char *) "https://", 8) == 0)
            {
                (void) ngx_certmate_store_crl_want(&url, &cert, log);
            }
        }
    }

    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);

    ocsp = X509_get1_ocsp(leaf);

    if (sk_OPENSSL_STRING_num(ocsp) > 0
        && ngx_certmate_issuer_hash(X509_get_issuer_name(leaf), hash)
           == NGX_OK)
    {
        url.data = (u_char *) sk_OPENSSL_STRING_value(ocsp, 0);
        url.len = ngx_strlen(url.data);

        serial.data = (u_char *) ASN1_STRING_get0_data(
                                     X509_get0_serialNumber(leaf));
        serial.len = ASN1_STRING_length(X509_get0_serialNumber(leaf));

        (void) ngx_certmate_store_ocsp_want(hash, &serial, &url, &cert, log);
    }

    X509_email_free(ocsp);
    OPENSSL_free(der);
}


static ngx_int_t
ngx_http_certmate_verify_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_uint_t                      server;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_certmate_client_t     *cl;
    ngx_http_certmate_srv_conf_t   *cmscf;
    ngx_http_certmate_loc_conf_t   *cmlcf;

    if (r != r->main || r->error_page) {
        return NGX_DECLINED;
    }

    cmscf = ngx_http_get_module_srv_conf(r, ngx_certmate_module);
    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    if (!cmscf->verify
        || (r->connection->ssl == NULL && cmlcf->requires == NULL))
    {
        return NGX_DECLINED;
    }

    cl = ngx_http_certmate_client(r);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    server = ((ngx_uint_t) r->phase_handler
              < cmcf->phase_engine.location_rewrite_index);

    if (cl->cert == NULL) {
        if (cmscf->verify == NGX_HTTP_CERTMATE_VERIFY_OPTIONAL
            && cmlcf->requires == NULL)
        {
            if (!server) {
                ngx_http_certmate_verify_count(cl);
            }

            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client sent no required SSL certificate");
        ngx_http_certmate_verify_count(cl);
        return NGX_HTTPS_NO_CERT;
    }

    if (cl->verify != X509_V_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client SSL certificate verify error: (%l:%s)",
                      cl->verify, X509_verify_cert_error_string(cl->verify));
        ngx_http_certmate_verify_count(cl);
        return NGX_HTTPS_CERT_ERROR;
    }

    /* the server's phase: the verification only, as nginx does */

    if (server) {
        return NGX_DECLINED;
    }

    /* EST decides on revoked certificates itself, in its own way */

    rc = cmlcf->est ? NGX_OK : ngx_http_certmate_client_revoked(r, cl);

    ngx_http_certmate_verify_count(cl);

    if (rc != NGX_OK) {
        return rc;
    }

    if (cmlcf->requires
        && !ngx_http_certmate_required(r, cl, cmlcf->requires))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client SSL certificate serial %V does not meet "
                      "\"certmate_client_require\"", &cl->serial);
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_DECLINED;
}


/* the request's client certificate and its verify result */

/* a request's verification and revocation status, counted once */

static void
ngx_http_certmate_verify_count(ngx_http_certmate_client_t *cl)
{
    ngx_uint_t  result;

    if (cl->counted) {
        return;
    }

    cl->counted = 1;

    result = (cl->cert == NULL) ? NGX_CERTMATE_VERIFY_NONE
             : (cl->verify != X509_V_OK) ? NGX_CERTMATE_VERIFY_FAILED
             : NGX_CERTMATE_VERIFY_SUCCESS;

    ngx_certmate_count(verifications[result][cl->revocation]);
}


/*
 * The revocation status of a verified certificate, as the location's
 * "certmate_revocation" takes it: NGX_OK, or NGX_HTTPS_CERT_ERROR for
 * a refusal, logged
 */

static ngx_int_t
ngx_http_certmate_client_revoked(ngx_http_request_t *r,
    ngx_http_certmate_client_t *cl)
{
    ngx_http_certmate_loc_conf_t  *cmlcf;

    if (ngx_http_certmate_client_revocation(r, cl) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    switch (cl->revocation) {

    case NGX_HTTP_CERTMATE_GOOD:
        return NGX_OK;

    case NGX_HTTP_CERTMATE_REVOKED:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client SSL certificate serial %V is revoked (%V)",
                      &cl->serial, ngx_certmate_ca_reason_name(cl->reason));
        return NGX_HTTPS_CERT_ERROR;

    default:
        if (cmlcf->revocation == NGX_HTTP_CERTMATE_REVOCATION_HARD) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "client SSL certificate serial %V refused: "
                          "revocation status is %V and "
                          "\"certmate_revocation\" is hard", &cl->serial,
                          &ngx_http_certmate_revocation_names[cl->revocation]);
            return NGX_HTTPS_CERT_ERROR;
        }

        return NGX_OK;
    }
}


/*
 * The client certificate of a request, verified at the handshake (by
 * certmate or by nginx) and admitted by its revocation status:
 * NGX_OK; NGX_DECLINED: there is none such, the reason logged
 */

ngx_int_t
ngx_http_certmate_client_admitted(ngx_http_request_t *r, X509 **cert)
{
    ngx_int_t                    rc;
    ngx_http_certmate_client_t  *cl;

    cl = ngx_http_certmate_client(r);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    if (cl->cert == NULL) {
        return NGX_DECLINED;
    }

    if (cl->verify != X509_V_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client SSL certificate verify error: (%l:%s)",
                      cl->verify, X509_verify_cert_error_string(cl->verify));
        return NGX_DECLINED;
    }

    rc = ngx_http_certmate_client_revoked(r, cl);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    *cert = cl->cert;

    return NGX_OK;
}


static ngx_http_certmate_client_t *
ngx_http_certmate_client(ngx_http_request_t *r)
{
    ngx_connection_t            *c;
    ngx_http_certmate_ctx_t     *ctx;
    ngx_http_certmate_client_t  *cl;

    ctx = ngx_http_certmate_ctx(r->main);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->client) {
        return ctx->client;
    }

    cl = ngx_pcalloc(r->pool, sizeof(ngx_http_certmate_client_t));
    if (cl == NULL) {
        return NULL;
    }

    c = r->connection;

    if (c->ssl) {
        cl->cert = SSL_get0_peer_certificate(c->ssl->connection);
        cl->verify = SSL_get_verify_result(c->ssl->connection);
    }

    if (cl->cert
        && ngx_certmate_cert_serial(r->pool, cl->cert, &cl->serial)
           != NGX_OK)
    {
        return NULL;
    }

    ctx->client = cl;

    return cl;
}


/* the revocation status of a verified certificate, from the store */

static ngx_int_t
ngx_http_certmate_client_revocation(ngx_http_request_t *r,
    ngx_http_certmate_client_t *cl)
{
    ngx_int_t                      rc;
    ngx_str_t                      serial;
    ngx_certmate_serial_t          s;
    ngx_certmate_ca_signing_t     *ca;
    ngx_http_certmate_loc_conf_t  *cmlcf;

    if (cl->revocation || cl->cert == NULL || cl->verify != X509_V_OK) {
        return NGX_OK;
    }

    cmlcf = ngx_http_get_module_loc_conf(r, ngx_certmate_module);

    serial.data = (u_char *) ASN1_STRING_get0_data(
                                 X509_get0_serialNumber(cl->cert));
    serial.len = ASN1_STRING_length(X509_get0_serialNumber(cl->cert));

    if (ngx_certmate_store_read_begin(r->connection->log) != NGX_OK) {
        cl->revocation = NGX_HTTP_CERTMATE_UNKNOWN;
        return NGX_OK;
    }

    ca = ngx_certmate_ca_current(r->connection->log);

    if (ca == NULL || X509_check_issued(ca->cert, cl->cert) != X509_V_OK) {
        cl->revocation = ngx_http_certmate_foreign(cl->cert, &serial,
                                                   cmlcf->revocation_max_age,
                                                   &cl->reason,
                                                   r->connection->log);
        ngx_certmate_store_read_end();
        return NGX_OK;
    }

    rc = ngx_certmate_store_serial_get(&serial, &s, r->connection->log);

    if (rc == NGX_OK) {
        cl->revocation = (s.status == NGX_CERTMATE_SERIAL_REVOKED)
                         ? NGX_HTTP_CERTMATE_REVOKED : NGX_HTTP_CERTMATE_GOOD;
        cl->reason = s.reason;

        cl->profile.len = s.profile.len;
        cl->profile.data = ngx_pnalloc(r->pool, s.profile.len);

        if (cl->profile.data == NULL) {
            ngx_certmate_store_read_end();
            return NGX_ERROR;
        }

        ngx_memcpy(cl->profile.data, s.profile.data, s.profile.len);

    } else {
        cl->revocation = NGX_HTTP_CERTMATE_UNKNOWN;
    }

    ngx_certmate_store_read_end();

    return NGX_OK;
}


/*
 * A foreign certificate: revoked if a CRL or an OCSP answer says so,
 * good if a fresh one says so, stale if only old ones do.
 */

static ngx_uint_t
ngx_http_certmate_foreign(X509 *leaf, ngx_str_t *serial, time_t max_age,
    ngx_uint_t *reason, ngx_log_t *log)
{
    ngx_int_t                   crl, ocsp;
    ngx_certmate_revocation_t   crl_rv, ocsp_rv;
    u_char                      issuer[SHA256_DIGEST_LENGTH];

    if (ngx_certmate_issuer_hash(X509_get_issuer_name(leaf), issuer)
        != NGX_OK)
    {
        return NGX_HTTP_CERTMATE_UNKNOWN;
    }

    crl = ngx_certmate_store_crl_find(issuer, serial, &crl_rv, log);
    ocsp = ngx_certmate_store_ocsp_find(issuer, serial, &ocsp_rv, log);

    if (crl == NGX_OK && crl_rv.status == NGX_CERTMATE_SERIAL_REVOKED) {
        *reason = crl_rv.reason;
        return NGX_HTTP_CERTMATE_REVOKED;
    }

    if (ocsp == NGX_OK && ocsp_rv.status == NGX_CERTMATE_SERIAL_REVOKED) {
        *reason = ocsp_rv.reason;
        return NGX_HTTP_CERTMATE_REVOKED;
    }

    if ((ocsp == NGX_OK && ocsp_rv.status == NGX_CERTMATE_SERIAL_GOOD
         && ngx_http_certmate_fresh(&ocsp_rv, max_age))
        || (crl == NGX_OK && ngx_http_certmate_fresh(&crl_rv, max_age)))
    {
        return NGX_HTTP_CERTMATE_GOOD;
    }

    if (crl == NGX_OK
        || (ocsp == NGX_OK && ocsp_rv.status == NGX_CERTMATE_SERIAL_GOOD))
    {
        return NGX_HTTP_CERTMATE_STALE;
    }

    return NGX_HTTP_CERTMATE_UNKNOWN;
}


/* fresh: before its next update, and fetched within max_age */

static ngx_uint_t
ngx_http_certmate_fresh(ngx_certmate_revocation_t *rv, time_t max_age)
{
    time_t  now;

    now = ngx_time();

    if (rv->next_update && now >= rv->next_update) {
        return 0;
    }

    return max_age == 0 || now - rv->fetched <= max_age;
}


static ngx_uint_t
ngx_http_certmate_required(ngx_http_request_t *r,
    ngx_http_certmate_client_t *cl, ngx_array_t *requires)
{
    ngx_str_t                     subject;
    ngx_uint_t                    i;
    ngx_http_certmate_require_t  *rq;

    rq = requires->elts;

    ngx_str_null(&subject);

    for (i = 0; i < requires->nelts; i++) {

        if (rq[i].profile.len
            && (rq[i].profile.len != cl->profile.len
                || ngx_strncmp(rq[i].profile.data, cl->profile.data,
                               cl->profile.len)
                   != 0))
        {
            continue;
        }

#if (NGX_PCRE)

        if (rq[i].subject) {
            if (subject.data == NULL
                && ngx_certmate_cert_x509_name(r->pool,
                                         X509_get_subject_name(cl->cert),
                                         &subject)
                   != NGX_OK)
            {
                return 0;
            }

            if (ngx_regex_exec(rq[i].subject, &subject, NULL, 0)
                == NGX_REGEX_NO_MATCHED)
            {
                continue;
            }
        }

        if (rq[i].san && !ngx_http_certmate_san_match(rq[i].san, cl->cert))
        {
            continue;
        }

#endif

        return 1;
    }

    return 0;
}


#if (NGX_PCRE)

/* whether a subjectAltName's value matches */

static ngx_uint_t
ngx_http_certmate_san_match(ngx_regex_t *re, X509 *x)
{
    int                       i;
    ngx_str_t                 type, value;
    ngx_uint_t                matched;
    GENERAL_NAMES            *names;
    u_char                    buf[NGX_SOCKADDR_STRLEN];

    names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    matched = 0;

    for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        if (ngx_http_certmate_san_value(sk_GENERAL_NAME_value(names, i),
                                        &type, &value, buf)
            && ngx_regex_exec(re, &value, NULL, 0) >= 0)
        {
            matched = 1;
            break;
        }
    }

    GENERAL_NAMES_free(names);

    return matched;
}

#endif


/* "DNS:api.example.com,URI:spiffe://example/api,IP:192.0.2.1" */

static ngx_int_t
ngx_http_certmate_san(ngx_pool_t *pool, X509 *x, ngx_str_t *text)
{
    int              i, n;
    u_char          *p;
    size_t           len;
    ngx_str_t        type, value;
    GENERAL_NAMES   *names;
    u_char           buf[NGX_SOCKADDR_STRLEN];

    names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    n = sk_GENERAL_NAME_num(names);

    len = 0;

    for (i = 0; i < n; i++) {
        if (ngx_http_certmate_san_value(sk_GENERAL_NAME_value(names, i),
                                        &type, &value, buf))
        {
            len += type.len + 1 + value.len
                   + 2 * ngx_http_certmate_san_escape(NULL, &value) + 1;
        }
    }

    text->data = ngx_pnalloc(pool, len + 1);
    if (text->data == NULL) {
        GENERAL_NAMES_free(names);
        return NGX_ERROR;
    }

    p = text->data;

    for (i = 0; i < n; i++) {
        if (ngx_http_certmate_san_value(sk_GENERAL_NAME_value(names, i),
                                        &type, &value, buf))
        {
            if (p != text->data) {
                *p++ = ',';
            }

            p = ngx_sprintf(p, "%V:", &type);
            p = (u_char *) ngx_http_certmate_san_escape(p, &value);
        }
    }

    text->len = p - text->data;

    GENERAL_NAMES_free(names);

    return NGX_OK;
}


/* the type and value of a DNS, email, URI or IP subjectAltName */

static ngx_str_t *
ngx_http_certmate_san_value(GENERAL_NAME *gn, ngx_str_t *type,
    ngx_str_t *value, u_char *buf)
{
    int  family;

    switch (gn->type) {

    case GEN_DNS:
        ngx_str_set(type, "DNS");
        break;

    case GEN_EMAIL:
        ngx_str_set(type, "email");
        break;

    case GEN_URI:
        ngx_str_set(type, "URI");
        break;

    case GEN_IPADD:
        ngx_str_set(type, "IP");

        if (ASN1_STRING_length(gn->d.ip) == 4) {
            family = AF_INET;

#if (NGX_HAVE_INET6)
        } else if (ASN1_STRING_length(gn->d.ip) == 16) {
            family = AF_INET6;
#endif

        } else {
            return NULL;
        }

        value->data = buf;
        value->len = ngx_inet_ntop(family,
                                   (void *) ASN1_STRING_get0_data(gn->d.ip),
                                   buf, NGX_SOCKADDR_STRLEN);
        return value;

    default:
        return NULL;
    }

    value->data = (u_char *) ASN1_STRING_get0_data(gn->d.ia5);
    value->len = ASN1_STRING_length(gn->d.ia5);

    return value;
}


/*
 * A subjectAltName's value with control characters, bytes outside
 * printable ASCII and the backslash as "\XX", as OpenSSL escapes
 * control characters in the RFC 2253 subject: a certificate cannot put
 * CR or LF into a header made of $certmate_client_san.  Without "dst",
 * the number of bytes to escape.
 */

static uintptr_t
ngx_http_certmate_san_escape(u_char *dst, ngx_str_t *value)
{
    u_char      c, *p, *last;
    uintptr_t   n;

    static u_char  hex[] = "0123456789ABCDEF";

    last = value->data + value->len;

    if (dst == NULL) {
        n = 0;

        for (p = value->data; p < last; p++) {
            if (*p < 0x20 || *p > 0x7e || *p == '\\') {
                n++;
            }
        }

        return n;
    }

    for (p = value->data; p < last; p++) {
        c = *p;

        if (c < 0x20 || c > 0x7e || c == '\\') {
            *dst++ = '\\';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
            continue;
        }

        *dst++ = c;
    }

    return (uintptr_t) dst;
}


static ngx_int_t
ngx_http_certmate_client_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_str_t                    s;
    ngx_tm_t                     tm;
    unsigned int                 len;
    ngx_http_certmate_client_t  *cl;
    u_char                       md[EVP_MAX_MD_SIZE];

    cl = ngx_http_certmate_client(r);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    if (data == NGX_HTTP_CERTMATE_VAR_VERIFY) {
        if (cl->cert == NULL) {
            ngx_str_set(&s, "NONE");

        } else if (cl->verify == X509_V_OK) {
            if (ngx_http_certmate_client_revocation(r, cl) != NGX_OK) {
                return NGX_ERROR;
            }

            if (cl->revocation == NGX_HTTP_CERTMATE_REVOKED) {
                ngx_str_set(&s, "FAILED:certificate revoked");

            } else {
                ngx_str_set(&s, "SUCCESS");
            }

        } else {
            p = (u_char *) X509_verify_cert_error_string(cl->verify);

            s.len = sizeof("FAILED:") - 1 + ngx_strlen(p);
            s.data = ngx_pnalloc(r->pool, s.len);
            if (s.data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(s.data, "FAILED:%s", p);
        }

        goto done;
    }

    if (cl->cert == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_CERTMATE_VAR_REVOCATION:
        if (ngx_http_certmate_client_revocation(r, cl) != NGX_OK) {
            return NGX_ERROR;
        }

        s = ngx_http_certmate_revocation_names[cl->revocation];
        break;

    case NGX_HTTP_CERTMATE_VAR_SERIAL:
        s = cl->serial;
        break;

    case NGX_HTTP_CERTMATE_VAR_SUBJECT:
    case NGX_HTTP_CERTMATE_VAR_ISSUER:
        if (ngx_certmate_cert_x509_name(r->pool,
                                  data == NGX_HTTP_CERTMATE_VAR_SUBJECT
                                  ? X509_get_subject_name(cl->cert)
                                  : X509_get_issuer_name(cl->cert),
                                  &s)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_CERTMATE_VAR_SAN:
        if (ngx_http_certmate_san(r->pool, cl->cert, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_CERTMATE_VAR_FINGERPRINT:
        if (X509_digest(cl->cert, EVP_sha256(), md, &len) != 1) {
            return NGX_ERROR;
        }

        s.data = ngx_pnalloc(r->pool, 2 * len);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        s.len = ngx_hex_dump(s.data, md, len) - s.data;
        break;

    default: /* NGX_HTTP_CERTMATE_VAR_NOT_AFTER */
        ngx_gmtime(ngx_certmate_cert_time(X509_get0_notAfter(cl->cert)), &tm);

        s.data = ngx_pnalloc(r->pool, sizeof("2026-01-01T00:00:00Z") - 1);
        if (s.data == NULL) {
            return NGX_ERROR;
        }

        s.len = ngx_sprintf(s.data, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                            tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                            tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
                - s.data;
        break;
    }

done:

    v->len = s.len;
    v->data = s.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
