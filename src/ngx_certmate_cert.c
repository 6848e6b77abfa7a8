
/*
 * certmate: certificate records.
 *
 * An imported PEM chain and key become a record of DER: the chain is
 * ordered leaf first with each certificate signed by the next, the key
 * must match the leaf, the names are the leaf's DNS subjectAltNames and
 * the id is the first half of the leaf's SHA-256 fingerprint.
 */


#include "ngx_certmate_cert.h"

#include <openssl/x509v3.h>


static ngx_int_t ngx_certmate_cert_leaf(ngx_pool_t *pool, X509 *leaf,
    ngx_certmate_cert_t *cert, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_certmate_cert_read_chain(ngx_pool_t *pool,
    ngx_str_t *pem, STACK_OF(X509) *certs, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_certmate_cert_read_key(ngx_pool_t *pool, ngx_str_t *pem,
    EVP_PKEY **key, ngx_certmate_problem_t *problem);
static int ngx_certmate_cert_no_password(char *buf, int size, int rwflag,
    void *userdata);
static ngx_int_t ngx_certmate_cert_order(ngx_pool_t *pool,
    STACK_OF(X509) *certs, EVP_PKEY *key, STACK_OF(X509) *chain,
    ngx_certmate_problem_t *problem);
static ngx_int_t ngx_certmate_cert_names(ngx_pool_t *pool, X509 *leaf,
    ngx_str_t *names, ngx_certmate_problem_t *problem);
static ngx_int_t ngx_certmate_cert_valid_name(u_char *name, size_t len);
static ngx_int_t ngx_certmate_cert_der(ngx_pool_t *pool,
    STACK_OF(X509) *chain, EVP_PKEY *key, ngx_certmate_cert_t *cert);
static void ngx_certmate_problem_openssl(ngx_pool_t *pool,
    ngx_certmate_problem_t *problem, const char *code, const char *what);


static ngx_str_t  ngx_certmate_key_types[] = {
    ngx_null_string,
    ngx_string("ec-p256"),
    ngx_string("ec-p384"),
    ngx_string("rsa-2048"),
    ngx_string("rsa-3072"),
    ngx_string("rsa-4096")
};


static ngx_str_t  ngx_certmate_sources[] = {
    ngx_null_string,
    ngx_string("import"),
    ngx_string("ca"),
    ngx_string("acme"),
    ngx_string("est")
};


ngx_int_t
ngx_certmate_cert_import(ngx_pool_t *pool, ngx_str_t *chain_pem,
    ngx_str_t *key_pem, ngx_certmate_cert_t *cert,
    ngx_certmate_problem_t *problem)
{
    EVP_PKEY   *key;
    ngx_int_t   rc;

    ERR_clear_error();

    rc = ngx_certmate_cert_read_key(pool, key_pem, &key, problem);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_certmate_cert_build(pool, chain_pem, key,
                                 NGX_CERTMATE_SOURCE_IMPORT, cert, problem);

    EVP_PKEY_free(key);

    return rc;
}


/* a record from a PEM chain and the key of its leaf */

ngx_int_t
ngx_certmate_cert_build(ngx_pool_t *pool, ngx_str_t *chain_pem,
    EVP_PKEY *key, ngx_uint_t source, ngx_certmate_cert_t *cert,
    ngx_certmate_problem_t *problem)
{
    ngx_int_t        rc;
    STACK_OF(X509)  *certs, *chain;

    chain = NULL;

    ERR_clear_error();

    certs = sk_X509_new_null();
    if (certs == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_certmate_cert_read_chain(pool, chain_pem, certs, problem);
    if (rc != NGX_OK) {
        goto done;
    }

    cert->key_type = ngx_certmate_key_type(key);

    if (cert->key_type == 0) {
        ngx_certmate_problem(pool, problem, "unsupported_key",
                             "the private key is not one of the supported "
                             "types ec-p256, ec-p384, rsa-2048, rsa-3072, "
                             "rsa-4096");
        rc = NGX_DECLINED;
        goto done;
    }

    chain = sk_X509_new_null();
    if (chain == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    rc = ngx_certmate_cert_order(pool, certs, key, chain, problem);
    if (rc != NGX_OK) {
        goto done;
    }

    rc = ngx_certmate_cert_leaf(pool, sk_X509_value(chain, 0), cert,
                                problem);
    if (rc != NGX_OK) {
        goto done;
    }

    cert->source = source;
    ngx_str_null(&cert->profile);

    rc = ngx_certmate_cert_der(pool, chain, key, cert);

done:

    sk_X509_pop_free(certs, X509_free);
    sk_X509_free(chain);
    ERR_clear_error();

    return rc;
}


/*
 * What a record says of its leaf: names, validity, fingerprint and id,
 * serial, subject, issuer
 */

static ngx_int_t
ngx_certmate_cert_leaf(ngx_pool_t *pool, X509 *leaf,
    ngx_certmate_cert_t *cert, ngx_certmate_problem_t *problem)
{
    ngx_int_t     rc;
    unsigned int  len;

    rc = ngx_certmate_cert_names(pool, leaf, &cert->names, problem);
    if (rc != NGX_OK) {
        return rc;
    }

    cert->not_before = ngx_certmate_cert_time(X509_get0_notBefore(leaf));
    cert->not_after = ngx_certmate_cert_time(X509_get0_notAfter(leaf));

    if (cert->not_before == (time_t) -1 || cert->not_after == (time_t) -1) {
        ngx_certmate_problem(pool, problem, "invalid_certificate",
                             "the certificate has an unreadable validity "
                             "period");
        return NGX_DECLINED;
    }

    if (X509_digest(leaf, EVP_sha256(), cert->fingerprint, &len) != 1
        || ngx_certmate_cert_serial(pool, leaf, &cert->serial) != NGX_OK
        || ngx_certmate_cert_x509_name(pool, X509_get_subject_name(leaf),
                                       &cert->subject)
           != NGX_OK
        || ngx_certmate_cert_x509_name(pool, X509_get_issuer_name(leaf),
                                       &cert->issuer)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(cert->id, cert->fingerprint, NGX_CERTMATE_ID_LEN);

    return NGX_OK;
}


static ngx_int_t
ngx_certmate_cert_read_chain(ngx_pool_t *pool, ngx_str_t *pem,
    STACK_OF(X509) *certs, ngx_certmate_problem_t *problem)
{
    BIO            *bio;
    X509           *x;
    ngx_int_t       rc;
    unsigned long   err;

    bio = BIO_new_mem_buf(pem->data, pem->len);
    if (bio == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for ( ;; ) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (x == NULL) {
            err = ERR_peek_last_error();

            if (ERR_GET_LIB(err) == ERR_LIB_PEM
                && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)
            {
                ERR_clear_error();

                if (sk_X509_num(certs) > 0) {
                    break;
                }

                ngx_certmate_problem(pool, problem, "invalid_certificate",
                                     "\"certificate\" holds no PEM "
                                     "certificate");
                rc = NGX_DECLINED;
                break;
            }

            ngx_certmate_problem_openssl(pool, problem, "invalid_certificate",
                                         "a certificate in \"certificate\" "
                                         "is not valid");
            rc = NGX_DECLINED;
            break;
        }

        if (sk_X509_num(certs) == NGX_CERTMATE_CHAIN_MAX) {
            X509_free(x);
            ngx_certmate_problem(pool, problem, "invalid_chain",
                                 "\"certificate\" holds more than %d "
                                 "certificates", NGX_CERTMATE_CHAIN_MAX);
            rc = NGX_DECLINED;
            break;
        }

        if (sk_X509_push(certs, x) == 0) {
            X509_free(x);
            rc = NGX_ERROR;
            break;
        }
    }

    BIO_free(bio);

    return rc;
}


static ngx_int_t
ngx_certmate_cert_read_key(ngx_pool_t *pool, ngx_str_t *pem, EVP_PKEY **key,
    ngx_certmate_problem_t *problem)
{
    BIO  *bio;

    bio = BIO_new_mem_buf(pem->data, pem->len);
    if (bio == NULL) {
        return NGX_ERROR;
    }

    *key = PEM_read_bio_PrivateKey(bio, NULL, ngx_certmate_cert_no_password,
                                   NULL);
    BIO_free(bio);

    if (*key == NULL) {
        ngx_certmate_problem_openssl(pool, problem, "invalid_key",
                                     "\"private_key\" is not a PEM private "
                                     "key without a passphrase");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static int
ngx_certmate_cert_no_password(char *buf, int size, int rwflag, void *userdata)
{
    return 0;
}


ngx_uint_t
ngx_certmate_key_type(EVP_PKEY *key)
{
    int     nid;
    char    group[64];
    size_t  len;

    switch (EVP_PKEY_get_base_id(key)) {

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
            return 0;
        }

        nid = OBJ_sn2nid(group);

        if (nid == NID_X9_62_prime256v1) {
            return NGX_CERTMATE_KEY_EC_P256;
        }

        if (nid == NID_secp384r1) {
            return NGX_CERTMATE_KEY_EC_P384;
        }

        return 0;

    case EVP_PKEY_RSA:

        switch (EVP_PKEY_get_bits(key)) {
        case 2048:
            return NGX_CERTMATE_KEY_RSA_2048;
        case 3072:
            return NGX_CERTMATE_KEY_RSA_3072;
        case 4096:
            return NGX_CERTMATE_KEY_RSA_4096;
        }

        return 0;
    }

    return 0;
}


/*
 * Puts the certificate of the key first, then its issuer, its issuer's
 * issuer and so on; every certificate given must find its place.
 */

static ngx_int_t
ngx_certmate_cert_order(ngx_pool_t *pool, STACK_OF(X509) *certs,
    EVP_PKEY *key, STACK_OF(X509) *chain, ngx_certmate_problem_t *problem)
{
    int         i, n;
    X509       *x, *cur;
    ngx_str_t   subject;

    n = sk_X509_num(certs);
    cur = NULL;

    for (i = 0; i < n; i++) {
        x = sk_X509_value(certs, i);

        if (X509_check_private_key(x, key) == 1) {
            cur = x;
            break;
        }
    }

    ERR_clear_error();

    if (cur == NULL) {
        ngx_certmate_problem(pool, problem, "key_mismatch",
                             "\"private_key\" belongs to none of the "
                             "certificates in \"certificate\"");
        return NGX_DECLINED;
    }

    for ( ;; ) {
        if (sk_X509_push(chain, cur) == 0) {
            return NGX_ERROR;
        }

        if (X509_check_issued(cur, cur) == X509_V_OK) {
            break;
        }

        for (i = 0; i < n; i++) {
            x = sk_X509_value(certs, i);

            if (X509_check_issued(x, cur) == X509_V_OK
                && X509_verify(cur, X509_get0_pubkey(x)) == 1)
            {
                break;
            }
        }

        ERR_clear_error();

        if (i == n) {
            break;
        }

        cur = sk_X509_value(certs, i);

        for (i = 0; i < sk_X509_num(chain); i++) {
            if (sk_X509_value(chain, i) == cur) {
                break;
            }
        }

        if (i < sk_X509_num(chain)) {
            break;
        }
    }

    if (sk_X509_num(chain) == n) {
        return NGX_OK;
    }

    for (i = 0; i < n; i++) {
        x = sk_X509_value(certs, i);

        if (sk_X509_find(chain, x) < 0) {
            break;
        }
    }

    if (ngx_certmate_cert_x509_name(pool, X509_get_subject_name(x), &subject)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_certmate_problem(pool, problem, "invalid_chain",
                         "certificate \"%V\" is not in the chain of the "
                         "certificate of \"private_key\"", &subject);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_certmate_cert_names(ngx_pool_t *pool, X509 *leaf, ngx_str_t *names,
    ngx_certmate_problem_t *problem)
{
    int                      i, n, len;
    u_char                  *p, *q, *data;
    size_t                   size;
    GENERAL_NAME            *gn;
    GENERAL_NAMES           *gens;
    const unsigned char     *dns;

    gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);

    n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    size = 0;

    for (i = 0; i < n; i++) {
        gn = sk_GENERAL_NAME_value(gens, i);

        if (gn->type == GEN_DNS) {
            size += ASN1_STRING_length(gn->d.dNSName) + 1;
        }
    }

    if (size == 0) {
        GENERAL_NAMES_free(gens);
        ngx_certmate_problem(pool, problem, "no_names",
                             "the certificate has no DNS names in its "
                             "subjectAltName");
        return NGX_DECLINED;
    }

    data = ngx_pnalloc(pool, size);
    if (data == NULL) {
        GENERAL_NAMES_free(gens);
        return NGX_ERROR;
    }

    p = data;

    for (i = 0; i < n; i++) {
        gn = sk_GENERAL_NAME_value(gens, i);

        if (gn->type != GEN_DNS) {
            continue;
        }

        dns = ASN1_STRING_get0_data(gn->d.dNSName);
        len = ASN1_STRING_length(gn->d.dNSName);

        if (ngx_certmate_cert_valid_name((u_char *) dns, len) != NGX_OK) {
            ngx_certmate_problem(pool, problem, "invalid_name",
                                 "the certificate's subjectAltName has "
                                 "the DNS name \"%*s\", which no TLS client "
                                 "can ask for", (size_t) ngx_min(len, 64),
                                 dns);
            GENERAL_NAMES_free(gens);
            return NGX_DECLINED;
        }

        ngx_strlow(p, (u_char *) dns, len);
        p[len] = '\0';

        /* skip a name listed twice */

        for (q = data; q < p; q += ngx_strlen(q) + 1) {
            if (ngx_strcmp(q, p) == 0) {
                break;
            }
        }

        if (q == p) {
            p += len + 1;
        }
    }

    GENERAL_NAMES_free(gens);

    names->data = data;
    names->len = p - data;

    return NGX_OK;
}


/* a host name, or "*." and a host name */

static ngx_int_t
ngx_certmate_cert_valid_name(u_char *name, size_t len)
{
    u_char  c, *p, *last;
    size_t  label;

    if (len == 0 || len > NGX_CERTMATE_NAME_MAX) {
        return NGX_ERROR;
    }

    p = name;
    last = name + len;

    if (len > 2 && p[0] == '*' && p[1] == '.') {
        p += 2;
    }

    label = 0;

    for ( /* void */ ; p < last; p++) {
        c = ngx_tolower(*p);

        if (c == '.') {
            if (label == 0) {
                return NGX_ERROR;
            }

            label = 0;
            continue;
        }

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '_')
        {
            if (++label > 63) {
                return NGX_ERROR;
            }

            continue;
        }

        return NGX_ERROR;
    }

    return label ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_certmate_cert_der(ngx_pool_t *pool, STACK_OF(X509) *chain, EVP_PKEY *key,
    ngx_certmate_cert_t *cert)
{
    int      i, len;
    u_char  *p;
    size_t   size;

    size = 0;

    for (i = 0; i < sk_X509_num(chain); i++) {
        len = i2d_X509(sk_X509_value(chain, i), NULL);
        if (len <= 0) {
            return NGX_ERROR;
        }

        size += len;
    }

    cert->chain.data = ngx_pnalloc(pool, size);
    if (cert->chain.data == NULL) {
        return NGX_ERROR;
    }

    p = cert->chain.data;

    for (i = 0; i < sk_X509_num(chain); i++) {
        (void) i2d_X509(sk_X509_value(chain, i), &p);
    }

    cert->chain.len = size;

    return ngx_certmate_key_encode(pool, key, &cert->key);
}


/*
 * A record of a certificate that the built-in CA just made, with the
 * DER of the CA certificates served after it: trusted, so neither
 * parsed again nor checked.  The key is stored when it is ours
 * ("kept"); else the record has none and is not served.
 */

ngx_int_t
ngx_certmate_cert_issued(ngx_pool_t *pool, X509 *leaf, ngx_str_t *der,
    ngx_str_t *ca_der, EVP_PKEY *key, ngx_uint_t kept, ngx_uint_t source,
    ngx_certmate_cert_t *cert)
{
    u_char                  *p;
    ngx_certmate_problem_t   problem;

    if (ngx_certmate_cert_leaf(pool, leaf, cert, &problem) != NGX_OK) {
        return NGX_ERROR;
    }

    cert->key_type = ngx_certmate_key_type(key);
    cert->source = source;

    cert->chain.len = der->len + ca_der->len;
    cert->chain.data = ngx_pnalloc(pool, cert->chain.len);
    if (cert->chain.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(cert->chain.data, der->data, der->len);
    ngx_memcpy(p, ca_der->data, ca_der->len);

    if (!kept) {
        ngx_str_null(&cert->key);
        return NGX_OK;
    }

    return ngx_certmate_key_encode(pool, key, &cert->key);
}


/* type-specific DER: SEC1 for ECDSA, PKCS#1 for RSA */

ngx_int_t
ngx_certmate_key_encode(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *der)
{
    int      len;
    u_char  *p;

    len = i2d_PrivateKey(key, NULL);

    der->data = len > 0 ? ngx_pnalloc(pool, len) : NULL;
    if (der->data == NULL) {
        return NGX_ERROR;
    }

    p = der->data;
    (void) i2d_PrivateKey(key, &p);
    der->len = len;

    return NGX_OK;
}


time_t
ngx_certmate_cert_time(const ASN1_TIME *t)
{
    struct tm  tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return (time_t) -1;
    }

    return timegm(&tm);
}


/* a CA's name as foreign revocation data knows it: SHA-256 of its DER */

ngx_int_t
ngx_certmate_issuer_hash(X509_NAME *name, u_char *hash)
{
    size_t                len;
    const unsigned char  *der;

    if (X509_NAME_get0_der(name, &der, &len) != 1
        || SHA256(der, len, hash) == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The handshake cache's way in: a stored chain split into certificates,
 * each parsed, and the stored key parsed.
 */

ngx_int_t
ngx_certmate_cert_split(ngx_str_t *chain, ngx_str_t *ders, ngx_uint_t *n)
{
    int             tag, xclass;
    long            len;
    const u_char   *p, *start, *last;

    *n = 0;
    p = chain->data;
    last = p + chain->len;

    while (p < last) {
        if (*n == NGX_CERTMATE_CHAIN_MAX) {
            return NGX_ERROR;
        }

        start = p;

        if (ASN1_get_object(&p, &len, &tag, &xclass, last - p) & 0x80
            || tag != V_ASN1_SEQUENCE
            || len > last - p)
        {
            ERR_clear_error();
            return NGX_ERROR;
        }

        p += len;

        ders[*n].data = (u_char *) start;
        ders[*n].len = p - start;
        (*n)++;
    }

    return *n ? NGX_OK : NGX_ERROR;
}


X509 *
ngx_certmate_cert_x509(ngx_str_t *der, ngx_log_t *log)
{
    X509          *x;
    const u_char  *p;

    p = der->data;

    x = d2i_X509(NULL, &p, der->len);
    if (x == NULL || p != der->data + der->len) {
        ngx_ssl_error(NGX_LOG_ALERT, log, 0,
                      "d2i_X509() failed on a stored certificate");
        X509_free(x);
        return NULL;
    }

    return x;
}


/*
 * OpenSSL 3.0 decodes keys of unknown encoding through its provider
 * decoders at some 90 microseconds a key; the type-specific decoders
 * below take a tenth of that, which is what a cache miss costs
 */

EVP_PKEY *
ngx_certmate_key_decode(ngx_uint_t type, ngx_str_t *der, ngx_log_t *log)
{
    RSA           *rsa;
    EC_KEY        *ec;
    EVP_PKEY      *key;
    const u_char  *p;

    key = EVP_PKEY_new();
    if (key == NULL) {
        return NULL;
    }

    p = der->data;

    if (ngx_certmate_key_class(type) == NGX_CERTMATE_CLASS_EC) {
        ec = d2i_ECPrivateKey(NULL, &p, der->len);

        if (ec && EVP_PKEY_assign_EC_KEY(key, ec) == 1) {
            return key;
        }

        EC_KEY_free(ec);

    } else {
        rsa = d2i_RSAPrivateKey(NULL, &p, der->len);

        if (rsa && EVP_PKEY_assign_RSA(key, rsa) == 1) {
            return key;
        }

        RSA_free(rsa);
    }

    ngx_ssl_error(NGX_LOG_ALERT, log, 0, "certmate cannot decode a stored key");
    EVP_PKEY_free(key);

    return NULL;
}


/* helper process only: RSA keys take up to seconds */

EVP_PKEY *
ngx_certmate_key_generate(ngx_uint_t type, ngx_log_t *log)
{
    EVP_PKEY  *key;

    switch (type) {

    case NGX_CERTMATE_KEY_EC_P256:
        key = EVP_EC_gen("P-256");
        break;

    case NGX_CERTMATE_KEY_EC_P384:
        key = EVP_EC_gen("P-384");
        break;

    case NGX_CERTMATE_KEY_RSA_2048:
        key = EVP_RSA_gen(2048);
        break;

    case NGX_CERTMATE_KEY_RSA_3072:
        key = EVP_RSA_gen(3072);
        break;

    default: /* NGX_CERTMATE_KEY_RSA_4096 */
        key = EVP_RSA_gen(4096);
        break;
    }

    if (key == NULL) {
        ngx_ssl_error(NGX_LOG_CRIT, log, 0, "certmate key generation failed");
    }

    return key;
}


/* a PKCS#10 request in DER for DNS names, signed by the key */

ngx_int_t
ngx_certmate_csr(ngx_pool_t *pool, EVP_PKEY *key, ngx_str_t *names,
    ngx_uint_t n, ngx_str_t *der)
{
    int                  len;
    u_char              *p;
    X509_REQ            *req;
    ngx_int_t            rc;
    ngx_uint_t           i;
    GENERAL_NAME        *gn;
    GENERAL_NAMES       *gens;
    ASN1_IA5STRING      *ia5;
    STACK_OF(X509_EXTENSION)  *exts;

    rc = NGX_ERROR;
    exts = NULL;

    req = X509_REQ_new();
    gens = GENERAL_NAMES_new();

    if (req == NULL || gens == NULL) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        gn = GENERAL_NAME_new();
        ia5 = ASN1_IA5STRING_new();

        if (gn == NULL || ia5 == NULL
            || ASN1_STRING_set(ia5, names[i].data, names[i].len) != 1)
        {
            GENERAL_NAME_free(gn);
            ASN1_IA5STRING_free(ia5);
            goto done;
        }

        GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);

        if (sk_GENERAL_NAME_push(gens, gn) == 0) {
            GENERAL_NAME_free(gn);
            goto done;
        }
    }

    exts = sk_X509_EXTENSION_new_null();

    if (exts == NULL
        || X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, 0) != 1
        || X509_REQ_add_extensions(req, exts) != 1
        || X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
                                      MBSTRING_ASC, names[0].data,
                                      names[0].len, -1, 0)
           != 1
        || X509_REQ_set_pubkey(req, key) != 1
        || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
    {
        goto done;
    }

    len = i2d_X509_REQ(req, NULL);

    der->data = len > 0 ? ngx_pnalloc(pool, len) : NULL;
    if (der->data == NULL) {
        goto done;
    }

    p = der->data;
    (void) i2d_X509_REQ(req, &p);
    der->len = len;

    rc = NGX_OK;

done:

    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_REQ_free(req);
    ERR_clear_error();

    return rc;
}


/* a description for people, copied out of the store's memory */

ngx_int_t
ngx_certmate_cert_info(ngx_pool_t *pool, ngx_certmate_cert_t *cert,
    ngx_certmate_cert_info_t *info)
{
    u_char     *p, *last;
    ngx_str_t  *name;

    info->id.data = ngx_pnalloc(pool, NGX_CERTMATE_ID_HEX_LEN);
    info->fingerprint.data = ngx_pnalloc(pool,
                                         2 * NGX_CERTMATE_FINGERPRINT_LEN);
    if (info->id.data == NULL || info->fingerprint.data == NULL) {
        return NGX_ERROR;
    }

    info->id.len = ngx_certmate_id_hex(info->id.data, cert->id)
                   - info->id.data;
    info->fingerprint.len = ngx_hex_dump(info->fingerprint.data,
                                         cert->fingerprint,
                                         NGX_CERTMATE_FINGERPRINT_LEN)
                            - info->fingerprint.data;

    if (ngx_array_init(&info->names, pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    p = cert->names.data;
    last = p + cert->names.len;

    while (p < last) {
        name = ngx_array_push(&info->names);
        if (name == NULL) {
            return NGX_ERROR;
        }

        name->len = ngx_strlen(p);
        name->data = ngx_pnalloc(pool, name->len);
        if (name->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(name->data, p, name->len);
        p += name->len + 1;
    }

    info->key_type = *ngx_certmate_key_type_name(cert->key_type);
    info->source = *ngx_certmate_source_name(cert->source);

    info->profile.len = cert->profile.len;
    info->profile.data = ngx_pstrdup(pool, &cert->profile);
    info->serial.len = cert->serial.len;
    info->serial.data = ngx_pstrdup(pool, &cert->serial);
    info->subject.len = cert->subject.len;
    info->subject.data = ngx_pstrdup(pool, &cert->subject);
    info->issuer.len = cert->issuer.len;
    info->issuer.data = ngx_pstrdup(pool, &cert->issuer);

    if (info->profile.data == NULL || info->serial.data == NULL
        || info->subject.data == NULL || info->issuer.data == NULL)
    {
        return NGX_ERROR;
    }

    info->not_before = cert->not_before;
    info->not_after = cert->not_after;
    info->version = cert->version;

    if (cert->revoked) {
        ngx_str_set(&info->status, "revoked");

    } else if (cert->not_after < ngx_time()) {
        ngx_str_set(&info->status, "expired");

    } else {
        ngx_str_set(&info->status, "active");
    }

    return NGX_OK;
}


ngx_int_t
ngx_certmate_cert_serial(ngx_pool_t *pool, X509 *x, ngx_str_t *serial)
{
    char    *hex;
    BIGNUM  *bn;

    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    if (bn == NULL) {
        return NGX_ERROR;
    }

    hex = BN_bn2hex(bn);
    BN_free(bn);

    if (hex == NULL) {
        return NGX_ERROR;
    }

    serial->len = ngx_strlen(hex);
    serial->data = ngx_pnalloc(pool, serial->len);

    if (serial->data) {
        ngx_memcpy(serial->data, hex, serial->len);
    }

    OPENSSL_free(hex);

    return serial->data ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_cert_x509_name(ngx_pool_t *pool, X509_NAME *name,
    ngx_str_t *text)
{
    BIO   *bio;
    char  *data;
    long   len;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return NGX_ERROR;
    }

    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(bio);
        return NGX_ERROR;
    }

    len = BIO_get_mem_data(bio, &data);

    text->len = len;
    text->data = ngx_pnalloc(pool, len);

    if (text->data == NULL) {
        BIO_free(bio);
        return NGX_ERROR;
    }

    ngx_memcpy(text->data, data, len);
    BIO_free(bio);

    return NGX_OK;
}


/* whether the certificate is for the name: exactly, or by wildcard */

ngx_uint_t
ngx_certmate_cert_has_name(ngx_certmate_cert_t *cert, ngx_str_t *name)
{
    u_char  *p, *last, *dot;
    size_t   len;

    dot = ngx_strlchr(name->data, name->data + name->len, '.');

    p = cert->names.data;
    last = p + cert->names.len;

    while (p < last) {
        len = ngx_strlen(p);

        if (len == name->len
            && ngx_strncasecmp(p, name->data, len) == 0)
        {
            return 1;
        }

        if (p[0] == '*'
            && dot
            && len - 1 == (size_t) (name->data + name->len - dot)
            && ngx_strncasecmp(p + 1, dot, len - 1) == 0)
        {
            return 1;
        }

        p += len + 1;
    }

    return 0;
}


ngx_int_t
ngx_certmate_key_type_parse(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 1; i < sizeof(ngx_certmate_key_types) / sizeof(ngx_str_t); i++) {
        if (name->len == ngx_certmate_key_types[i].len
            && ngx_strncmp(name->data, ngx_certmate_key_types[i].data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* a key type of the configuration; NGX_ERROR: logged, with the valid ones */

ngx_int_t
ngx_certmate_key_type_conf(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_int_t  type;

    type = ngx_certmate_key_type_parse(name);

    if (type == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key type \"%V\", expected ec-p256, "
                           "ec-p384, rsa-2048, rsa-3072 or rsa-4096", name);
    }

    return type;
}


/* a DNS name a certificate may have: a host name or "*." and one */

ngx_int_t
ngx_certmate_name_valid(ngx_str_t *name)
{
    return ngx_certmate_cert_valid_name(name->data, name->len);
}


/* the names of key types and sources, as stored; empty: unknown */

ngx_str_t *
ngx_certmate_key_type_name(ngx_uint_t type)
{
    return &ngx_certmate_key_types[type < sizeof(ngx_certmate_key_types)
                                          / sizeof(ngx_str_t)
                                   ? type : 0];
}


ngx_str_t *
ngx_certmate_source_name(ngx_uint_t source)
{
    return &ngx_certmate_sources[source < sizeof(ngx_certmate_sources)
                                          / sizeof(ngx_str_t)
                                 ? source : 0];
}


ngx_int_t
ngx_certmate_source_parse(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 1; i < sizeof(ngx_certmate_sources) / sizeof(ngx_str_t); i++) {
        if (name->len == ngx_certmate_sources[i].len
            && ngx_strncmp(name->data, ngx_certmate_sources[i].data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* RFC 3339: 2030-01-31T12:00:00Z, fractions and offsets allowed */

time_t
ngx_certmate_time_parse(ngx_str_t *text)
{
    u_char     *p, *last;
    time_t      t, offset;
    struct tm   tm;

    if (text->len < sizeof("2030-01-31T12:00:00Z") - 1) {
        return NGX_ERROR;
    }

    p = text->data;
    last = p + text->len;

    ngx_memzero(&tm, sizeof(struct tm));

    if (p[4] != '-' || p[7] != '-'
        || (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
        || p[13] != ':' || p[16] != ':')
    {
        return NGX_ERROR;
    }

    tm.tm_year = ngx_atoi(p, 4) - 1900;
    tm.tm_mon = ngx_atoi(p + 5, 2) - 1;
    tm.tm_mday = ngx_atoi(p + 8, 2);
    tm.tm_hour = ngx_atoi(p + 11, 2);
    tm.tm_min = ngx_atoi(p + 14, 2);
    tm.tm_sec = ngx_atoi(p + 17, 2);

    if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11
        || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0
        || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59
        || tm.tm_sec < 0 || tm.tm_sec > 60)
    {
        return NGX_ERROR;
    }

    p += 19;

    if (p < last && *p == '.') {
        do {
            p++;
        } while (p < last && *p >= '0' && *p <= '9');
    }

    offset = 0;

    if (last - p == 1 && (*p == 'Z' || *p == 'z')) {
        /* UTC */

    } else if (last - p == 6 && (*p == '+' || *p == '-') && p[3] == ':') {
        if (ngx_atoi(p + 1, 2) == NGX_ERROR
            || ngx_atoi(p + 4, 2) == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        offset = ngx_atoi(p + 1, 2) * 3600 + ngx_atoi(p + 4, 2) * 60;

        if (*p == '-') {
            offset = -offset;
        }

    } else {
        return NGX_ERROR;
    }

    t = timegm(&tm);
    if (t == (time_t) -1) {
        return NGX_ERROR;
    }

    return t - offset;
}


ngx_int_t
ngx_certmate_id_parse(ngx_str_t *hex, u_char *id)
{
    u_char      c, v;
    ngx_uint_t  i;

    if (hex->len != NGX_CERTMATE_ID_HEX_LEN) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_CERTMATE_ID_HEX_LEN; i++) {
        c = ngx_tolower(hex->data[i]);

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;

        } else {
            return NGX_ERROR;
        }

        if (i % 2 == 0) {
            id[i / 2] = v << 4;

        } else {
            id[i / 2] |= v;
        }
    }

    return NGX_OK;
}


u_char *
ngx_certmate_id_hex(u_char *dst, u_char *id)
{
    return ngx_hex_dump(dst, id, NGX_CERTMATE_ID_LEN);
}


void
ngx_certmate_problem(ngx_pool_t *pool, ngx_certmate_problem_t *problem,
    const char *code, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;
    u_char    text[NGX_MAX_ERROR_STR];

    va_start(args, fmt);
    last = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    /* messages quote what clients sent: keep them printable ASCII */

    for (p = text; p < last; p++) {
        if (*p < 0x20 || *p > 0x7e) {
            *p = '?';
        }
    }

    problem->code = code;
    problem->message.len = last - text;
    problem->message.data = ngx_pnalloc(pool, problem->message.len);

    if (problem->message.data == NULL) {
        problem->message.len = 0;
        return;
    }

    ngx_memcpy(problem->message.data, text, problem->message.len);
}


/* a problem whose message ends with what OpenSSL said */

static void
ngx_certmate_problem_openssl(ngx_pool_t *pool,
    ngx_certmate_problem_t *problem, const char *code, const char *what)
{
    const char     *reason;
    unsigned long   err;

    err = ERR_peek_last_error();
    reason = err ? ERR_reason_error_string(err) : NULL;

    if (reason) {
        ngx_certmate_problem(pool, problem, code, "%s: %s", what, reason);

    } else {
        ngx_certmate_problem(pool, problem, code, "%s", what);
    }

    ERR_clear_error();
}
