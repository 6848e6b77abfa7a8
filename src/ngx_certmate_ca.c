
/*
 * certmate: the built-in CA.
 *
 * The helper makes the CA (a root and an issuing CA under it) or
 * imports the configured one, keeps a delegated OCSP signer fresh and
 * signs a new CRL after every revocation.  Workers issue certificates
 * with the issuing CA's key, as the profiles allow, and keep a parsed
 * copy of the CA that they refresh when its record changes.
 */


#include "ngx_certmate_ca.h"
#include "ngx_certmate_cert.h"

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>


#define NGX_CERTMATE_CA_TICK            250
#define NGX_CERTMATE_CA_IDLE            3600000
#define NGX_CERTMATE_CA_FAILED_WAIT     10000
#define NGX_CERTMATE_CA_SERIAL_LEN      16
#define NGX_CERTMATE_CA_SERIAL_TRIES    3
#define NGX_CERTMATE_CA_NAMES_MAX       100
#define NGX_CERTMATE_CA_CRL_VALIDITY    86400
#define NGX_CERTMATE_CA_SIGNER_VALIDITY (7 * 86400)


typedef struct {
    X509_CRL        *crl;
    ASN1_INTEGER    *serial;
    ASN1_TIME       *time;
    ngx_uint_t       entries;
    ngx_log_t       *log;
} ngx_certmate_ca_crl_ctx_t;


static ngx_int_t ngx_certmate_ca_name_allowed(ngx_certmate_profile_t *profile,
    ngx_str_t *name);
static ngx_int_t ngx_certmate_ca_key_allowed(ngx_pool_t *pool,
    ngx_certmate_profile_t *profile, EVP_PKEY *key,
    ngx_certmate_problem_t *problem);
static X509_NAME *ngx_certmate_ca_dn(ngx_str_t *text, const char *suffix);
static X509 *ngx_certmate_ca_make(X509 *issuer, EVP_PKEY *issuer_key,
    X509_NAME *subject, EVP_PKEY *key, X509_PUBKEY *spki, ngx_str_t *serial,
    time_t not_before, time_t not_after, const char **exts, ngx_log_t *log);
static int ngx_certmate_ca_spki(X509 *x, X509_PUBKEY *spki);
static void ngx_certmate_ca_serial_new(u_char *serial);
static const EVP_MD *ngx_certmate_ca_md(EVP_PKEY *key);
static ngx_int_t ngx_certmate_ca_der(ngx_pool_t *pool, X509 *x,
    ngx_str_t *der);
static ngx_int_t ngx_certmate_ca_pem(ngx_pool_t *pool, X509 *x,
    ngx_str_t *pem);
static void ngx_certmate_ca_release(void *data);
static void ngx_certmate_ca_signing_free(ngx_certmate_ca_signing_t *sg);
static ngx_int_t ngx_certmate_ca_create(ngx_pool_t *pool,
    ngx_certmate_ca_conf_t *cacf, ngx_certmate_ca_t *ca, ngx_log_t *log);
static ngx_int_t ngx_certmate_ca_import(ngx_pool_t *pool,
    ngx_certmate_ca_conf_t *cacf, ngx_certmate_ca_t *ca, ngx_log_t *log);
static ngx_int_t ngx_certmate_ca_signer(ngx_pool_t *pool,
    ngx_certmate_ca_t *ca, ngx_log_t *log);
static ngx_int_t ngx_certmate_ca_crl(ngx_pool_t *pool, ngx_certmate_ca_t *ca,
    ngx_log_t *log);
static ngx_int_t ngx_certmate_ca_crl_entry(ngx_certmate_serial_t *s,
    void *data);
static ngx_int_t ngx_certmate_ca_copy(ngx_pool_t *pool,
    ngx_certmate_ca_t *ca);
static ngx_int_t ngx_certmate_ca_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *content);


static ngx_str_t  ngx_certmate_ca_reasons[] = {
    ngx_string("unspecified"),
    ngx_string("keyCompromise"),
    ngx_string("cACompromise"),
    ngx_string("affiliationChanged"),
    ngx_string("superseded"),
    ngx_string("cessationOfOperation"),
    ngx_string("certificateHold"),
    ngx_null_string,                        /* 7 is not used */
    ngx_null_string,                        /* removeFromCRL: not here */
    ngx_string("privilegeWithdrawn"),
    ngx_string("aACompromise")
};


static ngx_certmate_ca_signing_t  ngx_certmate_ca_signing;


/* the profile of that name */

ngx_certmate_profile_t *
ngx_certmate_profile_find(ngx_http_certmate_main_conf_t *cmmcf,
    ngx_str_t *name)
{
    ngx_uint_t               i;
    ngx_certmate_profile_t  *profile;

    profile = cmmcf->profiles.elts;

    for (i = 0; i < cmmcf->profiles.nelts; i++) {
        if (profile[i].name.len == name->len
            && ngx_strncmp(profile[i].name.data, name->data, name->len) == 0)
        {
            return &profile[i];
        }
    }

    return NULL;
}


/* "names=" patterns: a name, or "*." and a name for exactly one label */

static ngx_int_t
ngx_certmate_ca_name_allowed(ngx_certmate_profile_t *profile, ngx_str_t *name)
{
    u_char      *dot;
    ngx_str_t   *pattern, rest;
    ngx_uint_t   i;

    if (profile->names == NULL) {
        return NGX_OK;
    }

    pattern = profile->names->elts;

    for (i = 0; i < profile->names->nelts; i++) {

        if (pattern[i].len > 2 && pattern[i].data[0] == '*') {
            dot = ngx_strlchr(name->data, name->data + name->len, '.');

            if (dot == NULL || dot == name->data || name->data[0] == '*') {
                continue;
            }

            rest.data = dot;
            rest.len = name->data + name->len - dot;

            if (rest.len == pattern[i].len - 1
                && ngx_strncasecmp(rest.data, pattern[i].data + 1, rest.len)
                   == 0)
            {
                return NGX_OK;
            }

            continue;
        }

        if (pattern[i].len == name->len
            && ngx_strncasecmp(pattern[i].data, name->data, name->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * A key of a CSR: the EC types by their curve; "rsa-N" allows RSA keys
 * of N bits or more
 */

static ngx_int_t
ngx_certmate_ca_key_allowed(ngx_pool_t *pool, ngx_certmate_profile_t *profile,
    EVP_PKEY *key, ngx_certmate_problem_t *problem)
{
    int         bits;
    ngx_uint_t  type;

    type = ngx_certmate_key_type(key);

    if (type && (profile->key_types & (1 << type))) {
        return NGX_OK;
    }

    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
        bits = EVP_PKEY_get_bits(key);

        for (type = NGX_CERTMATE_KEY_RSA_2048;
             type <= NGX_CERTMATE_KEY_RSA_4096;
             type++)
        {
            if ((profile->key_types & (1 << type))
                && bits >= (type == NGX_CERTMATE_KEY_RSA_2048 ? 2048
                            : type == NGX_CERTMATE_KEY_RSA_3072 ? 3072
                            : 4096))
            {
                return NGX_OK;
            }
        }

        ngx_certmate_problem(pool, problem, "profile_violation",
                             "profile \"%V\" does not allow an RSA key of "
                             "%d bits (key=)", &profile->name, bits);
        return NGX_DECLINED;
    }

    ngx_certmate_problem(pool, problem, "profile_violation",
                         "profile \"%V\" does not allow this key type "
                         "(key=)", &profile->name);
    return NGX_DECLINED;
}


/*
 * Names, key type and validity of a request, against its profile;
 * without a key yet, the key type to make
 */

ngx_int_t
ngx_certmate_ca_check(ngx_pool_t *pool, ngx_certmate_ca_request_t *req,
    ngx_certmate_problem_t *problem)
{
    ngx_uint_t               i, j;
    ngx_certmate_profile_t  *profile;

    profile = req->profile;

    if (req->nnames == 0) {
        ngx_certmate_problem(pool, problem, "invalid_request",
                             "a certificate needs at least one name");
        return NGX_DECLINED;
    }

    if (req->nnames > NGX_CERTMATE_CA_NAMES_MAX) {
        ngx_certmate_problem(pool, problem, "invalid_request",
                             "a certificate may have at most %d names",
                             NGX_CERTMATE_CA_NAMES_MAX);
        return NGX_DECLINED;
    }

    for (i = 0; i < req->nnames; i++) {

        if (ngx_certmate_name_valid(&req->names[i]) != NGX_OK) {
            ngx_certmate_problem(pool, problem, "invalid_name",
                                 "\"%*s\" is not a DNS name",
                                 ngx_min(req->names[i].len, 256),
                                 req->names[i].data);
            return NGX_DECLINED;
        }

        ngx_strlow(req->names[i].data, req->names[i].data,
                   req->names[i].len);

        for (j = 0; j < i; j++) {
            if (req->names[j].len == req->names[i].len
                && ngx_strncmp(req->names[j].data, req->names[i].data,
                               req->names[i].len)
                   == 0)
            {
                ngx_certmate_problem(pool, problem, "invalid_name",
                                     "\"%V\" is given twice", &req->names[i]);
                return NGX_DECLINED;
            }
        }

        if (ngx_certmate_ca_name_allowed(profile, &req->names[i]) != NGX_OK) {
            ngx_certmate_problem(pool, problem, "profile_violation",
                                 "profile \"%V\" does not allow the name "
                                 "\"%V\" (names=)", &profile->name,
                                 &req->names[i]);
            return NGX_DECLINED;
        }
    }

    if (req->validity == 0) {
        req->validity = profile->validity;

    } else if (req->validity > profile->max_validity) {
        ngx_certmate_problem(pool, problem, "profile_violation",
                             "profile \"%V\" allows at most %T days "
                             "(max_validity=)", &profile->name,
                             profile->max_validity / 86400);
        return NGX_DECLINED;
    }

    if (req->key) {
        return ngx_certmate_ca_key_allowed(pool, profile, req->key, problem);
    }

    if (req->key_type == 0) {
        req->key_type = profile->key_type;

    } else if (!(profile->key_types & (1 << req->key_type))) {
        ngx_certmate_problem(pool, problem, "profile_violation",
                             "profile \"%V\" does not allow this key type "
                             "(key=)", &profile->name);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A CSR, in PEM or base64 DER (its line breaks and blanks ignored): its
 * signature verified, no CA:TRUE, no unknown critical extension; its
 * names are its DNS subjectAltNames, else its CN
 */

ngx_int_t
ngx_certmate_ca_csr(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_ca_request_t *req, ngx_certmate_problem_t *problem)
{
    int                        i, n, nid, idx;
    BIO                       *bio;
    u_char                    *p, *q;
    EVP_PKEY                  *key;
    X509_REQ                  *csr;
    ngx_int_t                  rc;
    ngx_str_t                  der, b64, *name;
    ngx_array_t                names;
    const u_char              *end;
    GENERAL_NAME              *gn;
    GENERAL_NAMES             *gens;
    X509_EXTENSION            *ext;
    BASIC_CONSTRAINTS         *bc;
    ASN1_STRING               *cn;
    ngx_pool_cleanup_t        *cln;
    STACK_OF(X509_EXTENSION)  *exts;

    csr = NULL;
    exts = NULL;
    rc = NGX_DECLINED;

    ERR_clear_error();

    if (text->len > 11
        && ngx_strncmp(text->data, "-----BEGIN ", 11) == 0)
    {
        bio = BIO_new_mem_buf(text->data, text->len);
        if (bio == NULL) {
            return NGX_ERROR;
        }

        csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
        BIO_free(bio);

    } else {
        b64.data = ngx_pnalloc(pool, text->len);
        if (b64.data == NULL) {
            return NGX_ERROR;
        }

        q = b64.data;

        for (p = text->data; p < text->data + text->len; p++) {
            if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t') {
                *q++ = *p;
            }
        }

        b64.len = q - b64.data;

        der.data = ngx_pnalloc(pool, ngx_base64_decoded_length(b64.len));
        if (der.data == NULL) {
            return NGX_ERROR;
        }

        if (ngx_decode_base64(&der, &b64) == NGX_OK) {
            end = der.data;
            csr = d2i_X509_REQ(NULL, &end, der.len);

            if (csr && end != der.data + der.len) {
                X509_REQ_free(csr);
                csr = NULL;
            }
        }
    }

    if (csr == NULL) {
        ngx_certmate_problem(pool, problem, "invalid_csr",
                             "the CSR is neither PEM nor base64 DER of a "
                             "PKCS#10 request");
        goto done;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        X509_REQ_free(csr);
        return NGX_ERROR;
    }

    cln->handler = (ngx_pool_cleanup_pt) X509_REQ_free;
    cln->data = csr;

    key = X509_REQ_get0_pubkey(csr);

    if (key == NULL || X509_REQ_verify(csr, key) != 1) {
        ngx_certmate_problem(pool, problem, "invalid_csr",
                             "the CSR's signature does not verify");
        goto done;
    }

    if (ngx_array_init(&names, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    exts = X509_REQ_get_extensions(csr);
    n = exts ? sk_X509_EXTENSION_num(exts) : 0;

    for (i = 0; i < n; i++) {
        ext = sk_X509_EXTENSION_value(exts, i);
        nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));

        switch (nid) {

        case NID_basic_constraints:
            bc = X509V3_EXT_d2i(ext);

            if (bc == NULL || bc->ca) {
                BASIC_CONSTRAINTS_free(bc);
                ngx_certmate_problem(pool, problem, "invalid_csr",
                                     "the CSR asks for a CA certificate "
                                     "(basicConstraints CA:TRUE)");
                goto done;
            }

            BASIC_CONSTRAINTS_free(bc);
            break;

        case NID_subject_alt_name:
            gens = X509V3_EXT_d2i(ext);

            if (gens == NULL) {
                ngx_certmate_problem(pool, problem, "invalid_csr",
                                     "the CSR's subjectAltName does not "
                                     "parse");
                goto done;
            }

            for (idx = 0; idx < sk_GENERAL_NAME_num(gens); idx++) {
                gn = sk_GENERAL_NAME_value(gens, idx);

                if (gn->type != GEN_DNS) {
                    GENERAL_NAMES_free(gens);
                    ngx_certmate_problem(pool, problem, "invalid_csr",
                                         "the CSR asks for a subjectAltName "
                                         "that is not a DNS name");
                    goto done;
                }

                name = ngx_array_push(&names);
                if (name == NULL) {
                    GENERAL_NAMES_free(gens);
                    return NGX_ERROR;
                }

                name->len = ASN1_STRING_length(gn->d.dNSName);
                name->data = ngx_pnalloc(pool, name->len + 1);
                if (name->data == NULL) {
                    GENERAL_NAMES_free(gens);
                    return NGX_ERROR;
                }

                ngx_memcpy(name->data, ASN1_STRING_get0_data(gn->d.dNSName),
                           name->len);
            }

            GENERAL_NAMES_free(gens);
            break;

        case NID_key_usage:
        case NID_ext_key_usage:
        case NID_subject_key_identifier:
            break;

        default:
            if (X509_EXTENSION_get_critical(ext)) {
                ngx_certmate_problem(pool, problem, "invalid_csr",
                                     "the CSR has a critical extension "
                                     "certmate does not know");
                goto done;
            }
        }
    }

    if (names.nelts == 0) {
        idx = X509_NAME_get_index_by_NID(X509_REQ_get_subject_name(csr),
                                         NID_commonName, -1);
        if (idx >= 0) {
            cn = X509_NAME_ENTRY_get_data(
                     X509_NAME_get_entry(X509_REQ_get_subject_name(csr), idx));

            name = ngx_array_push(&names);
            if (name == NULL) {
                return NGX_ERROR;
            }

            name->len = ASN1_STRING_length(cn);
            name->data = ngx_pnalloc(pool, name->len + 1);
            if (name->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(name->data, ASN1_STRING_get0_data(cn), name->len);
        }
    }

    if (names.nelts == 0) {
        ngx_certmate_problem(pool, problem, "invalid_csr",
                             "the CSR has neither a DNS subjectAltName nor "
                             "a CN");
        goto done;
    }

    req->names = names.elts;
    req->nnames = names.nelts;
    req->key = key;
    req->csr = csr;

    rc = NGX_OK;

done:

    if (exts) {
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }

    /* what OpenSSL said of a CSR refused is in the problem, not left */

    ERR_clear_error();

    return rc;
}


/*
 * Issues a certificate for a checked request with a CA held: a random
 * serial, the profile's extensions.  With a "source", a certificate
 * record is stored, with the key when it is ours ("kept"; else the
 * record is not served), and replaces "old".  NGX_DECLINED: the
 * request's EST token was used meanwhile; NGX_CERTMATE_STORE_FULL and
 * NGX_CERTMATE_STORE_FAILED: the store refused or failed the write;
 * NGX_AGAIN: see the store's writes in a thread.  Runs in a thread of a
 * pool too.
 */

ngx_int_t
ngx_certmate_ca_issue(ngx_pool_t *pool, ngx_certmate_ca_signing_t *ca,
    ngx_certmate_ca_request_t *req, u_char *old,
    ngx_certmate_ca_issued_t *issued, ngx_certmate_problem_t *problem,
    ngx_log_t *log)
{
    X509                       *x;
    u_char                     *p;
    time_t                      now;
    EVP_PKEY                   *key;
    ngx_int_t                   rc;
    ngx_str_t                   serial, san;
    X509_NAME                  *subject;
    ngx_uint_t                  i, tries;
    ngx_certmate_serial_t       s;
    ngx_certmate_profile_t     *profile;
    ngx_certmate_ca_conf_t     *cacf;
    X509_PUBKEY                *spki;
    const char                 *usage, *eku, *exts[20];
    u_char                      bytes[NGX_CERTMATE_CA_SERIAL_LEN];

    ngx_http_certmate_main_conf_t  *cmmcf;

    cmmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                ngx_certmate_module);
    cacf = cmmcf->ca;
    profile = req->profile;

    /* the extensions, as "name", "value" pairs */

    san.len = 0;
    for (i = 0; i < req->nnames; i++) {
        san.len += sizeof("DNS:,") - 1 + req->names[i].len;
    }

    san.data = ngx_pnalloc(pool, san.len + 1);
    if (san.data == NULL) {
        return NGX_ERROR;
    }

    p = san.data;
    for (i = 0; i < req->nnames; i++) {
        p = ngx_sprintf(p, "%sDNS:%V", i ? "," : "", &req->names[i]);
    }
    *p = '\0';

    key = req->key;

    usage = "critical,digitalSignature";

    if ((profile->usage & NGX_CERTMATE_USAGE_SERVER)
        && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
    {
        usage = "critical,digitalSignature,keyEncipherment";
    }

    eku = profile->usage == NGX_CERTMATE_USAGE_SERVER ? "serverAuth"
          : profile->usage == NGX_CERTMATE_USAGE_CLIENT ? "clientAuth"
          : "serverAuth,clientAuth";

    i = 0;
    exts[i++] = "basicConstraints";
    exts[i++] = "critical,CA:FALSE";
    exts[i++] = "keyUsage";
    exts[i++] = usage;
    exts[i++] = "extendedKeyUsage";
    exts[i++] = eku;
    exts[i++] = "subjectKeyIdentifier";
    exts[i++] = "hash";
    exts[i++] = "authorityKeyIdentifier";
    exts[i++] = "keyid:always";
    exts[i++] = "subjectAltName";
    exts[i++] = (char *) san.data;

    if (cacf->crl_url.len) {
        exts[i++] = "crlDistributionPoints";
        exts[i++] = (char *) cacf->crl_url.data;
    }

    if (cacf->ocsp_url.len) {
        exts[i++] = "authorityInfoAccess";
        exts[i++] = (char *) cacf->ocsp_url.data;
    }

    exts[i] = NULL;

    subject = X509_NAME_new();
    if (subject == NULL
        || X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                      req->names[0].data,
                                      req->names[0].len, -1, 0)
           != 1)
    {
        rc = NGX_ERROR;
        goto done;
    }

    /* a CSR's own key: its encoding copied, not made again from the key */

    spki = (req->csr && X509_REQ_get0_pubkey(req->csr) == key)
           ? X509_REQ_get_X509_PUBKEY(req->csr) : NULL;

    now = ngx_time();
    rc = NGX_ERROR;

    for (tries = 0; tries < NGX_CERTMATE_CA_SERIAL_TRIES; tries++) {

        ngx_certmate_ca_serial_new(bytes);
        serial.data = bytes;
        serial.len = NGX_CERTMATE_CA_SERIAL_LEN;

        x = ngx_certmate_ca_make(ca->cert, ca->key, subject, key, spki,
                                 &serial, now, now + req->validity, exts,
                                 log);
        if (x == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memzero(&s, sizeof(ngx_certmate_serial_t));
        ngx_memzero(issued, sizeof(ngx_certmate_ca_issued_t));

        s.serial.data = ngx_pnalloc(pool, serial.len);
        if (s.serial.data == NULL
            || ngx_certmate_ca_der(pool, x, &s.cert) != NGX_OK
            || ngx_certmate_ca_pem(pool, x, &issued->pem) != NGX_OK
            || (req->source
                && ngx_certmate_cert_issued(pool, x, &s.cert, &ca->chain_der,
                                            key, req->kept, req->source,
                                            &issued->cert)
                   != NGX_OK))
        {
            X509_free(x);
            rc = NGX_ERROR;
            break;
        }

        X509_free(x);

        issued->chain = ca->chain_pem;

        ngx_memcpy(s.serial.data, serial.data, serial.len);
        s.serial.len = serial.len;
        s.status = NGX_CERTMATE_SERIAL_GOOD;
        s.not_after = now + req->validity;
        s.profile = profile->name;

        if (req->source) {
            issued->cert.profile = profile->name;
            issued->cert.client_only =
                  !(profile->usage & NGX_CERTMATE_USAGE_SERVER) || !req->kept;
            ngx_memcpy(s.cert_id, issued->cert.id, NGX_CERTMATE_ID_LEN);

        } else {
            issued->cert.not_before = now;
            issued->cert.not_after = now + req->validity;
        }

        if (ngx_certmate_ca_serial_hex(pool, &s.serial, &issued->serial)
            != NGX_OK)
        {
            rc = NGX_ERROR;
            break;
        }

        if (req->audit) {
            req->audit->object = issued->serial;
        }

        rc = ngx_certmate_store_ca_issued(&s,
                                          req->source ? &issued->cert : NULL,
                                          old, req->token, req->audit, log);
        if (rc == NGX_DECLINED) {
            ngx_certmate_problem(pool, problem, "token_used",
                                 "the enrollment token was used meanwhile");
        }

        if (rc == NGX_ERROR) {
            rc = NGX_CERTMATE_STORE_FAILED;
        }

        if (rc != NGX_BUSY) {
            break;
        }
    }

done:

    X509_NAME_free(subject);

    return rc;
}


/* "CN=Example CA,O=Example": an X509_NAME, the suffix added to its CN */

static X509_NAME *
ngx_certmate_ca_dn(ngx_str_t *text, const char *suffix)
{
    u_char      *p, *last, *comma, *eq;
    u_char       field[64], value[256];
    size_t       len;
    ngx_uint_t   cn;
    X509_NAME   *name;

    name = X509_NAME_new();
    if (name == NULL) {
        return NULL;
    }

    cn = 0;
    p = text->data;
    last = p + text->len;

    while (p < last) {
        while (p < last && *p == ' ') {
            p++;
        }

        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        eq = ngx_strlchr(p, comma, '=');

        if (eq == NULL || eq == p || eq + 1 == comma
            || (size_t) (eq - p) >= sizeof(field))
        {
            goto failed;
        }

        ngx_cpystrn(field, p, eq - p + 1);

        len = ngx_snprintf(value, sizeof(value) - 1, "%*s%s", comma - eq - 1,
                           eq + 1,
                           (suffix && ngx_strcmp(field, "CN") == 0)
                           ? suffix : "")
              - value;

        if (ngx_strcmp(field, "CN") == 0) {
            cn = 1;
        }

        if (X509_NAME_add_entry_by_txt(name, (char *) field, MBSTRING_UTF8,
                                       value, len, -1, 0)
            != 1)
        {
            goto failed;
        }

        p = comma + 1;
    }

    if (cn) {
        return name;
    }

failed:

    X509_NAME_free(name);
    ERR_clear_error();

    return NULL;
}


/*
 * A certificate for the key, signed by the issuer (itself when NULL);
 * "exts" are pairs of an extension's name and its openssl.cnf value
 */

static X509 *
ngx_certmate_ca_make(X509 *issuer, EVP_PKEY *issuer_key, X509_NAME *subject,
    EVP_PKEY *key, X509_PUBKEY *spki, ngx_str_t *serial, time_t not_before,
    time_t not_after, const char **exts, ngx_log_t *log)
{
    X509            *x;
    BIGNUM          *bn;
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;

    x = X509_new();
    bn = BN_bin2bn(serial->data, serial->len, NULL);

    if (x == NULL || bn == NULL
        || X509_set_version(x, 2) != 1
        || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL
        || X509_set_subject_name(x, subject) != 1
        || X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                          : subject)
           != 1
        || ASN1_TIME_set(X509_getm_notBefore(x), not_before) == NULL
        || ASN1_TIME_set(X509_getm_notAfter(x), not_after) == NULL
        || (spki ? ngx_certmate_ca_spki(x, spki) : X509_set_pubkey(x, key))
           != 1)
    {
        goto failed;
    }

    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);

    for ( /* void */ ; *exts; exts += 2) {
        ext = X509V3_EXT_nconf(NULL, &ctx, exts[0], exts[1]);

        if (ext == NULL) {
            goto failed;
        }

        if (X509_add_ext(x, ext, -1) != 1) {
            X509_EXTENSION_free(ext);
            goto failed;
        }

        X509_EXTENSION_free(ext);
    }

    if (X509_sign(x, issuer_key, ngx_certmate_ca_md(issuer_key)) == 0) {
        goto failed;
    }

    BN_free(bn);

    return x;

failed:

    ngx_ssl_error(NGX_LOG_CRIT, log, 0, "certmate cannot sign a certificate");

    BN_free(bn);
    X509_free(x);

    return NULL;
}


/* 16 random bytes, positive and of full length as an INTEGER */

/*
 * The subject's key as its SubjectPublicKeyInfo has it: OpenSSL 3.0's
 * X509_set_pubkey() encodes the key and decodes it again, which costs
 * more than signing the certificate
 */

static int
ngx_certmate_ca_spki(X509 *x, X509_PUBKEY *spki)
{
    int                 len, ptype;
    void               *param;
    u_char             *enc;
    X509_ALGOR         *alg;
    ASN1_OBJECT        *obj;
    const void         *pval;
    const u_char       *pk;
    const ASN1_OBJECT  *aobj;

    if (X509_PUBKEY_get0_param(NULL, &pk, &len, &alg, spki) != 1) {
        return 0;
    }

    X509_ALGOR_get0(&aobj, &ptype, &pval, alg);

    obj = OBJ_dup(aobj);
    enc = OPENSSL_memdup(pk, len);

    param = (ptype == V_ASN1_OBJECT) ? (void *) OBJ_dup(pval)
            : (ptype == V_ASN1_SEQUENCE) ? (void *) ASN1_STRING_dup(pval)
            : NULL;

    if (obj == NULL || enc == NULL
        || (param == NULL
            && (ptype == V_ASN1_OBJECT || ptype == V_ASN1_SEQUENCE))
        || X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), obj, ptype, param,
                                  enc, len)
           != 1)
    {
        ASN1_OBJECT_free(obj);
        OPENSSL_free(enc);

        if (ptype == V_ASN1_OBJECT) {
            ASN1_OBJECT_free(param);

        } else {
            ASN1_STRING_free(param);
        }

        return 0;
    }

    return 1;
}


static void
ngx_certmate_ca_serial_new(u_char *serial)
{
    if (RAND_bytes(serial, NGX_CERTMATE_CA_SERIAL_LEN) != 1) {
        ngx_memzero(serial, NGX_CERTMATE_CA_SERIAL_LEN);
    }

    serial[0] = (serial[0] & 0x7f) | 0x40;
}


static const EVP_MD *
ngx_certmate_ca_md(EVP_PKEY *key)
{
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC
        && EVP_PKEY_get_bits(key) >= 384)
    {
        return EVP_sha384();
    }

    return EVP_sha256();
}


static ngx_int_t
ngx_certmate_ca_der(ngx_pool_t *pool, X509 *x, ngx_str_t *der)
{
    int      len;
    u_char  *p;

    len = i2d_X509(x, NULL);
    if (len <= 0) {
        return NGX_ERROR;
    }

    der->data = ngx_pnalloc(pool, len);
    if (der->data == NULL) {
        return NGX_ERROR;
    }

    p = der->data;
    der->len = i2d_X509(x, &p);

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_ca_pem(ngx_pool_t *pool, X509 *x, ngx_str_t *pem)
{
    BIO    *bio;
    char   *data;
    long    len;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NGX_ERROR;
    }

    if (PEM_write_bio_X509(bio, x) != 1) {
        BIO_free(bio);
        return NGX_ERROR;
    }

    len = BIO_get_mem_data(bio, &data);

    pem->len = len;
    pem->data = ngx_pnalloc(pool, len);

    if (pem->data) {
        ngx_memcpy(pem->data, data, len);
    }

    BIO_free(bio);

    return pem->data ? NGX_OK : NGX_ERROR;
}


/*
 * The CA parsed, for this process: parsed again only when the stored
 * record changed.  Called inside a read transaction; NULL when there is
 * no CA yet.
 */

ngx_certmate_ca_signing_t *
ngx_certmate_ca_current(ngx_log_t *log)
{
    X509                       *x;
    BIO                        *bio;
    char                       *data;
    long                        len;
    size_t                      served;
    ngx_str_t                   ders[NGX_CERTMATE_CHAIN_MAX];
    ngx_uint_t                  i, n;
    ngx_certmate_ca_t           ca;
    ngx_certmate_ca_signing_t  *sg;

    sg = &ngx_certmate_ca_signing;

    if (ngx_certmate_store_ca_get(&ca, log) != NGX_OK) {
        return NULL;
    }

    if (sg->cert && sg->version == ca.version) {
        return sg;
    }

    ngx_certmate_ca_signing_free(sg);

    bio = NULL;
    served = 0;

    if (ngx_certmate_cert_split(&ca.chain, ders, &n) != NGX_OK) {
        goto failed;
    }

    sg->chain = sk_X509_new_null();
    bio = BIO_new(BIO_s_mem());

    if (sg->chain == NULL || bio == NULL) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        x = ngx_certmate_cert_x509(&ders[i], log);

        if (x == NULL || sk_X509_push(sg->chain, x) == 0) {
            X509_free(x);
            goto failed;
        }

        /* the chain to serve stops below a self-signed root */

        if (X509_check_issued(x, x) == X509_V_OK) {
            continue;
        }

        if (PEM_write_bio_X509(bio, x) != 1) {
            goto failed;
        }

        served += ders[i].len;
    }

    sg->cert = sk_X509_value(sg->chain, 0);

    if (X509_up_ref(sg->cert) != 1) {
        sg->cert = NULL;
        goto failed;
    }

    sg->key = ngx_certmate_key_decode(ca.key_type, &ca.key, log);
    if (sg->key == NULL) {
        goto failed;
    }

    if (ca.signer.len) {
        sg->signer = ngx_certmate_cert_x509(&ca.signer, log);
        sg->signer_key = ngx_certmate_key_decode(NGX_CERTMATE_KEY_EC_P256,
                                                 &ca.signer_key, log);
        if (sg->signer == NULL || sg->signer_key == NULL) {
            goto failed;
        }
    }

    len = BIO_get_mem_data(bio, &data);

    sg->chain_pem.data = ngx_alloc(len, log);
    if (sg->chain_pem.data == NULL) {
        goto failed;
    }

    ngx_memcpy(sg->chain_pem.data, data, len);
    sg->chain_pem.len = len;

    /* the DER of the same, which comes first in the record's chain */

    sg->chain_der.data = ngx_alloc(served, log);
    if (sg->chain_der.data == NULL) {
        goto failed;
    }

    ngx_memcpy(sg->chain_der.data, ca.chain.data, served);
    sg->chain_der.len = served;
    sg->version = ca.version;

    BIO_free(bio);

    return sg;

failed:

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "certmate cannot use the CA of the store");

    BIO_free(bio);
    ngx_certmate_ca_signing_free(sg);

    return NULL;
}


/*
 * The CA to issue with, for as long as "pool" lives, whatever the
 * process parses meanwhile: its certificate and key referenced, its
 * chains copied, so that a thread of a pool may sign with it.
 * NGX_BUSY: there is no CA yet.
 */

ngx_int_t
ngx_certmate_ca_hold(ngx_pool_t *pool, ngx_certmate_ca_signing_t **held,
    ngx_log_t *log)
{
    ngx_pool_cleanup_t         *cln;
    ngx_certmate_ca_signing_t  *ca, *sg;

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return NGX_ERROR;
    }

    ca = ngx_certmate_ca_current(log);

    ngx_certmate_store_read_end();

    if (ca == NULL) {
        return NGX_BUSY;
    }

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_certmate_ca_signing_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    sg = cln->data;
    ngx_memzero(sg, sizeof(ngx_certmate_ca_signing_t));

    cln->handler = ngx_certmate_ca_release;

    sg->version = ca->version;

    sg->chain_pem.data = ngx_pstrdup(pool, &ca->chain_pem);
    sg->chain_der.data = ngx_pstrdup(pool, &ca->chain_der);

    if (sg->chain_pem.data == NULL || sg->chain_der.data == NULL) {
        return NGX_ERROR;
    }

    sg->chain_pem.len = ca->chain_pem.len;
    sg->chain_der.len = ca->chain_der.len;

    if (X509_up_ref(ca->cert) != 1) {
        return NGX_ERROR;
    }

    sg->cert = ca->cert;

    if (EVP_PKEY_up_ref(ca->key) != 1) {
        return NGX_ERROR;
    }

    sg->key = ca->key;

    *held = sg;

    return NGX_OK;
}


static void
ngx_certmate_ca_release(void *data)
{
    ngx_certmate_ca_signing_t *sg = data;

    X509_free(sg->cert);
    EVP_PKEY_free(sg->key);
}


static void
ngx_certmate_ca_signing_free(ngx_certmate_ca_signing_t *sg)
{
    X509_free(sg->cert);
    EVP_PKEY_free(sg->key);
    X509_free(sg->signer);
    EVP_PKEY_free(sg->signer_key);

    if (sg->chain) {
        sk_X509_pop_free(sg->chain, X509_free);
    }

    if (sg->chain_pem.data) {
        ngx_free(sg->chain_pem.data);
    }

    if (sg->chain_der.data) {
        ngx_free(sg->chain_der.data);
    }

    ngx_memzero(sg, sizeof(ngx_certmate_ca_signing_t));
}


void
ngx_certmate_ca_done(void)
{
    ngx_certmate_ca_signing_free(&ngx_certmate_ca_signing);
}


ngx_int_t
ngx_certmate_ca_reason_parse(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_certmate_ca_reasons) / sizeof(ngx_str_t); i++)
    {
        if (ngx_certmate_ca_reasons[i].len
            && ngx_certmate_ca_reasons[i].len == name->len
            && ngx_strncmp(ngx_certmate_ca_reasons[i].data, name->data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


ngx_str_t *
ngx_certmate_ca_reason_name(ngx_uint_t reason)
{
    if (reason >= sizeof(ngx_certmate_ca_reasons) / sizeof(ngx_str_t)
        || ngx_certmate_ca_reasons[reason].len == 0)
    {
        return &ngx_certmate_ca_reasons[0];
    }

    return &ngx_certmate_ca_reasons[reason];
}


/*
 * A serial in hex, as the API shows it, to the INTEGER's content
 * octets; NGX_DECLINED for what is not the hex of a positive serial
 */

ngx_int_t
ngx_certmate_ca_serial_parse(ngx_pool_t *pool, ngx_str_t *hex,
    ngx_str_t *serial)
{
    u_char      *p, c;
    ngx_int_t    d;
    ngx_uint_t   i, odd;

    if (hex->len == 0 || hex->len > 40) {
        return NGX_DECLINED;
    }

    odd = hex->len & 1;

    serial->len = (hex->len + 1) / 2;
    serial->data = ngx_pcalloc(pool, serial->len + 1);
    if (serial->data == NULL) {
        return NGX_ERROR;
    }

    p = serial->data;

    for (i = 0; i < hex->len; i++) {
        c = ngx_tolower(hex->data[i]);

        if (c >= '0' && c <= '9') {
            d = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;

        } else {
            return NGX_DECLINED;
        }

        if ((i + odd) & 1) {
            *p++ |= (u_char) d;

        } else {
            *p = (u_char) (d << 4);
        }
    }

    /* a leading zero octet is not part of a positive INTEGER's content */

    while (serial->len > 1 && serial->data[0] == 0
           && !(serial->data[1] & 0x80))
    {
        serial->data++;
        serial->len--;
    }

    /* ... unless the next octet has its high bit set */

    if (serial->data[0] & 0x80) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_certmate_ca_serial_hex(ngx_pool_t *pool, ngx_str_t *serial,
    ngx_str_t *hex)
{
    u_char  *p;

    hex->data = ngx_pnalloc(pool, serial->len * 2);
    if (hex->data == NULL) {
        return NGX_ERROR;
    }

    hex->len = ngx_hex_dump(hex->data, serial->data, serial->len)
               - hex->data;

    /* upper case, as certificate objects have it */

    for (p = hex->data; p < hex->data + hex->len; p++) {
        *p = ngx_toupper(*p);
    }

    return NGX_OK;
}


/*
 * helper process only: makes or imports the CA, keeps the OCSP signer
 * fresh and the CRL current
 */

ngx_msec_t
ngx_certmate_ca_tick(ngx_http_certmate_main_conf_t *cmmcf, ngx_log_t *log)
{
    time_t              now;
    uint64_t            revocations;
    ngx_int_t           rc;
    ngx_str_t           ders[NGX_CERTMATE_CHAIN_MAX];
    ngx_uint_t          n, create, replace, signer, crl;
    ngx_pool_t         *pool;
    ngx_certmate_ca_t   ca, conf;

    static ngx_uint_t   checked;
    static ngx_msec_t   wait = NGX_CERTMATE_CA_TICK;

    if (cmmcf->ca == NULL) {
        return NGX_CERTMATE_CA_IDLE;
    }

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NGX_CERTMATE_CA_FAILED_WAIT;
    }

    ngx_memzero(&ca, sizeof(ngx_certmate_ca_t));
    ngx_memzero(&conf, sizeof(ngx_certmate_ca_t));

    now = ngx_time();
    create = 0;
    replace = 0;
    revocations = 0;

    /* once per helper: is the CA to import the one in the store? */

    if (!checked && cmmcf->ca->cert.len
        && ngx_certmate_ca_import(pool, cmmcf->ca, &conf, log) != NGX_OK)
    {
        goto failed;
    }

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        goto failed;
    }

    rc = ngx_certmate_store_ca_get(&ca, log);

    if (rc == NGX_DECLINED) {
        create = 1;

    } else if (rc == NGX_OK && conf.chain.len) {
        rc = ngx_certmate_cert_split(&ca.chain, ders, &n);

        replace = (rc == NGX_OK
                   && (conf.chain.len < ders[0].len
                       || ngx_memcmp(conf.chain.data, ders[0].data,
                                     ders[0].len)
                          != 0));
    }

    if (rc != NGX_ERROR
        && ngx_certmate_store_counter("revocations", &revocations, log)
           != NGX_OK)
    {
        rc = NGX_ERROR;
    }

    signer = (create || replace
              || ca.signer.len == 0
              || ca.signer_not_after - now
                 < NGX_CERTMATE_CA_SIGNER_VALIDITY / 2);

    crl = (signer
           || ca.crl.len == 0
           || ca.crl_revocations != revocations
           || now - ca.crl_this_update
              >= (ca.crl_next_update - ca.crl_this_update) / 2);

    /* the record is copied only when it is to change */

    if (rc == NGX_OK && crl) {
        rc = ngx_certmate_ca_copy(pool, &ca);
    }

    ngx_certmate_store_read_end();

    if (rc == NGX_ERROR) {
        goto failed;
    }

    checked = 1;

    if (create) {
        if (ngx_certmate_ca_create(pool, cmmcf->ca, &ca, log) != NGX_OK) {
            goto failed;
        }

    } else if (replace) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "certmate replaces the stored CA with the one of "
                      "\"certmate_ca cert=\"");

        conf.crl_number = ca.crl_number;
        ca = conf;
    }

    if (signer && ngx_certmate_ca_signer(pool, &ca, log) != NGX_OK) {
        goto failed;
    }

    if (crl
        && (ngx_certmate_ca_crl(pool, &ca, log) != NGX_OK
            || ngx_certmate_store_ca_put(&ca, log) != NGX_OK))
    {
        goto failed;
    }

    ngx_destroy_pool(pool);

    wait = NGX_CERTMATE_CA_TICK;

    return wait;

failed:

    ngx_destroy_pool(pool);

    /* tried again, less often while it keeps failing */

    wait = ngx_min(wait * 2, NGX_CERTMATE_CA_FAILED_WAIT);

    return wait;
}


/* the values of the record, out of the store into the pool */

static ngx_int_t
ngx_certmate_ca_copy(ngx_pool_t *pool, ngx_certmate_ca_t *ca)
{
    ngx_str_t   *s[6];
    ngx_uint_t   i;
    u_char      *p;

    s[0] = &ca->chain;
    s[1] = &ca->key;
    s[2] = &ca->root_key;
    s[3] = &ca->signer;
    s[4] = &ca->signer_key;
    s[5] = &ca->crl;

    for (i = 0; i < 6; i++) {
        if (s[i]->len == 0) {
            continue;
        }

        p = ngx_pnalloc(pool, s[i]->len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, s[i]->data, s[i]->len);
        s[i]->data = p;
    }

    return NGX_OK;
}


/* helper process only: a root and an issuing CA, or the imported CA */

static ngx_int_t
ngx_certmate_ca_create(ngx_pool_t *pool, ngx_certmate_ca_conf_t *cacf,
    ngx_certmate_ca_t *ca, ngx_log_t *log)
{
    X509         *root, *issuing;
    time_t        now;
    u_char       *p;
    EVP_PKEY     *root_key, *key;
    ngx_int_t     rc;
    ngx_str_t     serial, root_der, der;
    X509_NAME    *root_name, *name;
    const char   *exts[16];
    u_char        bytes[NGX_CERTMATE_CA_SERIAL_LEN];

    ngx_memzero(ca, sizeof(ngx_certmate_ca_t));

    if (cacf->cert.len) {
        if (ngx_certmate_ca_import(pool, cacf, ca, log) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "certmate imported the CA of \"certmate_ca cert=\"");
        return NGX_OK;
    }

    rc = NGX_ERROR;
    root = NULL;
    issuing = NULL;
    root_name = ngx_certmate_ca_dn(&cacf->subject, " Root");
    name = ngx_certmate_ca_dn(&cacf->subject, NULL);
    root_key = ngx_certmate_key_generate(cacf->key_type, log);
    key = ngx_certmate_key_generate(NGX_CERTMATE_KEY_EC_P256, log);

    if (root_name == NULL || name == NULL || root_key == NULL || key == NULL) {
        goto done;
    }

    now = ngx_time();
    serial.data = bytes;
    serial.len = NGX_CERTMATE_CA_SERIAL_LEN;

    exts[0] = "basicConstraints";
    exts[1] = "critical,CA:TRUE";
    exts[2] = "keyUsage";
    exts[3] = "critical,keyCertSign,cRLSign";
    exts[4] = "subjectKeyIdentifier";
    exts[5] = "hash";
    exts[6] = NULL;

    ngx_certmate_ca_serial_new(bytes);

    root = ngx_certmate_ca_make(NULL, root_key, root_name, root_key, NULL,
                                &serial, now, now + cacf->validity, exts,
                                log);
    if (root == NULL) {
        goto done;
    }

    exts[1] = "critical,CA:TRUE,pathlen:0";
    exts[3] = "critical,digitalSignature,keyCertSign,cRLSign";
    exts[6] = "authorityKeyIdentifier";
    exts[7] = "keyid:always";
    exts[8] = NULL;

    ngx_certmate_ca_serial_new(bytes);

    issuing = ngx_certmate_ca_make(root, root_key, name, key, NULL, &serial,
                                   now, now + cacf->validity, exts, log);
    if (issuing == NULL) {
        goto done;
    }

    if (ngx_certmate_ca_der(pool, issuing, &der) != NGX_OK
        || ngx_certmate_ca_der(pool, root, &root_der) != NGX_OK
        || ngx_certmate_key_encode(pool, key, &ca->key) != NGX_OK
        || ngx_certmate_key_encode(pool, root_key, &ca->root_key) != NGX_OK)
    {
        goto done;
    }

    ca->chain.len = der.len + root_der.len;
    ca->chain.data = ngx_pnalloc(pool, ca->chain.len);
    if (ca->chain.data == NULL) {
        goto done;
    }

    p = ngx_cpymem(ca->chain.data, der.data, der.len);
    ngx_memcpy(p, root_der.data, root_der.len);

    ca->key_type = NGX_CERTMATE_KEY_EC_P256;
    ca->root_key_type = cacf->key_type;

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "certmate made the CA \"%V\" and its root", &cacf->subject);

    rc = NGX_OK;

done:

    X509_free(root);
    X509_free(issuing);
    X509_NAME_free(root_name);
    X509_NAME_free(name);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(key);

    return rc;
}


/* the configured CA's certificates and key, as the record keeps them */

static ngx_int_t
ngx_certmate_ca_import(ngx_pool_t *pool, ngx_certmate_ca_conf_t *cacf,
    ngx_certmate_ca_t *ca, ngx_log_t *log)
{
    BIO                     *bio;
    X509                    *x;
    u_char                  *p;
    EVP_PKEY                *key;
    ngx_int_t                rc;
    ngx_str_t                der;
    STACK_OF(X509_INFO)     *infos;
    X509_INFO               *info;
    int                      i;
    size_t                   len;

    rc = NGX_ERROR;
    key = NULL;
    infos = NULL;

    bio = BIO_new_mem_buf(cacf->cert.data, cacf->cert.len);
    if (bio == NULL) {
        return NGX_ERROR;
    }

    infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);

    bio = BIO_new_mem_buf(cacf->key.data, cacf->key.len);
    if (bio == NULL) {
        goto done;
    }

    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (infos == NULL || key == NULL) {
        goto done;
    }

    len = 0;

    for (i = 0; i < sk_X509_INFO_num(infos); i++) {
        info = sk_X509_INFO_value(infos, i);

        if (info->x509) {
            len += i2d_X509(info->x509, NULL);
        }
    }

    ca->chain.data = ngx_pnalloc(pool, len);
    if (ca->chain.data == NULL) {
        goto done;
    }

    p = ca->chain.data;

    for (i = 0; i < sk_X509_INFO_num(infos); i++) {
        x = sk_X509_INFO_value(infos, i)->x509;

        if (x) {
            if (ngx_certmate_ca_der(pool, x, &der) != NGX_OK) {
                goto done;
            }

            p = ngx_cpymem(p, der.data, der.len);
        }
    }

    ca->chain.len = p - ca->chain.data;
    ca->key_type = ngx_certmate_key_type(key);
    ca->root_key_type = 0;

    if (ca->chain.len == 0 || ca->key_type == 0
        || ngx_certmate_key_encode(pool, key, &ca->key) != NGX_OK)
    {
        goto done;
    }

    rc = NGX_OK;

done:

    if (rc != NGX_OK) {
        ngx_ssl_error(NGX_LOG_ALERT, log, 0,
                      "certmate cannot read the CA of \"certmate_ca cert=\"");
    }

    if (infos) {
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
    }

    EVP_PKEY_free(key);

    return rc;
}


/* helper process only: a new delegated OCSP signing certificate */

static ngx_int_t
ngx_certmate_ca_signer(ngx_pool_t *pool, ngx_certmate_ca_t *ca,
    ngx_log_t *log)
{
    X509        *ca_cert, *x;
    time_t       now;
    EVP_PKEY    *ca_key, *key;
    ngx_int_t    rc;
    ngx_str_t    ders[NGX_CERTMATE_CHAIN_MAX], serial;
    ngx_uint_t   n;
    X509_NAME   *name;
    const char  *exts[12];
    u_char       bytes[NGX_CERTMATE_CA_SERIAL_LEN];

    rc = NGX_ERROR;
    x = NULL;
    name = NULL;
    ca_cert = NULL;

    ca_key = ngx_certmate_key_decode(ca->key_type, &ca->key, log);
    key = ngx_certmate_key_generate(NGX_CERTMATE_KEY_EC_P256, log);

    if (ca_key == NULL || key == NULL
        || ngx_certmate_cert_split(&ca->chain, ders, &n) != NGX_OK)
    {
        goto done;
    }

    ca_cert = ngx_certmate_cert_x509(&ders[0], log);
    name = X509_NAME_new();

    if (ca_cert == NULL || name == NULL
        || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                      (u_char *) "certmate OCSP signer", -1,
                                      -1, 0)
           != 1)
    {
        goto done;
    }

    exts[0] = "basicConstraints";
    exts[1] = "critical,CA:FALSE";
    exts[2] = "keyUsage";
    exts[3] = "critical,digitalSignature";
    exts[4] = "extendedKeyUsage";
    exts[5] = "OCSPSigning";
    exts[6] = "noCheck";
    exts[7] = "ignored";
    exts[8] = "authorityKeyIdentifier";
    exts[9] = "keyid:always";
    exts[10] = NULL;

    now = ngx_time();
    serial.data = bytes;
    serial.len = NGX_CERTMATE_CA_SERIAL_LEN;
    ngx_certmate_ca_serial_new(bytes);

    x = ngx_certmate_ca_make(ca_cert, ca_key, name, key, NULL, &serial, now,
                             now + NGX_CERTMATE_CA_SIGNER_VALIDITY, exts, log);

    if (x == NULL
        || ngx_certmate_ca_der(pool, x, &ca->signer) != NGX_OK
        || ngx_certmate_key_encode(pool, key, &ca->signer_key) != NGX_OK)
    {
        goto done;
    }

    ca->signer_not_after = now + NGX_CERTMATE_CA_SIGNER_VALIDITY;

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "certmate made a new OCSP signing certificate");

    rc = NGX_OK;

done:

    X509_free(x);
    X509_free(ca_cert);
    X509_NAME_free(name);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);

    return rc;
}


/* helper process only: a CRL of every revoked serial, signed now */

static ngx_int_t
ngx_certmate_ca_crl(ngx_pool_t *pool, ngx_certmate_ca_t *ca, ngx_log_t *log)
{
    int                         len;
    X509                       *ca_cert;
    u_char                     *p;
    time_t                      now;
    uint64_t                    revocations;
    EVP_PKEY                   *ca_key;
    ngx_int_t                   rc;
    ngx_str_t                   ders[NGX_CERTMATE_CHAIN_MAX];
    ngx_uint_t                  n, reading;
    X509V3_CTX                  v3;
    ASN1_TIME                  *t;
    ASN1_INTEGER               *number;
    X509_EXTENSION             *ext;
    ngx_msec_t                  start;
    ngx_certmate_ca_crl_ctx_t   ctx;

    ngx_time_update();
    start = ngx_current_msec;

    rc = NGX_ERROR;
    reading = 0;
    ca_cert = NULL;
    t = NULL;
    number = NULL;

    ngx_memzero(&ctx, sizeof(ngx_certmate_ca_crl_ctx_t));
    ctx.log = log;

    ca_key = ngx_certmate_key_decode(ca->key_type, &ca->key, log);

    if (ca_key == NULL
        || ngx_certmate_cert_split(&ca->chain, ders, &n) != NGX_OK)
    {
        goto done;
    }

    ca_cert = ngx_certmate_cert_x509(&ders[0], log);
    ctx.crl = X509_CRL_new();
    ctx.serial = ASN1_INTEGER_new();
    ctx.time = ASN1_TIME_new();
    number = ASN1_INTEGER_new();

    now = ngx_time();

    if (ca_cert == NULL || ctx.crl == NULL || ctx.serial == NULL
        || ctx.time == NULL || number == NULL
        || X509_CRL_set_version(ctx.crl, X509_CRL_VERSION_2) != 1
        || X509_CRL_set_issuer_name(ctx.crl, X509_get_subject_name(ca_cert))
           != 1
        || (t = ASN1_TIME_set(NULL, now)) == NULL
        || X509_CRL_set1_lastUpdate(ctx.crl, t) != 1
        || ASN1_TIME_set(t, now + NGX_CERTMATE_CA_CRL_VALIDITY) == NULL
        || X509_CRL_set1_nextUpdate(ctx.crl, t) != 1
        || ASN1_INTEGER_set_uint64(number, ca->crl_number + 1) != 1
        || X509_CRL_add1_ext_i2d(ctx.crl, NID_crl_number, number, 0, 0) != 1)
    {
        goto done;
    }

    X509V3_set_ctx(&v3, ca_cert, NULL, NULL, ctx.crl, 0);

    ext = X509V3_EXT_nconf(NULL, &v3, "authorityKeyIdentifier",
                           "keyid:always");
    if (ext == NULL) {
        goto done;
    }

    if (X509_CRL_add_ext(ctx.crl, ext, -1) != 1) {
        X509_EXTENSION_free(ext);
        goto done;
    }

    X509_EXTENSION_free(ext);

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        goto done;
    }

    reading = 1;

    if (ngx_certmate_store_counter("revocations", &revocations, log) != NGX_OK
        || ngx_certmate_store_serial_each(ngx_certmate_ca_crl_entry, &ctx,
                                          log)
           != NGX_OK)
    {
        goto done;
    }

    ngx_certmate_store_read_end();
    reading = 0;

    if (X509_CRL_sort(ctx.crl) != 1
        || X509_CRL_sign(ctx.crl, ca_key, ngx_certmate_ca_md(ca_key)) == 0)
    {
        goto done;
    }

    len = i2d_X509_CRL(ctx.crl, NULL);
    if (len <= 0) {
        goto done;
    }

    ca->crl.data = ngx_pnalloc(pool, len);
    if (ca->crl.data == NULL) {
        goto done;
    }

    p = ca->crl.data;
    ca->crl.len = i2d_X509_CRL(ctx.crl, &p);
    ca->crl_number++;
    ca->crl_this_update = now;
    ca->crl_next_update = now + NGX_CERTMATE_CA_CRL_VALIDITY;
    ca->crl_revocations = revocations;

    ngx_time_update();

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "certmate signed CRL number %uL with %ui entries in %M ms",
                  ca->crl_number, ctx.entries, ngx_current_msec - start);

    rc = NGX_OK;

done:

    if (reading) {
        ngx_certmate_store_read_end();
    }

    if (rc != NGX_OK) {
        ngx_ssl_error(NGX_LOG_CRIT, log, 0, "certmate cannot sign the CRL");
    }

    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    X509_CRL_free(ctx.crl);
    ASN1_INTEGER_free(ctx.serial);
    ASN1_TIME_free(ctx.time);
    ASN1_TIME_free(t);
    ASN1_INTEGER_free(number);

    return rc;
}


static ngx_int_t
ngx_certmate_ca_crl_entry(ngx_certmate_serial_t *s, void *data)
{
    ngx_certmate_ca_crl_ctx_t *ctx = data;

    X509_REVOKED     *revoked;
    ASN1_ENUMERATED  *reason;

    if (s->status != NGX_CERTMATE_SERIAL_REVOKED) {
        return NGX_OK;
    }

    revoked = X509_REVOKED_new();
    if (revoked == NULL) {
        return NGX_ERROR;
    }

    if (ASN1_STRING_set(ctx->serial, s->serial.data, s->serial.len) != 1
        || X509_REVOKED_set_serialNumber(revoked, ctx->serial) != 1
        || ASN1_TIME_set(ctx->time, s->revoked_at) == NULL
        || X509_REVOKED_set_revocationDate(revoked, ctx->time) != 1)
    {
        goto failed;
    }

    if (s->reason) {
        reason = ASN1_ENUMERATED_new();

        if (reason == NULL
            || ASN1_ENUMERATED_set(reason, s->reason) != 1
            || X509_REVOKED_add1_ext_i2d(revoked, NID_crl_reason, reason, 0,
                                         0)
               != 1)
        {
            ASN1_ENUMERATED_free(reason);
            goto failed;
        }

        ASN1_ENUMERATED_free(reason);
    }

    if (X509_CRL_add0_revoked(ctx->crl, revoked) != 1) {
        goto failed;
    }

    ctx->entries++;

    return NGX_OK;

failed:

    X509_REVOKED_free(revoked);

    return NGX_ERROR;
}


/* "certmate_ca" parameters */

char *
ngx_certmate_ca_parse(ngx_conf_t *cf, ngx_certmate_ca_conf_t *cacf)
{
    int                   n;
    BIO                  *bio;
    X509                 *x, *prev, *cur;
    EVP_PKEY             *key;
    ngx_int_t             type;
    ngx_str_t            *value, v, cert_file, key_file, *url;
    ngx_uint_t            i, made;
    X509_NAME            *name;
    const char           *prefix;
    STACK_OF(X509_INFO)  *infos;

    value = cf->args->elts;

    cacf->key_type = NGX_CERTMATE_KEY_EC_P384;
    ngx_str_set(&cacf->subject, "CN=certmate CA");
    cacf->validity = 3650 * 86400;

    ngx_str_null(&cert_file);
    ngx_str_null(&key_file);
    made = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        v.data = (u_char *) ngx_strchr(value[i].data, '=');

        if (v.data == NULL || v.data[1] == '\0') {
            goto invalid;
        }

        v.data++;
        v.len = value[i].data + value[i].len - v.data;

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            type = ngx_certmate_key_type_conf(cf, &v);

            if (type == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            cacf->key_type = type;
            made = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "subject=", 8) == 0) {
            name = ngx_certmate_ca_dn(&v, NULL);

            if (name == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"subject=\" \"%V\": expected "
                                   "\"CN=...\" and further \"KEY=value\" "
                                   "separated by commas", &v);
                return NGX_CONF_ERROR;
            }

            X509_NAME_free(name);
            cacf->subject = v;
            made = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "validity=", 9) == 0) {
            cacf->validity = ngx_parse_time(&v, 1);

            if (cacf->validity == (time_t) NGX_ERROR
                || cacf->validity < 86400)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"validity=\" \"%V\": expected "
                                   "a time of a day or more, like 3650d",
                                   &v);
                return NGX_CONF_ERROR;
            }

            made = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "cert=", 5) == 0) {
            cert_file = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "key_file=", 9) == 0) {
            key_file = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "crl_url=", 8) == 0) {
            url = &cacf->crl_url;
            prefix = "URI:";

        } else if (ngx_strncmp(value[i].data, "ocsp_url=", 9) == 0) {
            url = &cacf->ocsp_url;
            prefix = "OCSP;URI:";

        } else {
            goto invalid;
        }

        if ((v.len < 7 || ngx_strncmp(v.data, "http://", 7) != 0)
            && (v.len < 8 || ngx_strncmp(v.data, "https://", 8) != 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is not an http:// or https:// URL",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_strlchr(v.data, v.data + v.len, ',')) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": a URL with a comma cannot go into "
                               "a certificate here", &value[i]);
            return NGX_CONF_ERROR;
        }

        url->len = ngx_strlen(prefix) + v.len;
        url->data = ngx_pnalloc(cf->pool, url->len + 1);
        if (url->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(url->data, "%s%V%Z", prefix, &v);
    }

    if ((cert_file.len == 0) != (key_file.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cert=\" and \"key_file=\" go together");
        return NGX_CONF_ERROR;
    }

    if (cert_file.len == 0) {
        return NGX_CONF_OK;
    }

    if (made) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cert=\" imports a CA: \"key=\", \"subject=\" "
                           "and \"validity=\" are for a CA certmate makes");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &cert_file, 1) != NGX_OK
        || ngx_conf_full_name(cf->cycle, &key_file, 1) != NGX_OK
        || ngx_certmate_ca_file(cf, &cert_file, &cacf->cert) != NGX_OK
        || ngx_certmate_ca_file(cf, &key_file, &cacf->key) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    x = NULL;
    key = NULL;
    infos = NULL;

    bio = BIO_new_mem_buf(cacf->cert.data, cacf->cert.len);
    if (bio) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }

    bio = BIO_new_mem_buf(cacf->key.data, cacf->key.len);
    if (bio) {
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }

    ERR_clear_error();

    if (x == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cert=\" file \"%V\" has no PEM certificate",
                           &cert_file);
        goto failed;
    }

    if (key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"key_file=\" file \"%V\" has no PEM private "
                           "key without a passphrase", &key_file);
        goto failed;
    }

    if (X509_check_ca(x) < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the first certificate of \"%V\" is not a CA "
                           "certificate", &cert_file);
        goto failed;
    }

    if (X509_check_private_key(x, key) != 1) {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key of \"%V\" does not belong to the first "
                           "certificate of \"%V\"", &key_file, &cert_file);
        goto failed;
    }

    if (ngx_certmate_key_type(key) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key of \"%V\" is not one of the types "
                           "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096",
                           &key_file);
        goto failed;
    }

    /* each further certificate issued the one before it */

    bio = BIO_new_mem_buf(cacf->cert.data, cacf->cert.len);
    if (bio) {
        infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
        BIO_free(bio);
    }

    if (infos == NULL) {
        goto failed;
    }

    for (n = 1, prev = NULL; n <= sk_X509_INFO_num(infos); n++) {
        cur = sk_X509_INFO_value(infos, n - 1)->x509;

        if (cur == NULL) {
            continue;
        }

        if (prev && X509_check_issued(cur, prev) != X509_V_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "certificate %d of \"%V\" did not issue "
                               "the one before it: the chain goes from "
                               "the CA up to the root", n, &cert_file);
            goto failed;
        }

        prev = cur;
    }

    X509_free(x);
    EVP_PKEY_free(key);
    sk_X509_INFO_pop_free(infos, X509_INFO_free);

    return NGX_CONF_OK;

failed:

    X509_free(x);
    EVP_PKEY_free(key);

    if (infos) {
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
    }

    ERR_clear_error();

    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* "certmate_profile NAME" parameters */

char *
ngx_certmate_profile_parse(ngx_conf_t *cf, ngx_certmate_profile_t *profile)
{
    u_char      *p, *last, *comma;
    ngx_int_t    type;
    ngx_str_t   *value, v, item, *pattern;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "a profile needs a name");
        return NGX_CONF_ERROR;
    }

    profile->name = value[1];
    profile->usage = NGX_CERTMATE_USAGE_SERVER;
    profile->key_types = 0;
    profile->validity = 90 * 86400;
    profile->max_validity = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        v.data = (u_char *) ngx_strchr(value[i].data, '=');

        if (v.data == NULL || v.data[1] == '\0') {
            goto invalid;
        }

        v.data++;
        v.len = value[i].data + value[i].len - v.data;

        if (ngx_strncmp(value[i].data, "validity=", 9) == 0
            || ngx_strncmp(value[i].data, "max_validity=", 13) == 0)
        {
            if (value[i].data[0] == 'v') {
                profile->validity = ngx_parse_time(&v, 1);

            } else {
                profile->max_validity = ngx_parse_time(&v, 1);
            }

            if (ngx_parse_time(&v, 1) == (time_t) NGX_ERROR
                || ngx_parse_time(&v, 1) < 60)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": expected a time of a "
                                   "minute or more, like 90d", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "pop=", 4) == 0) {

            if (ngx_strcmp(v.data, "on") == 0) {
                profile->pop = 1;

            } else if (ngx_strcmp(v.data, "off") != 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\", expected \"pop=on\" or "
                                   "\"pop=off\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "usage=", 6) == 0) {
            profile->usage = 0;
        }

        p = v.data;
        last = v.data + v.len;

        while (p < last) {
            comma = ngx_strlchr(p, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            item.data = p;
            item.len = comma - p;
            p = comma + 1;

            if (ngx_strncmp(value[i].data, "usage=", 6) == 0) {

                if (item.len == 6 && ngx_strncmp(item.data, "server", 6) == 0)
                {
                    profile->usage |= NGX_CERTMATE_USAGE_SERVER;

                } else if (item.len == 6
                           && ngx_strncmp(item.data, "client", 6) == 0)
                {
                    profile->usage |= NGX_CERTMATE_USAGE_CLIENT;

                } else {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid usage \"%V\", expected "
                                       "\"server\", \"client\" or "
                                       "\"server,client\"", &item);
                    return NGX_CONF_ERROR;
                }

            } else if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
                type = ngx_certmate_key_type_conf(cf, &item);

                if (type == NGX_ERROR) {
                    return NGX_CONF_ERROR;
                }

                profile->key_types |= 1 << type;

                if (profile->key_type == 0) {
                    profile->key_type = type;
                }

            } else if (ngx_strncmp(value[i].data, "names=", 6) == 0) {

                if (item.len == 0 || ngx_certmate_name_valid(&item) != NGX_OK)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid name pattern \"%V\", "
                                       "expected a DNS name or \"*.\" and "
                                       "one", &item);
                    return NGX_CONF_ERROR;
                }

                if (profile->names == NULL) {
                    profile->names = ngx_array_create(cf->pool, 4,
                                                      sizeof(ngx_str_t));
                    if (profile->names == NULL) {
                        return NGX_CONF_ERROR;
                    }
                }

                pattern = ngx_array_push(profile->names);
                if (pattern == NULL) {
                    return NGX_CONF_ERROR;
                }

                *pattern = item;

            } else {
                goto invalid;
            }
        }
    }

    if (profile->key_types == 0) {
        profile->key_types = NGX_CERTMATE_KEY_ALL;
        profile->key_type = NGX_CERTMATE_KEY_EC_P256;
    }

    if (profile->max_validity == 0) {
        profile->max_validity = profile->validity;
    }

    if (profile->validity > profile->max_validity) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "profile \"%V\" has \"validity=\" longer than "
                           "\"max_validity=\"", &profile->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_certmate_ca_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *content)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    n = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" is not a readable file of at most 1 MB",
                           name);
        goto done;
    }

    content->len = ngx_file_size(&fi);
    content->data = ngx_pnalloc(cf->pool, content->len + 1);
    if (content->data == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, content->data, content->len);

    if (n != (ssize_t) content->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", name);
        n = NGX_ERROR;
    }

done:

    ngx_close_file(fd);

    return n == NGX_ERROR ? NGX_ERROR : NGX_OK;
}
