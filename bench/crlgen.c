
/*
 * certmate bench: a CRL of N random serials, signed by a CA.
 *
 * Usage: crlgen CA_CERT CA_KEY N OUT_PEM
 *
 * The serials are 16 random bytes each (top bit clear), revoked an hour
 * ago for keyCompromise; the CRL is valid for a day.
 */


#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>


static void
fail(const char *what)
{
    fprintf(stderr, "crlgen: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}


int
main(int argc, char **argv)
{
    FILE             *f;
    X509             *ca;
    time_t            now;
    EVP_PKEY         *key;
    X509_CRL         *crl;
    ASN1_TIME        *t;
    ASN1_INTEGER     *serial;
    X509_REVOKED     *rev;
    ASN1_ENUMERATED  *reason;
    unsigned long     i, n;
    unsigned char     bytes[16];

    if (argc != 5) {
        fprintf(stderr, "usage: crlgen CA_CERT CA_KEY N OUT_PEM\n");
        return 2;
    }

    f = fopen(argv[1], "r");
    ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (ca == NULL) {
        fail("cannot read the CA certificate");
    }
    fclose(f);

    f = fopen(argv[2], "r");
    key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (key == NULL) {
        fail("cannot read the CA key");
    }
    fclose(f);

    n = strtoul(argv[3], NULL, 10);
    now = time(NULL);

    crl = X509_CRL_new();
    t = ASN1_TIME_new();
    reason = ASN1_ENUMERATED_new();

    if (crl == NULL || t == NULL || reason == NULL
        || X509_CRL_set_version(crl, 1) != 1
        || X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1
        || ASN1_TIME_set(t, now - 60) == NULL
        || X509_CRL_set1_lastUpdate(crl, t) != 1
        || ASN1_TIME_set(t, now + 86400) == NULL
        || X509_CRL_set1_nextUpdate(crl, t) != 1
        || ASN1_TIME_set(t, now - 3600) == NULL
        || ASN1_ENUMERATED_set(reason, 1) != 1)
    {
        fail("cannot make the CRL");
    }

    for (i = 0; i < n; i++) {
        if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
            fail("RAND_bytes() failed");
        }

        bytes[0] &= 0x7f;
        bytes[0] |= 0x01;

        rev = X509_REVOKED_new();
        serial = ASN1_INTEGER_new();

        if (rev == NULL || serial == NULL
            || ASN1_STRING_set(serial, bytes, sizeof(bytes)) != 1
            || X509_REVOKED_set_serialNumber(rev, serial) != 1
            || X509_REVOKED_set_revocationDate(rev, t) != 1
            || X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0)
               != 1
            || X509_CRL_add0_revoked(crl, rev) != 1)
        {
            fail("cannot add an entry");
        }

        ASN1_INTEGER_free(serial);
    }

    if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, key, EVP_sha256()) == 0)
    {
        fail("cannot sign the CRL");
    }

    f = fopen(argv[4], "w");
    if (f == NULL || PEM_write_X509_CRL(f, crl) != 1 || fclose(f) != 0) {
        fail("cannot write the CRL");
    }

    return 0;
}
