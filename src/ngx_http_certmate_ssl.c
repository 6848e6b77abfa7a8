
/*
 * certmate: TLS certificates per SNI name from the store.
 *
 * Configuration: nginx builds a server's SSL_CTX only when the server
 * has an "ssl_certificate".  "certmate_certificate on" in a server
 * without one adds a placeholder certificate with a variable, so that
 * nginx builds the SSL_CTX and installs a certificate callback; after
 * the http block is merged, the placeholder is taken out again: nginx's
 * callback is removed and the real "ssl_certificate"s, if any, are
 * loaded as nginx would have.
 *
 * Handshake: the SNI callback of every SSL_CTX is wrapped.  After
 * nginx's own callback chose the virtual server, a server with
 * "certmate_certificate on" gets the store's certificates for the name
 * (exact, then wildcard; one per key class, so that OpenSSL picks ECDSA
 * or RSA by what the client supports).  An unknown name gets the
 * server's "ssl_certificate", else "certmate_default_certificate", else
 * an unrecognized_name alert.  A client that asks for the certificate's
 * status (status_request) gets the OCSP response that the helper keeps
 * for it in the store, if there is one and it is fresh.
 */


#include "ngx_http_certmate_ssl.h"
#include "ngx_http_certmate_metrics.h"
#include "ngx_http_certmate_verify.h"
#include "ngx_certmate_cache.h"
#include "ngx_certmate_cert.h"
#include "ngx_certmate_store.h"


static ngx_int_t ngx_http_certmate_ssl_fallback(ngx_conf_t *cf,
    ngx_http_ssl_srv_conf_t *sscf, ngx_http_ssl_srv_conf_t *parent,
    ngx_uint_t *fallback);
static ngx_uint_t ngx_http_certmate_ssl_real(ngx_array_t *certs,
    ngx_array_t *keys, ngx_array_t *real_certs, ngx_array_t *real_keys);
static ngx_uint_t ngx_http_certmate_ssl_listens(ngx_http_core_main_conf_t *cmcf,
    ngx_http_core_srv_conf_t *cscf);
static int ngx_http_certmate_ssl_servername(ngx_ssl_conn_t *ssl_conn,
    int *ad, void *arg);
static ngx_int_t ngx_http_certmate_ssl_use(ngx_connection_t *c,
    ngx_str_t *name);
static int ngx_http_certmate_ssl_status(ngx_ssl_conn_t *ssl_conn,
    void *data);


static ngx_str_t  ngx_http_certmate_placeholder =
    ngx_string("data:$certmate_certificate_id");

static int  ngx_http_certmate_ssl_index = -1;
static int  ngx_http_certmate_ssl_from_store;


/* "certmate_certificate on": make nginx build this server's SSL_CTX */

char *
ngx_http_certmate_ssl_enable(ngx_conf_t *cf)
{
    ngx_str_t                *s;
    ngx_array_t              *keys;
    ngx_http_ssl_srv_conf_t  *sscf;

    sscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_ssl_module);

    if (sscf->certificates != NGX_CONF_UNSET_PTR) {
        return NGX_CONF_OK;
    }

    sscf->certificates = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (sscf->certificates == NULL) {
        return NGX_CONF_ERROR;
    }

    s = ngx_array_push(sscf->certificates);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    *s = ngx_http_certmate_placeholder;

    if (sscf->certificate_keys == NGX_CONF_UNSET_PTR) {
        sscf->certificate_keys = ngx_array_create(cf->pool, 2,
                                                  sizeof(ngx_str_t));
        if (sscf->certificate_keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    keys = sscf->certificate_keys;

    s = ngx_array_push(keys);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    /* keys pair with certificates by position: the placeholder goes first */

    s = keys->elts;
    ngx_memmove(&s[1], &s[0], (keys->nelts - 1) * sizeof(ngx_str_t));
    s[0] = ngx_http_certmate_placeholder;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_certmate_ssl_init(ngx_conf_t *cf)
{
    ngx_uint_t                      s;
    ngx_http_ssl_srv_conf_t        *sscf, *parent;
    ngx_http_core_srv_conf_t      **cscfp;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_certmate_srv_conf_t   *cmscf;

    if (ngx_http_certmate_ssl_index == -1) {
        ngx_http_certmate_ssl_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                           NULL, NULL);
        if (ngx_http_certmate_ssl_index == -1) {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_get_ex_new_index() failed");
            return NGX_ERROR;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    parent = ngx_http_conf_get_module_srv_conf(cf, ngx_http_ssl_module);

    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];
        cmscf = cscfp[s]->ctx->srv_conf[ngx_certmate_module.ctx_index];

        if (sscf->ssl.ctx == NULL) {
            continue;
        }

        if (ngx_http_certmate_ssl_fallback(cf, sscf, parent,
                                           &cmscf->fallback)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (!cmscf->certificate
            && !cmscf->fallback
            && !sscf->reject_handshake
            && ngx_http_certmate_ssl_listens(cmcf, cscfp[s]))
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no \"ssl_certificate\" is defined for the "
                          "server in %s:%ui, which has "
                          "\"certmate_certificate off\"",
                          cscfp[s]->file_name, cscfp[s]->line);
            return NGX_ERROR;
        }

        SSL_CTX_set_tlsext_servername_callback(sscf->ssl.ctx,
                                              ngx_http_certmate_ssl_servername);

        /* nginx's "ssl_stapling" keeps the callback for its own */

        if (cmscf->certificate && !sscf->stapling) {
            SSL_CTX_set_tlsext_status_cb(sscf->ssl.ctx,
                                         ngx_http_certmate_ssl_status);
        }

        if (cmscf->verify
            && ngx_http_certmate_verify_ctx(cf, cscfp[s], cmscf, sscf)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Takes the placeholder out of a server's certificates, loading its
 * real ones; tells whether the server has any.
 */

static ngx_int_t
ngx_http_certmate_ssl_fallback(ngx_conf_t *cf, ngx_http_ssl_srv_conf_t *sscf,
    ngx_http_ssl_srv_conf_t *parent, ngx_uint_t *fallback)
{
    ngx_str_t    *cert;
    ngx_uint_t    i;
    ngx_array_t  *certs, real_certs, real_keys;

    certs = sscf->certificates;

    *fallback = (certs && certs->nelts);

    if (!*fallback) {
        return NGX_OK;
    }

    cert = certs->elts;

    if (cert[0].data != ngx_http_certmate_placeholder.data) {
        return NGX_OK;
    }

    *fallback = 0;

    SSL_CTX_set_cert_cb(sscf->ssl.ctx, NULL, NULL);

    if (ngx_http_certmate_ssl_real(certs, sscf->certificate_keys,
                                   &real_certs, &real_keys)
        == 0)
    {
        /* the placeholder of this server hides the http level's ones */

        if (parent->certificates == certs
            || parent->certificates == NGX_CONF_UNSET_PTR
            || parent->certificates == NULL
            || parent->certificate_keys == NGX_CONF_UNSET_PTR
            || parent->certificate_keys == NULL
            || ngx_http_certmate_ssl_real(parent->certificates,
                                          parent->certificate_keys,
                                          &real_certs, &real_keys)
               == 0)
        {
            return NGX_OK;
        }
    }

    cert = real_certs.elts;

    for (i = 0; i < real_certs.nelts; i++) {
        if (ngx_http_script_variables_count(&cert[i])) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"ssl_certificate\" \"%V\" has variables, which "
                          "\"certmate_certificate\" does not support",
                          &cert[i]);
            return NGX_ERROR;
        }
    }

    if (ngx_ssl_certificates(cf, &sscf->ssl, &real_certs, &real_keys,
                             sscf->passwords)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *fallback = 1;

    return NGX_OK;
}


/* a view of certificates and keys without the placeholder */

static ngx_uint_t
ngx_http_certmate_ssl_real(ngx_array_t *certs, ngx_array_t *keys,
    ngx_array_t *real_certs, ngx_array_t *real_keys)
{
    ngx_str_t  *cert;

    *real_certs = *certs;
    *real_keys = *keys;

    cert = certs->elts;

    if (certs->nelts && cert[0].data == ngx_http_certmate_placeholder.data) {
        real_certs->elts = (ngx_str_t *) certs->elts + 1;
        real_certs->nelts--;
        real_keys->elts = (ngx_str_t *) keys->elts + 1;
        real_keys->nelts--;
    }

    if (real_keys->nelts < real_certs->nelts) {
        return 0;
    }

    return real_certs->nelts;
}


static ngx_uint_t
ngx_http_certmate_ssl_listens(ngx_http_core_main_conf_t *cmcf,
    ngx_http_core_srv_conf_t *cscf)
{
    ngx_uint_t                  p, a, s;
    ngx_http_conf_addr_t       *addr;
    ngx_http_conf_port_t       *port;
    ngx_http_core_srv_conf_t  **cscfp;

    if (cmcf->ports == NULL) {
        return 0;
    }

    port = cmcf->ports->elts;

    for (p = 0; p < cmcf->ports->nelts; p++) {

        addr = port[p].addrs.elts;

        for (a = 0; a < port[p].addrs.nelts; a++) {

            if (!addr[a].opt.ssl) {
                continue;
            }

            if (addr[a].default_server == cscf) {
                return 1;
            }

            cscfp = addr[a].servers.elts;

            for (s = 0; s < addr[a].servers.nelts; s++) {
                if (cscfp[s] == cscf) {
                    return 1;
                }
            }
        }
    }

    return 0;
}


static int
ngx_http_certmate_ssl_servername(ngx_ssl_conn_t *ssl_conn, int *ad,
    void *arg)
{
    int                            rc;
    size_t                         len;
    ngx_int_t                      found;
    ngx_str_t                      name;
    const char                    *servername;
    ngx_connection_t              *c;
    ngx_http_connection_t         *hc;
    ngx_http_certmate_srv_conf_t  *cmscf;
    u_char                         low[NGX_CERTMATE_NAME_MAX];

    rc = ngx_http_ssl_servername(ssl_conn, ad, arg);

    if (rc != SSL_TLSEXT_ERR_OK) {
        return rc;
    }

    c = ngx_ssl_get_connection(ssl_conn);
    hc = c->data;

    cmscf = ngx_http_get_module_srv_conf(hc->conf_ctx, ngx_certmate_module);

    if (cmscf->verify) {
        ngx_http_certmate_verify_servername(c, cmscf);
    }

    if (!cmscf->certificate) {
        return SSL_TLSEXT_ERR_OK;
    }

    found = NGX_DECLINED;

    servername = SSL_get_servername(ssl_conn, TLSEXT_NAMETYPE_host_name);

    if (servername) {
        len = ngx_strlen(servername);

        if (len && servername[len - 1] == '.') {
            len--;
        }

        if (len && len <= NGX_CERTMATE_NAME_MAX) {
            name.data = low;
            name.len = len;
            ngx_strlow(low, (u_char *) servername, len);

            found = ngx_http_certmate_ssl_use(c, &name);

            if (found == NGX_OK) {
                ngx_certmate_count(handshakes[NGX_CERTMATE_HANDSHAKE_STORE]);
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }

    if (cmscf->fallback) {
        ngx_certmate_count(handshakes[NGX_CERTMATE_HANDSHAKE_FALLBACK]);
        return SSL_TLSEXT_ERR_OK;
    }

    if (cmscf->default_name.len) {
        rc = ngx_http_certmate_ssl_use(c, &cmscf->default_name);

        if (rc == NGX_OK) {
            ngx_certmate_count(handshakes[NGX_CERTMATE_HANDSHAKE_DEFAULT]);
            return SSL_TLSEXT_ERR_OK;
        }

        if (rc == NGX_ERROR) {
            found = NGX_ERROR;
        }
    }

    if (found == NGX_ERROR) {
        ngx_certmate_count(handshakes[NGX_CERTMATE_HANDSHAKE_ERROR]);
        *ad = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "certmate has no certificate for \"%s\"",
                  servername ? servername : "");

    ngx_certmate_count(handshakes[NGX_CERTMATE_HANDSHAKE_UNKNOWN]);

    *ad = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}


static ngx_int_t
ngx_http_certmate_ssl_use(ngx_connection_t *c, ngx_str_t *name)
{
    ngx_int_t               rc;
    ngx_uint_t              i;
    ngx_certmate_ref_t      refs[NGX_CERTMATE_CLASSES];
    ngx_certmate_cached_t  *cached[NGX_CERTMATE_CLASSES];

    if (ngx_certmate_store_read_begin(c->log) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_store_find(name, refs, c->log);
    if (rc != NGX_OK) {
        goto done;
    }

    for (i = 0; i < NGX_CERTMATE_CLASSES; i++) {
        cached[i] = NULL;

        if (refs[i].version == 0) {
            continue;
        }

        cached[i] = ngx_certmate_cache_get(&refs[i], c->log);
        if (cached[i] == NULL) {
            rc = NGX_ERROR;
            goto done;
        }
    }

    SSL_certs_clear(c->ssl->connection);

    /* the last one set is what SSL_get_certificate() tells before a choice */

    for (i = NGX_CERTMATE_CLASSES; i > 0; i--) {
        if (cached[i - 1] == NULL) {
            continue;
        }

        if (SSL_use_cert_and_key(c->ssl->connection, cached[i - 1]->leaf,
                                 cached[i - 1]->key, cached[i - 1]->chain, 1)
            != 1)
        {
            ngx_ssl_error(NGX_LOG_CRIT, c->log, 0,
                          "SSL_use_cert_and_key() failed for \"%V\"", name);
            rc = NGX_ERROR;
            goto done;
        }
    }

    if (SSL_set_ex_data(c->ssl->connection, ngx_http_certmate_ssl_index,
                        &ngx_http_certmate_ssl_from_store)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "SSL_set_ex_data() failed");
        rc = NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "certmate ssl certificate for \"%V\"", name);

done:

    ngx_certmate_store_read_end();

    return rc;
}


/* the id of the store certificate a connection got, in hex */

/* the stapled OCSP response of a certificate served from the store */

static int
ngx_http_certmate_ssl_status(ngx_ssl_conn_t *ssl_conn, void *data)
{
    X509                   *x;
    u_char                 *der;
    ngx_int_t               rc;
    unsigned int            len;
    ngx_connection_t       *c;
    ngx_certmate_staple_t   staple;
    u_char                  md[EVP_MAX_MD_SIZE];

    if (SSL_get_ex_data(ssl_conn, ngx_http_certmate_ssl_index) == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }

    c = ngx_ssl_get_connection(ssl_conn);
    x = SSL_get_certificate(ssl_conn);

    if (x == NULL || X509_digest(x, EVP_sha256(), md, &len) != 1
        || ngx_certmate_store_read_begin(c->log) != NGX_OK)
    {
        return SSL_TLSEXT_ERR_NOACK;
    }

    der = NULL;

    rc = ngx_certmate_store_staple_get(md, &staple, c->log);

    if (rc == NGX_OK && staple.der.len && staple.next_update > ngx_time()) {
        der = OPENSSL_malloc(staple.der.len);

        if (der) {
            ngx_memcpy(der, staple.der.data, staple.der.len);
        }
    }

    ngx_certmate_store_read_end();

    if (der == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }

    /* OpenSSL frees it */

    if (SSL_set_tlsext_status_ocsp_resp(ssl_conn, der, staple.der.len) != 1) {
        OPENSSL_free(der);
        return SSL_TLSEXT_ERR_NOACK;
    }

    return SSL_TLSEXT_ERR_OK;
}


ngx_int_t
ngx_http_certmate_ssl_served_id(ngx_connection_t *c, u_char *hex)
{
    X509          *x;
    unsigned int   len;
    u_char         md[EVP_MAX_MD_SIZE];

    if (c->ssl == NULL
        || SSL_get_ex_data(c->ssl->connection, ngx_http_certmate_ssl_index)
           == NULL)
    {
        return NGX_DECLINED;
    }

    x = SSL_get_certificate(c->ssl->connection);

    if (x == NULL || X509_digest(x, EVP_sha256(), md, &len) != 1) {
        return NGX_DECLINED;
    }

    ngx_certmate_id_hex(hex, md);

    return NGX_OK;
}
