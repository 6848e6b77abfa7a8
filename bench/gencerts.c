
/*
 * certmate bench: generates N distinct certificates for the handshake
 * benchmark.
 *
 * A root CA and an intermediate CA (EC P-256) issue N leaf certificates,
 * each with its own EC P-256 key and one DNS name "nNNNNNN.bench.test".
 * A chain is the leaf and the intermediate, as a public CA would send.
 *
 * Writes into DIR:
 *
 *   certs.jsonl   one import body per line:
 *                 {"certificate": "<leaf+intermediate PEM>",
 *                  "private_key": "<PKCS#8 PEM>"}
 *   names.txt     the names, one a line, in the same order
 *   static.crt    one more certificate of the same kind for the
 *   static.key    plain nginx ("static.bench.test")
 *   ca.crt        the root CA
 *
 * Usage: gencerts -n N -o DIR [-j JOBS]
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>


#define BENCH_DAYS  90


typedef struct {
    X509      *cert;
    EVP_PKEY  *key;
    char      *pem;
    size_t     pem_len;
} bench_ca_t;


static void usage(void);
static void fail(const char *what);
static EVP_PKEY *gen_key(void);
static X509 *make_cert(const char *cn, const char *dns, EVP_PKEY *key,
    X509 *issuer, EVP_PKEY *issuer_key, int ca);
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value);
static char *to_pem(X509 *x, EVP_PKEY *key, size_t *len);
static void json_text(FILE *f, const char *s, size_t len);
static void write_file(const char *dir, const char *name, const char *data,
    size_t len);
static void gen_range(bench_ca_t *inter, unsigned long from,
    unsigned long to, FILE *f);


static void
usage(void)
{
    fprintf(stderr, "usage: gencerts -n N -o DIR [-j JOBS]\n");
    exit(2);
}


static void
fail(const char *what)
{
    fprintf(stderr, "gencerts: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}


static EVP_PKEY *
gen_key(void)
{
    EVP_PKEY  *key;

    key = EVP_EC_gen("P-256");
    if (key == NULL) {
        fail("EVP_EC_gen()");
    }

    return key;
}


static X509 *
make_cert(const char *cn, const char *dns, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key, int ca)
{
    X509          *x;
    BIGNUM        *bn;
    X509_NAME     *name;
    unsigned char  serial[16];
    char           san[300];

    x = X509_new();
    if (x == NULL) {
        fail("X509_new()");
    }

    if (RAND_bytes(serial, sizeof(serial)) != 1) {
        fail("RAND_bytes()");
    }

    serial[0] &= 0x7f;

    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL
        || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
    {
        fail("serial");
    }

    BN_free(bn);

    if (X509_set_version(x, 2) != 1
        || X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(x), 86400L * BENCH_DAYS)
           == NULL
        || X509_set_pubkey(x, key) != 1)
    {
        fail("X509 fields");
    }

    name = X509_get_subject_name(x);

    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *) cn, -1, -1, 0)
        != 1)
    {
        fail("X509_NAME_add_entry_by_txt()");
    }

    if (issuer == NULL) {
        issuer = x;
        issuer_key = key;
    }

    if (X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1) {
        fail("X509_set_issuer_name()");
    }

    if (ca) {
        if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE") != 1
            || add_ext(x, issuer, NID_key_usage,
                       "critical,keyCertSign,cRLSign") != 1
            || add_ext(x, issuer, NID_subject_key_identifier, "hash") != 1)
        {
            fail("CA extensions");
        }

    } else {
        snprintf(san, sizeof(san), "DNS:%s", dns);

        if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE")
            != 1
            || add_ext(x, issuer, NID_key_usage,
                       "critical,digitalSignature") != 1
            || add_ext(x, issuer, NID_ext_key_usage, "serverAuth") != 1
            || add_ext(x, issuer, NID_subject_alt_name, san) != 1)
        {
            fail("leaf extensions");
        }
    }

    if (issuer != x
        && add_ext(x, issuer, NID_authority_key_identifier, "keyid:always")
           != 1)
    {
        fail("authorityKeyIdentifier");
    }

    if (X509_sign(x, issuer_key, EVP_sha256()) == 0) {
        fail("X509_sign()");
    }

    return x;
}


static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    int              rc;
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);

    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return 0;
    }

    rc = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);

    return rc;
}


/* PEM of a certificate or of a private key (PKCS#8), malloc()ed */

static char *
to_pem(X509 *x, EVP_PKEY *key, size_t *len)
{
    BIO   *bio;
    char  *data, *pem;
    long   n;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        fail("BIO_new()");
    }

    if (x) {
        if (PEM_write_bio_X509(bio, x) != 1) {
            fail("PEM_write_bio_X509()");
        }

    } else if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
               != 1)
    {
        fail("PEM_write_bio_PrivateKey()");
    }

    n = BIO_get_mem_data(bio, &data);

    pem = malloc(n + 1);
    if (pem == NULL) {
        fail("malloc()");
    }

    memcpy(pem, data, n);
    pem[n] = '\0';
    *len = n;

    BIO_free(bio);

    return pem;
}


/* the inside of a JSON string: PEM needs no escaping but of its newlines */

static void
json_text(FILE *f, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] == '\n') {
            fputs("\\n", f);

        } else {
            fputc(s[i], f);
        }
    }
}


static void
write_file(const char *dir, const char *name, const char *data, size_t len)
{
    FILE  *f;
    char   path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "gencerts: cannot write %s: %s\n", path,
                strerror(errno));
        exit(1);
    }
}


static void
gen_range(bench_ca_t *inter, unsigned long from, unsigned long to, FILE *f)
{
    X509           *x;
    char           *cert_pem, *key_pem;
    size_t          cert_len, key_len;
    EVP_PKEY       *key;
    unsigned long   i;
    char            dns[64];

    for (i = from; i < to; i++) {
        snprintf(dns, sizeof(dns), "n%06lu.bench.test", i);

        key = gen_key();
        x = make_cert(dns, dns, key, inter->cert, inter->key, 0);

        cert_pem = to_pem(x, NULL, &cert_len);
        key_pem = to_pem(NULL, key, &key_len);

        fputs("{\"certificate\":\"", f);
        json_text(f, cert_pem, cert_len);
        json_text(f, inter->pem, inter->pem_len);
        fputs("\",\"private_key\":\"", f);
        json_text(f, key_pem, key_len);
        fputs("\"}\n", f);

        free(cert_pem);
        free(key_pem);
        X509_free(x);
        EVP_PKEY_free(key);
    }
}


int
main(int argc, char **argv)
{
    int             c, status;
    char           *dir, *cert_pem, *key_pem, *chain, path[4096];
    FILE           *f, *names, *part;
    pid_t          *pids;
    size_t          cert_len, key_len, len;
    X509           *x;
    EVP_PKEY       *key;
    bench_ca_t      root, inter;
    unsigned long   n, i, jobs, from, to;
    struct timespec t0, t1;
    static char     buf[65536];

    n = 0;
    jobs = 1;
    dir = NULL;

    while ((c = getopt(argc, argv, "n:o:j:")) != -1) {
        switch (c) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'o':
            dir = optarg;
            break;
        case 'j':
            jobs = strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }

    if (dir == NULL || n == 0 || n > 1000000 || jobs == 0 || jobs > 64) {
        usage();
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);

    root.key = gen_key();
    root.cert = make_cert("certmate bench root", NULL, root.key, NULL, NULL,
                          1);
    root.pem = to_pem(root.cert, NULL, &root.pem_len);

    inter.key = gen_key();
    inter.cert = make_cert("certmate bench intermediate", NULL, inter.key,
                           root.cert, root.key, 1);
    inter.pem = to_pem(inter.cert, NULL, &inter.pem_len);

    write_file(dir, "ca.crt", root.pem, root.pem_len);

    /* the static certificate: the same shape, leaf and intermediate */

    key = gen_key();
    x = make_cert("static.bench.test", "static.bench.test", key, inter.cert,
                  inter.key, 0);

    cert_pem = to_pem(x, NULL, &cert_len);
    key_pem = to_pem(NULL, key, &key_len);

    chain = malloc(cert_len + inter.pem_len);
    if (chain == NULL) {
        fail("malloc()");
    }

    memcpy(chain, cert_pem, cert_len);
    memcpy(chain + cert_len, inter.pem, inter.pem_len);

    write_file(dir, "static.crt", chain, cert_len + inter.pem_len);
    write_file(dir, "static.key", key_pem, key_len);

    free(chain);
    free(cert_pem);
    free(key_pem);
    X509_free(x);
    EVP_PKEY_free(key);

    /* the names */

    snprintf(path, sizeof(path), "%s/names.txt", dir);

    names = fopen(path, "w");
    if (names == NULL) {
        fprintf(stderr, "gencerts: cannot write %s\n", path);
        return 1;
    }

    for (i = 0; i < n; i++) {
        fprintf(names, "n%06lu.bench.test\n", i);
    }

    if (fclose(names) != 0) {
        fail("fclose()");
    }

    /* the certificates: each job writes its part, then they are joined */

    pids = calloc(jobs, sizeof(pid_t));
    if (pids == NULL) {
        fail("calloc()");
    }

    fflush(NULL);

    for (i = 0; i < jobs; i++) {
        from = n * i / jobs;
        to = n * (i + 1) / jobs;

        pids[i] = fork();

        if (pids[i] == -1) {
            fail("fork()");
        }

        if (pids[i] == 0) {
            snprintf(path, sizeof(path), "%s/certs.jsonl.%lu", dir, i);

            f = fopen(path, "w");
            if (f == NULL) {
                fail("fopen()");
            }

            gen_range(&inter, from, to, f);

            if (fclose(f) != 0) {
                fail("fclose()");
            }

            _exit(0);
        }
    }

    for (i = 0; i < jobs; i++) {
        if (waitpid(pids[i], &status, 0) == -1
            || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        {
            fprintf(stderr, "gencerts: a job failed\n");
            return 1;
        }
    }

    snprintf(path, sizeof(path), "%s/certs.jsonl", dir);

    f = fopen(path, "w");
    if (f == NULL) {
        fail("fopen()");
    }

    for (i = 0; i < jobs; i++) {
        snprintf(path, sizeof(path), "%s/certs.jsonl.%lu", dir, i);

        part = fopen(path, "r");
        if (part == NULL) {
            fail("fopen()");
        }

        while ((len = fread(buf, 1, sizeof(buf), part)) > 0) {
            if (fwrite(buf, 1, len, f) != len) {
                fail("fwrite()");
            }
        }

        fclose(part);
        unlink(path);
    }

    if (fclose(f) != 0) {
        fail("fclose()");
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);

    printf("gencerts: %lu certificates in %.2f s\n", n,
           (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

    return 0;
}
