
/*
 * certmate tests: another process on the store's LMDB environment.
 *
 *   store-tool readers DIR N        hold N reader slots until killed
 *   store-tool grow DIR SIZE BYTES  grow the map to SIZE, write BYTES
 *   store-tool schema DIR N         set the schema version to N
 *   store-tool audit-alter DIR SEQ  change the last byte of an audit event
 *   store-tool audit-delete DIR SEQ delete an audit event
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <lmdb.h>


static MDB_env *open_env(const char *dir, size_t mapsize, unsigned readers);
static int fail(const char *call, int rc);


int
main(int argc, char **argv)
{
    int        rc, i, n;
    char       key[32];
    size_t     bytes;
    MDB_txn   *txn;
    MDB_dbi    dbi;
    MDB_env   *env;
    MDB_val    k, v;
    uint32_t   schema;
    uint64_t   seq;
    unsigned char  be[8], copy[4096];

    if (argc < 4) {
        fprintf(stderr, "usage: store-tool readers|grow|schema DIR ...\n");
        return 2;
    }

    if (strcmp(argv[1], "readers") == 0) {
        n = atoi(argv[3]);
        env = open_env(argv[2], 0, n);

        for (i = 0; i < n; i++) {
            rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
            if (rc != MDB_SUCCESS) {
                return fail("mdb_txn_begin", rc);
            }
        }

        printf("ready\n");
        fflush(stdout);

        for ( ;; ) {
            pause();
        }
    }

    if (strcmp(argv[1], "grow") == 0 && argc == 5) {
        env = open_env(argv[2], strtoull(argv[3], NULL, 10), 0);
        bytes = strtoull(argv[4], NULL, 10);

        rc = mdb_txn_begin(env, NULL, 0, &txn);
        if (rc == MDB_SUCCESS) {
            rc = mdb_dbi_open(txn, "test-filler", MDB_CREATE, &dbi);
        }

        for (i = 0; rc == MDB_SUCCESS && bytes > 0; i++) {
            k.mv_size = snprintf(key, sizeof(key), "%08d", i);
            k.mv_data = key;
            v.mv_size = bytes > 1000 ? 1000 : bytes;
            rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
            if (rc == MDB_SUCCESS) {
                memset(v.mv_data, 'x', v.mv_size);
                bytes -= v.mv_size;
            }
        }

        if (rc == MDB_SUCCESS) {
            rc = mdb_txn_commit(txn);
        }

        return rc == MDB_SUCCESS ? 0 : fail("grow", rc);
    }

    if (strcmp(argv[1], "schema") == 0) {
        env = open_env(argv[2], 0, 0);
        schema = atoi(argv[3]);

        rc = mdb_txn_begin(env, NULL, 0, &txn);
        if (rc == MDB_SUCCESS) {
            rc = mdb_dbi_open(txn, "meta", 0, &dbi);
        }

        if (rc == MDB_SUCCESS) {
            k.mv_data = "schema";
            k.mv_size = 6;
            v.mv_data = &schema;
            v.mv_size = sizeof(uint32_t);
            rc = mdb_put(txn, dbi, &k, &v, 0);
        }

        if (rc == MDB_SUCCESS) {
            rc = mdb_txn_commit(txn);
        }

        return rc == MDB_SUCCESS ? 0 : fail("schema", rc);
    }

    if (strncmp(argv[1], "audit-", 6) == 0) {
        env = open_env(argv[2], 0, 0);
        seq = strtoull(argv[3], NULL, 10);

        for (i = 0; i < 8; i++) {
            be[i] = (unsigned char) (seq >> (56 - 8 * i));
        }

        k.mv_data = be;
        k.mv_size = 8;

        rc = mdb_txn_begin(env, NULL, 0, &txn);
        if (rc == MDB_SUCCESS) {
            rc = mdb_dbi_open(txn, "audit", 0, &dbi);
        }

        if (rc == MDB_SUCCESS && strcmp(argv[1], "audit-delete") == 0) {
            rc = mdb_del(txn, dbi, &k, NULL);

        } else if (rc == MDB_SUCCESS) {
            rc = mdb_get(txn, dbi, &k, &v);

            if (rc == MDB_SUCCESS) {
                memcpy(copy, v.mv_data, v.mv_size < sizeof(copy)
                                        ? v.mv_size : sizeof(copy));
                copy[v.mv_size - 1] ^= 0x01;
                v.mv_data = copy;
                rc = mdb_put(txn, dbi, &k, &v, 0);
            }
        }

        if (rc == MDB_SUCCESS) {
            rc = mdb_txn_commit(txn);
        }

        return rc == MDB_SUCCESS ? 0 : fail(argv[1], rc);
    }

    fprintf(stderr, "store-tool: unknown command \"%s\"\n", argv[1]);
    return 2;
}


static MDB_env *
open_env(const char *dir, size_t mapsize, unsigned readers)
{
    int       rc;
    MDB_env  *env;

    rc = mdb_env_create(&env);
    if (rc == MDB_SUCCESS) {
        rc = mdb_env_set_maxdbs(env, 16);
    }

    if (rc == MDB_SUCCESS && mapsize) {
        rc = mdb_env_set_mapsize(env, mapsize);
    }

    if (rc == MDB_SUCCESS && readers) {
        rc = mdb_env_set_maxreaders(env, readers);
    }

    if (rc == MDB_SUCCESS) {
        rc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
    }

    if (rc != MDB_SUCCESS) {
        fail("mdb_env_open", rc);
        exit(1);
    }

    return env;
}


static int
fail(const char *call, int rc)
{
    fprintf(stderr, "store-tool: %s: %s\n", call, mdb_strerror(rc));
    return 1;
}
