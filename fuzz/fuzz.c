
/*
 * certmate fuzz targets: the nginx a parser needs around it.  Every
 * message is formatted at debug level and written to /dev/null, so that
 * a log line's arguments are checked too.
 */


#include "fuzz.h"
#include "ngx_certmate_store.h"

#include <openssl/ssl.h>


static ngx_log_t        ngx_fuzz_log;
static ngx_open_file_t  ngx_fuzz_log_file;
static ngx_cycle_t      ngx_fuzz_cycle;


ngx_log_t *
ngx_fuzz_init(void)
{
    static ngx_uint_t  done;

    if (done) {
        return &ngx_fuzz_log;
    }

    done = 1;

    ngx_pagesize = getpagesize();
    for (ngx_pagesize_shift = 0; (ngx_uint_t) 1 << ngx_pagesize_shift
                                 < ngx_pagesize; ngx_pagesize_shift++)
    {
        /* void */
    }

    ngx_cacheline_size = NGX_CPU_CACHE_LINE;
    ngx_pid = ngx_getpid();
    ngx_use_stderr = 0;

    ngx_time_init();

    ngx_fuzz_log_file.fd = open("/dev/null", O_WRONLY);
    ngx_fuzz_log.file = &ngx_fuzz_log_file;
    ngx_fuzz_log.log_level = NGX_LOG_DEBUG | NGX_LOG_DEBUG_ALL;

    ngx_fuzz_cycle.log = &ngx_fuzz_log;
    ngx_cycle = &ngx_fuzz_cycle;

    OPENSSL_init_ssl(0, NULL);

    return &ngx_fuzz_log;
}


void
ngx_fuzz_store(size_t max_size)
{
    char        *dir;
    ngx_str_t    path;

    dir = getenv("CERTMATE_FUZZ_DIR");

    path.len = ngx_strlen(dir ? dir : "/tmp") + sizeof("/store-XXXXXX") - 1;
    path.data = malloc(path.len + 1);

    if (path.data == NULL) {
        abort();
    }

    ngx_sprintf(path.data, "%s/store-XXXXXX%Z", dir ? dir : "/tmp");

    if (mkdtemp((char *) path.data) == NULL) {
        abort();
    }

    /* the path stays the store's until the process exits */

    ngx_certmate_store_init(&path, max_size);

    if (ngx_certmate_store_open(ngx_fuzz_init()) != NGX_OK) {
        abort();
    }
}


ngx_pool_t *
ngx_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(4096, ngx_fuzz_init());
    if (pool == NULL) {
        abort();
    }

    return pool;
}


ngx_int_t
ngx_fuzz_input(ngx_pool_t *pool, const uint8_t *data, size_t size,
    ngx_str_t *input)
{
    ngx_pool_cleanup_t  *cln;

    /* malloc()ed, not from the pool, so that ASan sees its end */

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    input->data = malloc(size ? size : 1);
    if (input->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(input->data, data, size);
    input->len = size;

    cln->handler = free;
    cln->data = input->data;

    return NGX_OK;
}


ngx_int_t
ngx_fuzz_split(ngx_pool_t *pool, const uint8_t *data, size_t size,
    ngx_str_t *first, ngx_str_t *rest)
{
    const uint8_t  *p;

    p = memchr(data, '\0', size);

    if (p == NULL) {
        p = data + size;
    }

    if (ngx_fuzz_input(pool, data, p - data, first) != NGX_OK) {
        return NGX_ERROR;
    }

    if (p < data + size) {
        p++;
    }

    return ngx_fuzz_input(pool, p, data + size - p, rest);
}
