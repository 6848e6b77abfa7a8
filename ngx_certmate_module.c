
/*
 * certmate: an nginx module that serves TLS certificates per SNI name
 * from a shared LMDB store and manages them.
 *
 * This file holds the directives, the configuration structures and the
 * process hooks; the work is in src/.
 */


#include "ngx_certmate.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_cache.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_helper.h"
#include "ngx_certmate_notify.h"
#include "ngx_certmate_revocation.h"
#include "ngx_certmate_store.h"
#include "ngx_http_certmate_admin.h"
#include "ngx_http_certmate_challenge.h"
#include "ngx_http_certmate_crl.h"
#include "ngx_http_certmate_est.h"
#include "ngx_http_certmate_metrics.h"
#include "ngx_http_certmate_ocsp.h"
#include "ngx_http_certmate_ssl.h"
#include "ngx_http_certmate_verify.h"

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif


#define NGX_HTTP_CERTMATE_MAX_SIZE      (4ULL * 1024 * 1024 * 1024)
#define NGX_HTTP_CERTMATE_MIN_SIZE      (64 * 1024)
#define NGX_HTTP_CERTMATE_CACHE_SIZE    10000
#define NGX_HTTP_CERTMATE_ACME_RETRY    60
#define NGX_HTTP_CERTMATE_ACME_TIMEOUT  30000
#define NGX_HTTP_CERTMATE_PROFILE_VALIDITY  (90 * 86400)


static ngx_int_t ngx_http_certmate_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_certmate_init(ngx_conf_t *cf);
static void *ngx_http_certmate_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_certmate_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_certmate_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_certmate_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_certmate_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_certmate_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_certmate_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_certificate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_default_name(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_certmate_merge_acme(ngx_conf_t *cf,
    ngx_http_certmate_srv_conf_t *cmscf);
static char *ngx_http_certmate_acme_name(ngx_conf_t *cf,
    ngx_http_certmate_srv_conf_t *cmscf, ngx_certmate_acme_issuer_t *issuer,
    ngx_str_t *name);
static char *ngx_http_certmate_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_admin_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_acme_issuer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_acme(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_ca(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_profile(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_notify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_location(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_location_param(ngx_conf_t *cf,
    ngx_http_certmate_loc_conf_t *cmlcf, ngx_str_t *param);
static char *ngx_http_certmate_est_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_est_profile(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_certmate_merge_est(ngx_conf_t *cf,
    ngx_http_certmate_loc_conf_t *cmlcf);
static ngx_int_t ngx_http_certmate_certificate_id_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_certmate_init_process(ngx_cycle_t *cycle);
static void ngx_http_certmate_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_certmate_cache_bounds = {
    ngx_conf_check_num_bounds, 1, -1
};


static ngx_conf_post_t  ngx_http_certmate_default_name_post = {
    ngx_http_certmate_default_name
};


static ngx_conf_enum_t  ngx_http_certmate_verify_client_values[] = {
    { ngx_string("off"), 0 },
    { ngx_string("on"), NGX_HTTP_CERTMATE_VERIFY_ON },
    { ngx_string("optional"), NGX_HTTP_CERTMATE_VERIFY_OPTIONAL },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_certmate_verify_depth_bounds = {
    ngx_conf_check_num_bounds, 0, 100
};


static ngx_command_t  ngx_http_certmate_commands[] = {

    { ngx_string("certmate_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_certmate_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_certificate_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_certmate_main_conf_t, cache_size),
      &ngx_http_certmate_cache_bounds },

    { ngx_string("certmate_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_http_certmate_certificate,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_certmate_srv_conf_t, certificate),
      NULL },

    { ngx_string("certmate_default_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_certmate_srv_conf_t, default_name),
      &ngx_http_certmate_default_name_post },

    { ngx_string("certmate_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_certmate_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_admin_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_certmate_admin_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_acme_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_certmate_acme_issuer,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_acme"),
      NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_certmate_acme,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_ca"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_http_certmate_ca,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_profile"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_certmate_profile,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_crl"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_certmate_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_ocsp"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_certmate_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_certmate_audit_log,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_notify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_certmate_notify,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_certmate_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_est"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_certmate_location,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_est_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_certmate_est_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_est_profile"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_certmate_est_profile,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_verify_client"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_certmate_verify_client,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_certmate_srv_conf_t, verify),
      &ngx_http_certmate_verify_client_values },

    { ngx_string("certmate_verify_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_certmate_srv_conf_t, verify_depth),
      &ngx_http_certmate_verify_depth_bounds },

    { ngx_string("certmate_client_ca"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_certmate_client_ca,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_revocation"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_certmate_revocation,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_crl_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_certmate_crl_fetch,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("certmate_client_require"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_certmate_client_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_certmate_module_ctx = {
    ngx_http_certmate_add_variables,       /* preconfiguration */
    ngx_http_certmate_init,                /* postconfiguration */

    ngx_http_certmate_create_main_conf,    /* create main configuration */
    ngx_http_certmate_init_main_conf,      /* init main configuration */

    ngx_http_certmate_create_srv_conf,     /* create server configuration */
    ngx_http_certmate_merge_srv_conf,      /* merge server configuration */

    ngx_http_certmate_create_loc_conf,     /* create location configuration */
    ngx_http_certmate_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_certmate_module = {
    NGX_MODULE_V1,
    &ngx_http_certmate_module_ctx,         /* module context */
    ngx_http_certmate_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_certmate_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_certmate_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_certmate_vars[] = {

    { ngx_string("certmate_certificate_id"), NULL,
      ngx_http_certmate_certificate_id_variable, 0, 0, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_certmate_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_certmate_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return ngx_http_certmate_verify_add_variables(cf);
}


static ngx_int_t
ngx_http_certmate_init(ngx_conf_t *cf)
{
    ngx_http_certmate_main_conf_t  *cmmcf;

    cmmcf = ngx_http_conf_get_module_main_conf(cf, ngx_certmate_module);

    if (cmmcf->store == NULL) {
        return NGX_OK;
    }

    if (cmmcf->acme_names.nelts
        && ngx_http_certmate_challenge_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_certmate_verify_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_certmate_ssl_init(cf);
}


static void *
ngx_http_certmate_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_certmate_main_conf_t  *cmmcf;

    cmmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_certmate_main_conf_t));
    if (cmmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmmcf->store = NULL;
     *     cmmcf->max_size = 0;
     *     cmmcf->ca = NULL;
     *     cmmcf->client_cas = NULL;
     *     cmmcf->audit_log = { 0, NULL };
     */

    if (ngx_array_init(&cmmcf->issuers, cf->pool, 1,
                       sizeof(ngx_certmate_acme_issuer_t))
        != NGX_OK
        || ngx_array_init(&cmmcf->acme_names, cf->pool, 4,
                          sizeof(ngx_certmate_acme_name_t))
           != NGX_OK
        || ngx_array_init(&cmmcf->profiles, cf->pool, 2,
                          sizeof(ngx_certmate_profile_t))
           != NGX_OK
        || ngx_array_init(&cmmcf->crl_fetches, cf->pool, 1,
                          sizeof(ngx_certmate_crl_fetch_t))
           != NGX_OK
        || ngx_array_init(&cmmcf->notifies, cf->pool, 1,
                          sizeof(ngx_certmate_notify_t))
           != NGX_OK)
    {
        return NULL;
    }

    cmmcf->cache_size = NGX_CONF_UNSET_UINT;

    return cmmcf;
}


static char *
ngx_http_certmate_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    ngx_uint_t                 i;
    ngx_certmate_notify_t     *notify;
    ngx_certmate_profile_t    *profile;
    ngx_certmate_crl_fetch_t  *fetch;

    static ngx_str_t  defaults[] = {
        ngx_string("server"),
        ngx_string("client")
    };

    ngx_conf_init_uint_value(cmmcf->cache_size, NGX_HTTP_CERTMATE_CACHE_SIZE);

    if (cmmcf->ca && cmmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_ca\" in %s:%ui requires "
                      "\"certmate_store\"", cmmcf->ca->file, cmmcf->ca->line);
        return NGX_CONF_ERROR;
    }

    if (cmmcf->notifies.nelts && cmmcf->store == NULL) {
        notify = cmmcf->notifies.elts;
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_notify\" in %s:%ui requires "
                      "\"certmate_store\"", notify->file, notify->line);
        return NGX_CONF_ERROR;
    }

    if (cmmcf->audit_log.len && cmmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_audit_log\" requires \"certmate_store\"");
        return NGX_CONF_ERROR;
    }

    fetch = cmmcf->crl_fetches.elts;

    if (cmmcf->crl_fetches.nelts && cmmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_crl_fetch\" in %s:%ui requires "
                      "\"certmate_store\"", fetch[0].file, fetch[0].line);
        return NGX_CONF_ERROR;
    }

    profile = cmmcf->profiles.elts;

    if (cmmcf->ca == NULL && cmmcf->profiles.nelts) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_profile\" in %s:%ui requires "
                      "\"certmate_ca\"", profile[0].file, profile[0].line);
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)

    /*
     * The writes of the admin API and EST, and the RSA keys they make,
     * go to the "default" thread pool: 32 threads unless a "thread_pool
     * default" says otherwise
     */

    if (cmmcf->store && ngx_thread_pool_add(cf, NULL) == NULL) {
        return NGX_CONF_ERROR;
    }

#endif

    if (cmmcf->ca == NULL) {
        return NGX_CONF_OK;
    }

    /* the profiles "server" and "client", unless configured */

    for (i = 0; i < 2; i++) {
        if (ngx_certmate_profile_find(cmmcf, &defaults[i])) {
            continue;
        }

        profile = ngx_array_push(&cmmcf->profiles);
        if (profile == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(profile, sizeof(ngx_certmate_profile_t));

        profile->name = defaults[i];
        profile->usage = i ? NGX_CERTMATE_USAGE_CLIENT
                           : NGX_CERTMATE_USAGE_SERVER;
        profile->key_types = NGX_CERTMATE_KEY_ALL;
        profile->key_type = NGX_CERTMATE_KEY_EC_P256;
        profile->validity = NGX_HTTP_CERTMATE_PROFILE_VALIDITY;
        profile->max_validity = NGX_HTTP_CERTMATE_PROFILE_VALIDITY;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_certmate_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_certmate_srv_conf_t  *cmscf;

    cmscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_certmate_srv_conf_t));
    if (cmscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmscf->default_name = { 0, NULL };
     *     cmscf->fallback = 0;
     *     cmscf->file = NULL;
     *     cmscf->line = 0;
     *     cmscf->acme = NULL;
     *     cmscf->acme_file = NULL;
     *     cmscf->acme_line = 0;
     *     cmscf->verify_file = NULL;
     *     cmscf->verify_line = 0;
     *     cmscf->client_ca = { 0, NULL };
     *     cmscf->anchors = NULL;
     *     cmscf->trust = NULL;
     *     cmscf->trust_ca = NULL;
     *     cmscf->trust_version = 0;
     */

    cmscf->certificate = NGX_CONF_UNSET;
    cmscf->verify = NGX_CONF_UNSET_UINT;
    cmscf->verify_depth = NGX_CONF_UNSET;

    return cmscf;
}


static char *
ngx_http_certmate_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_certmate_srv_conf_t *prev = parent;
    ngx_http_certmate_srv_conf_t *conf = child;

    ngx_http_certmate_main_conf_t  *cmmcf;

    if (conf->acme && conf->certificate == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_acme\" in %s:%ui needs "
                      "\"certmate_certificate on\"",
                      conf->acme_file, conf->acme_line);
        return NGX_CONF_ERROR;
    }

    if (conf->acme && conf->certificate == NGX_CONF_UNSET) {
        conf->certificate = 1;
        conf->file = conf->acme_file;
        conf->line = conf->acme_line;
    }

    if (conf->certificate == NGX_CONF_UNSET) {
        conf->certificate = prev->certificate;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_value(conf->certificate, prev->certificate, 0);
    ngx_conf_merge_str_value(conf->default_name, prev->default_name, "");

    if (conf->verify == NGX_CONF_UNSET_UINT) {
        conf->verify_file = prev->verify_file;
        conf->verify_line = prev->verify_line;
    }

    ngx_conf_merge_uint_value(conf->verify, prev->verify, 0);
    ngx_conf_merge_value(conf->verify_depth, prev->verify_depth, 1);

    if (conf->client_ca.data == NULL) {
        conf->client_ca = prev->client_ca;
        conf->anchors = prev->anchors;
    }

    cmmcf = ngx_http_conf_get_module_main_conf(cf, ngx_certmate_module);

    if (conf->verify && cmmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_verify_client\" in %s:%ui requires "
                      "\"certmate_store\"",
                      conf->verify_file, conf->verify_line);
        return NGX_CONF_ERROR;
    }

    if (conf->certificate && cmmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" in %s:%ui requires \"certmate_store\"",
                      conf->acme ? "certmate_acme" : "certmate_certificate",
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (conf->acme) {
        return ngx_http_certmate_merge_acme(cf, conf);
    }

    return NGX_CONF_OK;
}


/* the issuer and names of "certmate_acme", checked against the others */

static char *
ngx_http_certmate_merge_acme(ngx_conf_t *cf,
    ngx_http_certmate_srv_conf_t *cmscf)
{
    char                           *rv;
    ngx_str_t                      *value;
    ngx_uint_t                      i, n;
    ngx_http_server_name_t         *sn;
    ngx_http_core_srv_conf_t       *cscf;
    ngx_certmate_acme_issuer_t     *issuer;
    ngx_http_certmate_main_conf_t  *cmmcf;

    cmmcf = ngx_http_conf_get_module_main_conf(cf, ngx_certmate_module);
    value = cmscf->acme->elts;

    issuer = cmmcf->issuers.elts;

    for (i = 0; i < cmmcf->issuers.nelts; i++) {
        if (issuer[i].name.len == value[0].len
            && ngx_strncmp(issuer[i].name.data, value[0].data, value[0].len)
               == 0)
        {
            break;
        }
    }

    if (i == cmmcf->issuers.nelts) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_acme\" in %s:%ui names the issuer "
                      "\"%V\", which no \"certmate_acme_issuer\" defines",
                      cmscf->acme_file, cmscf->acme_line, &value[0]);
        return NGX_CONF_ERROR;
    }

    issuer = &issuer[i];
    n = cmmcf->acme_names.nelts;

    if (cmscf->acme->nelts > 1) {
        for (i = 1; i < cmscf->acme->nelts; i++) {
            rv = ngx_http_certmate_acme_name(cf, cmscf, issuer, &value[i]);
            if (rv != NGX_CONF_OK) {
                return rv;
            }
        }

    } else {
        cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
        sn = cscf->server_names.elts;

        for (i = 0; i < cscf->server_names.nelts; i++) {

            if (sn[i].name.len == 0) {
                continue;
            }

#if (NGX_PCRE)
            if (sn[i].regex) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"certmate_acme\" in %s:%ui cannot take "
                              "the regex server name \"~%V\": list the names "
                              "after the issuer", cmscf->acme_file,
                              cmscf->acme_line, &sn[i].name);
                return NGX_CONF_ERROR;
            }
#endif

            rv = ngx_http_certmate_acme_name(cf, cmscf, issuer, &sn[i].name);
            if (rv != NGX_CONF_OK) {
                return rv;
            }
        }
    }

    if (cmmcf->acme_names.nelts == n) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_acme\" in %s:%ui has no names: give them "
                      "after the issuer or in \"server_name\"",
                      cmscf->acme_file, cmscf->acme_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_certmate_acme_name(ngx_conf_t *cf,
    ngx_http_certmate_srv_conf_t *cmscf, ngx_certmate_acme_issuer_t *issuer,
    ngx_str_t *name)
{
    ngx_str_t                       low;
    ngx_uint_t                      i;
    ngx_certmate_acme_name_t       *an;
    ngx_http_certmate_main_conf_t  *cmmcf;

    if (ngx_strlchr(name->data, name->data + name->len, '*')
        || name->data[0] == '.'
        || name->data[name->len - 1] == '.'
        || ngx_strlchr(name->data, name->data + name->len, '.') == NULL
        || ngx_certmate_name_valid(name) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_acme\" in %s:%ui cannot get a certificate "
                      "for \"%V\": HTTP-01 proves only exact DNS names",
                      cmscf->acme_file, cmscf->acme_line, name);
        return NGX_CONF_ERROR;
    }

    low.len = name->len;
    low.data = ngx_pnalloc(cf->pool, low.len);
    if (low.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_strlow(low.data, name->data, low.len);

    cmmcf = ngx_http_conf_get_module_main_conf(cf, ngx_certmate_module);
    an = cmmcf->acme_names.elts;

    for (i = 0; i < cmmcf->acme_names.nelts; i++) {
        if (an[i].name.len == low.len
            && ngx_strncmp(an[i].name.data, low.data, low.len) == 0)
        {
            if (an[i].file == cmscf->acme_file
                && an[i].line == cmscf->acme_line)
            {
                return NGX_CONF_OK;
            }

            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"certmate_acme\" in %s:%ui names \"%V\", "
                          "which \"certmate_acme\" in %s:%ui keeps already",
                          cmscf->acme_file, cmscf->acme_line, &low,
                          an[i].file, an[i].line);
            return NGX_CONF_ERROR;
        }
    }

    an = ngx_array_push(&cmmcf->acme_names);
    if (an == NULL) {
        return NGX_CONF_ERROR;
    }

    an->name = low;
    an->issuer = issuer;
    an->file = cmscf->acme_file;
    an->line = cmscf->acme_line;

    return NGX_CONF_OK;
}


static void *
ngx_http_certmate_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_certmate_loc_conf_t  *cmlcf;

    cmlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_certmate_loc_conf_t));
    if (cmlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     cmlcf->admin = 0;
     *     cmlcf->crl = 0;
     *     cmlcf->metrics = 0;
     *     cmlcf->ocsp_signer = 0;
     *     cmlcf->prefix = { 0, NULL };
     *     cmlcf->body_limit = 0;
     *     cmlcf->revocation_max_age = 0;
     *     cmlcf->require_file = NULL;
     *     cmlcf->require_line = 0;
     *     cmlcf->est = 0;
     *     cmlcf->est_revoke_superseded = 0;
     *     cmlcf->est_passwd = { 0, NULL };
     *     cmlcf->file = NULL;
     *     cmlcf->line = 0;
     */

    cmlcf->tokens = NGX_CONF_UNSET_PTR;
    cmlcf->revocation = NGX_CONF_UNSET_UINT;
    cmlcf->requires = NGX_CONF_UNSET_PTR;
    cmlcf->est_auth = NGX_CONF_UNSET_UINT;
    cmlcf->est_labels = NGX_CONF_UNSET_PTR;

    return cmlcf;
}


static char *
ngx_http_certmate_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_certmate_loc_conf_t *prev = parent;
    ngx_http_certmate_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_certmate_srv_conf_t   *cmscf;
    ngx_http_certmate_main_conf_t  *cmmcf;

    ngx_conf_merge_ptr_value(conf->tokens, prev->tokens, NULL);

    if (conf->revocation == NGX_CONF_UNSET_UINT) {
        conf->revocation_max_age = prev->revocation_max_age;
    }

    ngx_conf_merge_uint_value(conf->revocation, prev->revocation,
                              NGX_HTTP_CERTMATE_REVOCATION_SOFT);

    if (conf->requires == NGX_CONF_UNSET_PTR) {
        conf->require_file = prev->require_file;
        conf->require_line = prev->require_line;
    }

    ngx_conf_merge_ptr_value(conf->requires, prev->requires, NULL);

    if (conf->est_auth == NGX_CONF_UNSET_UINT) {
        conf->est_passwd = prev->est_passwd;
    }

    ngx_conf_merge_uint_value(conf->est_auth, prev->est_auth, 0);
    ngx_conf_merge_ptr_value(conf->est_labels, prev->est_labels, NULL);

    cmscf = ngx_http_conf_get_module_srv_conf(cf, ngx_certmate_module);

    if (conf->requires && !cmscf->verify) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_client_require\" in %s:%ui needs "
                      "\"certmate_verify_client\" in its server",
                      conf->require_file, conf->require_line);
        return NGX_CONF_ERROR;
    }

    cmmcf = ngx_http_conf_get_module_main_conf(cf, ngx_certmate_module);

    if ((conf->crl || conf->ocsp_signer || conf->est) && cmmcf->ca == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" in %s:%ui requires \"certmate_ca\"",
                      conf->crl ? "certmate_crl"
                      : conf->est ? "certmate_est" : "certmate_ocsp",
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (conf->metrics && cmmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_metrics\" in %s:%ui requires "
                      "\"certmate_store\"", conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (conf->est) {
        return ngx_http_certmate_merge_est(cf, conf);
    }

    if (!conf->admin) {
        return NGX_CONF_OK;
    }

    if (cmmcf->store == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_admin\" in %s:%ui requires "
                      "\"certmate_store\"", conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (conf->tokens == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_admin\" in %s:%ui has no "
                      "\"certmate_admin_token\"", conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    /*
     * the admin API enforces "client_max_body_size" itself,
     * to answer in JSON
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    conf->body_limit = clcf->client_max_body_size;
    clcf->client_max_body_size = 0;

    return NGX_CONF_OK;
}


static char *
ngx_http_certmate_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    off_t        size;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_path_t  *path;

    if (cmmcf->store) {
        return "is duplicate";
    }

    value = cf->args->elts;

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = value[1];

    if (path->name.len > 1 && path->name.data[path->name.len - 1] == '/') {
        path->name.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &path->name, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cmmcf->max_size = NGX_HTTP_CERTMATE_MAX_SIZE;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {

            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_offset(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_size value \"%V\"", &s);
                return NGX_CONF_ERROR;
            }

            if (size < NGX_HTTP_CERTMATE_MIN_SIZE) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "max_size \"%V\" is too small, "
                                   "the minimum is 64k", &s);
                return NGX_CONF_ERROR;
            }

            cmmcf->max_size = (size_t) size;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", "
                           "expected \"max_size=\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    /* nginx creates the directory for the worker user and runs the helper */

    path->manager = ngx_certmate_helper_manager;
    path->data = cmmcf;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK
        || ngx_http_certmate_metrics_zone(cf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cmmcf->store = path;

    return NGX_CONF_OK;
}


static char *
ngx_http_certmate_certificate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_srv_conf_t *cmscf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    cmscf->file = cf->conf_file->file.name.data;
    cmscf->line = cf->conf_file->line;

    if (!cmscf->certificate) {
        return NGX_CONF_OK;
    }

    return ngx_http_certmate_ssl_enable(cf);
}


static char *
ngx_http_certmate_default_name(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *name = data;

    if (name->len == 0 || name->len > NGX_CERTMATE_NAME_MAX
        || ngx_strlchr(name->data, name->data + name->len, '/'))
    {
        return "has an invalid name";
    }

    ngx_strlow(name->data, name->data, name->len);

    return NGX_CONF_OK;
}


static char *
ngx_http_certmate_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_loc_conf_t *cmlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (cmlcf->admin) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

#if (NGX_PCRE)
    if (clcf->regex) {
        return "cannot be used in a regex location";
    }
#endif

    if (clcf->named) {
        return "cannot be used in a named location";
    }

    cmlcf->admin = 1;
    cmlcf->prefix = clcf->name;
    cmlcf->file = cf->conf_file->file.name.data;
    cmlcf->line = cf->conf_file->line;

    clcf->handler = ngx_http_certmate_admin_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_certmate_admin_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_loc_conf_t *cmlcf = conf;

    u_char                     *hex;
    ngx_str_t                  *value, hash;
    ngx_uint_t                  i;
    ngx_http_certmate_token_t  *token;

    value = cf->args->elts;

    if (cmlcf->tokens == NGX_CONF_UNSET_PTR) {
        cmlcf->tokens = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_certmate_token_t));
        if (cmlcf->tokens == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    token = cmlcf->tokens->elts;

    for (i = 0; i < cmlcf->tokens->nelts; i++) {
        if (token[i].name.len == value[1].len
            && ngx_strncmp(token[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate token name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[2].len != sizeof("sha256:") - 1 + 2 * SHA256_DIGEST_LENGTH
        || ngx_strncmp(value[2].data, "sha256:", sizeof("sha256:") - 1) != 0)
    {
        goto invalid;
    }

    token = ngx_array_push(cmlcf->tokens);
    if (token == NULL) {
        return NGX_CONF_ERROR;
    }

    token->name = value[1];

    hex = value[2].data + sizeof("sha256:") - 1;

    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hash.data = hex + 2 * i;
        hash.len = 2;

        if (ngx_hextoi(hash.data, hash.len) == NGX_ERROR) {
            goto invalid;
        }

        token->hash[i] = (u_char) ngx_hextoi(hash.data, hash.len);
    }

    return NGX_CONF_OK;

invalid:

    /* the value is not shown: it may be the token itself */

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid hash of token \"%V\", expected \"sha256:\" "
                       "and 64 hex digits", &value[1]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_certmate_acme_issuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    ngx_int_t                    type;
    ngx_str_t                   *value, v;
    ngx_uint_t                   i;
    ngx_certmate_acme_issuer_t  *issuer;

    value = cf->args->elts;
    issuer = cmmcf->issuers.elts;

    for (i = 0; i < cmmcf->issuers.nelts; i++) {
        if (issuer[i].name.len == value[1].len
            && ngx_strncmp(issuer[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate issuer \"%V\", first in %s:%ui",
                               &value[1], issuer[i].file, issuer[i].line);
            return NGX_CONF_ERROR;
        }
    }

    issuer = ngx_array_push(&cmmcf->issuers);
    if (issuer == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(issuer, sizeof(ngx_certmate_acme_issuer_t));

    issuer->name = value[1];
    issuer->key_type = NGX_CERTMATE_KEY_EC_P256;
    issuer->retry = NGX_HTTP_CERTMATE_ACME_RETRY;
    issuer->timeout = NGX_HTTP_CERTMATE_ACME_TIMEOUT;
    issuer->file = cf->conf_file->file.name.data;
    issuer->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        v.data = (u_char *) ngx_strchr(value[i].data, '=');
        if (v.data == NULL) {
            goto invalid;
        }

        v.data++;
        v.len = value[i].data + value[i].len - v.data;

        if (ngx_strncmp(value[i].data, "directory=", 10) == 0) {

            if (ngx_strncmp(v.data, "https://", 8) != 0
                && ngx_strncmp(v.data, "http://", 7) != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"directory=\" needs an http or https "
                                   "URL, not \"%V\"", &v);
                return NGX_CONF_ERROR;
            }

            issuer->directory = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "contact=", 8) == 0) {

            if (ngx_strlchr(v.data, v.data + v.len, ':') == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"contact=\" needs a URI such as "
                                   "mailto:admin@example.com, not \"%V\"",
                                   &v);
                return NGX_CONF_ERROR;
            }

            issuer->contact = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "eab_kid=", 8) == 0 && v.len) {
            issuer->eab_kid = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "eab_hmac_key=", 13) == 0) {

            issuer->eab_hmac_key.len = ngx_base64_decoded_length(v.len);
            issuer->eab_hmac_key.data = ngx_pnalloc(cf->pool,
                                                    issuer->eab_hmac_key.len);
            if (issuer->eab_hmac_key.data == NULL) {
                return NGX_CONF_ERROR;
            }

            if (v.len == 0
                || ngx_decode_base64url(&issuer->eab_hmac_key, &v) != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"eab_hmac_key=\" is not base64url");
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ca_bundle=", 10) == 0) {
            issuer->ca_bundle = v;

            if (ngx_conf_full_name(cf->cycle, &issuer->ca_bundle, 1)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            if (access((char *) issuer->ca_bundle.data, R_OK) != 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                                   "cannot read \"ca_bundle=\" file \"%V\"",
                                   &issuer->ca_bundle);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            type = ngx_certmate_key_type_conf(cf, &v);

            if (type == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            issuer->key_type = type;
            continue;
        }

        if (ngx_strncmp(value[i].data, "renew_before=", 13) == 0) {
            issuer->renew_before = ngx_parse_time(&v, 1);

            if (issuer->renew_before == (time_t) NGX_ERROR
                || issuer->renew_before == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "retry=", 6) == 0) {
            issuer->retry = ngx_parse_time(&v, 1);

            if (issuer->retry == (time_t) NGX_ERROR || issuer->retry == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            issuer->timeout = ngx_parse_time(&v, 0);

            if (issuer->timeout == (ngx_msec_t) NGX_ERROR
                || issuer->timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (issuer->directory.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "issuer \"%V\" needs \"directory=\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if ((issuer->eab_kid.len == 0) != (issuer->eab_hmac_key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"eab_kid=\" and \"eab_hmac_key=\" "
                           "go together");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_certmate_acme(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_srv_conf_t *cmscf = conf;

    ngx_str_t   *value, *arg;
    ngx_uint_t   i;

    if (cmscf->acme) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cmscf->acme = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                   sizeof(ngx_str_t));
    if (cmscf->acme == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        arg = ngx_array_push(cmscf->acme);
        *arg = value[i];
    }

    cmscf->acme_file = cf->conf_file->file.name.data;
    cmscf->acme_line = cf->conf_file->line;

    /* the certificates come from the store */

    return ngx_http_certmate_ssl_enable(cf);
}


static char *
ngx_http_certmate_ca(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    if (cmmcf->ca) {
        return "is duplicate";
    }

    cmmcf->ca = ngx_pcalloc(cf->pool, sizeof(ngx_certmate_ca_conf_t));
    if (cmmcf->ca == NULL) {
        return NGX_CONF_ERROR;
    }

    cmmcf->ca->file = cf->conf_file->file.name.data;
    cmmcf->ca->line = cf->conf_file->line;

    return ngx_certmate_ca_parse(cf, cmmcf->ca);
}


static char *
ngx_http_certmate_profile(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    ngx_str_t               *value;
    ngx_certmate_profile_t  *profile;

    value = cf->args->elts;

    profile = ngx_certmate_profile_find(cmmcf, &value[1]);

    if (profile) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate profile \"%V\", the first is in %s:%ui",
                           &value[1], profile->file, profile->line);
        return NGX_CONF_ERROR;
    }

    profile = ngx_array_push(&cmmcf->profiles);
    if (profile == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(profile, sizeof(ngx_certmate_profile_t));

    profile->file = cf->conf_file->file.name.data;
    profile->line = cf->conf_file->line;

    return ngx_certmate_profile_parse(cf, profile);
}


static char *
ngx_http_certmate_notify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    ngx_certmate_notify_t  *nt;

    nt = ngx_array_push(&cmmcf->notifies);
    if (nt == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(nt, sizeof(ngx_certmate_notify_t));

    nt->file = cf->conf_file->file.name.data;
    nt->line = cf->conf_file->line;

    return ngx_certmate_notify_parse(cf, nt);
}


/* the audit log's JSON-lines mirror, which the helper appends to */

static char *
ngx_http_certmate_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_main_conf_t *cmmcf = conf;

    u_char           *slash, *last, *dir;
    ngx_str_t        *value;
    ngx_file_info_t   fi;

    if (cmmcf->audit_log.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cmmcf->audit_log = value[1];

    if (ngx_conf_full_name(cf->cycle, &cmmcf->audit_log, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* its directory must be there (the path is absolute now) */

    last = cmmcf->audit_log.data + cmmcf->audit_log.len;

    for (slash = last; slash[-1] != '/'; slash--) { /* void */ }

    if (slash == last) {
        return "needs a file name";
    }

    dir = ngx_pnalloc(cf->pool, slash - cmmcf->audit_log.data + 1);
    if (dir == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(dir, cmmcf->audit_log.data,
                slash - cmmcf->audit_log.data + 1);

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR || !ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "the directory \"%s\" of \"%V\" is not there",
                           dir, &cmmcf->audit_log);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* "certmate_crl", "certmate_ocsp", "certmate_est", "certmate_metrics" */

static char *
ngx_http_certmate_location(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_loc_conf_t *cmlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

#if (NGX_PCRE)
    if (clcf->regex) {
        return "cannot be used in a regex location";
    }
#endif

    if (clcf->named) {
        return "cannot be used in a named location";
    }

    value = cf->args->elts;

    cmlcf->prefix = clcf->name;
    cmlcf->file = cf->conf_file->file.name.data;
    cmlcf->line = cf->conf_file->line;

    if (ngx_strcmp(cmd->name.data, "certmate_crl") == 0) {
        cmlcf->crl = 1;
        clcf->handler = ngx_http_certmate_crl_handler;

    } else if (ngx_strcmp(cmd->name.data, "certmate_est") == 0) {
        cmlcf->est = 1;
        clcf->handler = ngx_http_certmate_est_handler;

    } else if (ngx_strcmp(cmd->name.data, "certmate_metrics") == 0) {
        cmlcf->metrics = 1;
        clcf->handler = ngx_http_certmate_metrics_handler;

    } else {
        cmlcf->ocsp_signer = NGX_HTTP_CERTMATE_OCSP_CA;
        clcf->handler = ngx_http_certmate_ocsp_handler;
    }

    if (cf->args->nelts == 2) {
        return ngx_http_certmate_location_param(cf, cmlcf, &value[1]);
    }

    return NGX_CONF_OK;
}


/* "signer=" of "certmate_ocsp", "superseded=" of "certmate_est" */

static char *
ngx_http_certmate_location_param(ngx_conf_t *cf,
    ngx_http_certmate_loc_conf_t *cmlcf, ngx_str_t *param)
{
    if (cmlcf->ocsp_signer) {
        if (param->len == sizeof("signer=delegated") - 1
            && ngx_strcmp(param->data, "signer=delegated") == 0)
        {
            cmlcf->ocsp_signer = NGX_HTTP_CERTMATE_OCSP_DELEGATED;
            return NGX_CONF_OK;
        }

        if (param->len == sizeof("signer=ca") - 1
            && ngx_strcmp(param->data, "signer=ca") == 0)
        {
            return NGX_CONF_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "\"signer=ca\" or \"signer=delegated\"", param);
        return NGX_CONF_ERROR;
    }

    if (param->len == sizeof("superseded=revoke") - 1
        && ngx_strcmp(param->data, "superseded=revoke") == 0)
    {
        cmlcf->est_revoke_superseded = 1;
        return NGX_CONF_OK;
    }

    if (param->len == sizeof("superseded=keep") - 1
        && ngx_strcmp(param->data, "superseded=keep") == 0)
    {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected "
                       "\"superseded=keep\" or \"superseded=revoke\"",
                       param);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_certmate_est_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_loc_conf_t *cmlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   method;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "basic") == 0 && cf->args->nelts == 3) {
        method = NGX_HTTP_CERTMATE_EST_BASIC;

    } else if (ngx_strcmp(value[1].data, "token") == 0
               && cf->args->nelts == 2)
    {
        method = NGX_HTTP_CERTMATE_EST_TOKEN;

    } else if (ngx_strcmp(value[1].data, "cert") == 0
               && cf->args->nelts == 2)
    {
        method = NGX_HTTP_CERTMATE_EST_CERT;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid method, expected \"basic FILE\", "
                           "\"token\" or \"cert\"");
        return NGX_CONF_ERROR;
    }

    if (cmlcf->est_auth == NGX_CONF_UNSET_UINT) {
        cmlcf->est_auth = 0;
    }

    if (cmlcf->est_auth & method) {
        return "is duplicate";
    }

    cmlcf->est_auth |= method;

    if (method != NGX_HTTP_CERTMATE_EST_BASIC) {
        return NGX_CONF_OK;
    }

    cmlcf->est_passwd = value[2];

    if (ngx_conf_full_name(cf->cycle, &cmlcf->est_passwd, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (access((char *) cmlcf->est_passwd.data, R_OK) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read the password file \"%V\"",
                           &cmlcf->est_passwd);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_certmate_est_profile(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_certmate_loc_conf_t *cmlcf = conf;

    u_char                         *p;
    ngx_str_t                      *value, label;
    ngx_uint_t                      i;
    ngx_http_certmate_est_label_t  *lb;

    value = cf->args->elts;

    if (cmlcf->est_labels == NGX_CONF_UNSET_PTR) {
        cmlcf->est_labels = ngx_array_create(cf->pool, 2,
                                     sizeof(ngx_http_certmate_est_label_t));
        if (cmlcf->est_labels == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_str_null(&label);

    if (cf->args->nelts == 3) {
        label = value[1];

        for (p = label.data; p < label.data + label.len; p++) {
            if (!isalnum(*p) && *p != '-' && *p != '_' && *p != '.') {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid label \"%V\", expected letters, "
                                   "digits, \"-\", \"_\" and \".\"", &label);
                return NGX_CONF_ERROR;
            }
        }

        if (ngx_http_certmate_est_operation(&label) != NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the label \"%V\" is the name of an EST "
                               "operation", &label);
            return NGX_CONF_ERROR;
        }
    }

    lb = cmlcf->est_labels->elts;

    for (i = 0; i < cmlcf->est_labels->nelts; i++) {
        if (lb[i].label.len == label.len
            && ngx_strncmp(lb[i].label.data, label.data, label.len) == 0)
        {
            return label.len ? "has a duplicate label"
                             : "is duplicate without a label";
        }
    }

    lb = ngx_array_push(cmlcf->est_labels);
    if (lb == NULL) {
        return NGX_CONF_ERROR;
    }

    lb->label = label;
    lb->name = value[cf->args->nelts - 1];
    lb->profile = NULL;
    lb->file = cf->conf_file->file.name.data;
    lb->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * An EST location: its methods of authentication, and a profile for
 * every label ("client" for the paths without one, unless configured)
 */

static char *
ngx_http_certmate_merge_est(ngx_conf_t *cf,
    ngx_http_certmate_loc_conf_t *cmlcf)
{
    ngx_uint_t                      i;
    ngx_http_ssl_srv_conf_t        *sscf;
    ngx_http_certmate_srv_conf_t   *cmscf;
    ngx_http_certmate_est_label_t  *lb;
    ngx_http_certmate_main_conf_t  *cmmcf;

    if (cmlcf->est_auth == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_est\" in %s:%ui has no "
                      "\"certmate_est_auth\"", cmlcf->file, cmlcf->line);
        return NGX_CONF_ERROR;
    }

    cmscf = ngx_http_conf_get_module_srv_conf(cf, ngx_certmate_module);
    sscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_ssl_module);

    if ((cmlcf->est_auth & NGX_HTTP_CERTMATE_EST_CERT)
        && !cmscf->verify && !sscf->verify)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"certmate_est_auth cert\" of \"certmate_est\" in "
                      "%s:%ui needs \"certmate_verify_client\" in its "
                      "server", cmlcf->file, cmlcf->line);
        return NGX_CONF_ERROR;
    }

    if (cmlcf->est_labels == NULL) {
        cmlcf->est_labels = ngx_array_create(cf->pool, 1,
                                     sizeof(ngx_http_certmate_est_label_t));
        if (cmlcf->est_labels == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    lb = cmlcf->est_labels->elts;

    for (i = 0; i < cmlcf->est_labels->nelts; i++) {
        if (lb[i].label.len == 0) {
            break;
        }
    }

    if (i == cmlcf->est_labels->nelts) {
        lb = ngx_array_push(cmlcf->est_labels);
        if (lb == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(lb, sizeof(ngx_http_certmate_est_label_t));
        ngx_str_set(&lb->name, "client");
        lb->file = cmlcf->file;
        lb->line = cmlcf->line;
    }

    cmmcf = ngx_http_conf_get_module_main_conf(cf, ngx_certmate_module);
    lb = cmlcf->est_labels->elts;

    for (i = 0; i < cmlcf->est_labels->nelts; i++) {
        lb[i].profile = ngx_certmate_profile_find(cmmcf, &lb[i].name);

        if (lb[i].profile == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"certmate_est_profile\" in %s:%ui names the "
                          "profile \"%V\", which no \"certmate_profile\" "
                          "defines", lb[i].file, lb[i].line, &lb[i].name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_certmate_certificate_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_CERTMATE_ID_HEX_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_certmate_ssl_served_id(r->connection, p) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = NGX_CERTMATE_ID_HEX_LEN;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_certmate_init_process(ngx_cycle_t *cycle)
{
    ngx_http_certmate_main_conf_t  *cmmcf;

    cmmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_certmate_module);

    if (cmmcf == NULL || cmmcf->store == NULL) {
        return NGX_OK;
    }

    ngx_certmate_store_init(&cmmcf->store->name, cmmcf->max_size);

    if (ngx_process == NGX_PROCESS_HELPER) {
        return NGX_OK;
    }

    if (ngx_process == NGX_PROCESS_SINGLE) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "certmate has no helper process with "
                      "\"master_process off\": stale store readers "
                      "are not cleared%s",
                      cmmcf->acme_names.nelts
                      ? ", ACME certificates are not obtained or renewed"
                      : cmmcf->notifies.nelts
                      ? ", notifications are not sent" : "");
    }

#if (NGX_THREADS && defined M_ARENA_MAX)

    /*
     * The pool's threads, which run the writes in turn, share glibc's
     * main arena rather than each taking one of its own: with an arena
     * of each thread, blocks that a thread allocates and the event loop
     * frees (and the other way round) leave the threads' arenas growing
     * for as long as the writes go on (the soak in the README)
     */

    (void) mallopt(M_ARENA_MAX, 1);

#endif

    if (ngx_certmate_cache_init(cmmcf->cache_size, cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a store that fails to open is tried again when it is needed */

    (void) ngx_certmate_store_open(cycle->log);

    return NGX_OK;
}


static void
ngx_http_certmate_exit_process(ngx_cycle_t *cycle)
{
    ngx_certmate_ca_done();
    ngx_certmate_cache_done();
    ngx_certmate_store_close();
}
