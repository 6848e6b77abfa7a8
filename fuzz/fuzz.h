
/*
 * certmate fuzz targets: what each of them needs of nginx.
 */


#ifndef _NGX_FUZZ_H_INCLUDED_
#define _NGX_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* once per process: page size, time, a debug log to /dev/null */
ngx_log_t *ngx_fuzz_init(void);

/* a pool for one input, and the input in memory of its own size */
ngx_pool_t *ngx_fuzz_pool(void);
ngx_int_t ngx_fuzz_input(ngx_pool_t *pool, const uint8_t *data, size_t size,
    ngx_str_t *input);

/*
 * a store of its own in $CERTMATE_FUZZ_DIR (scripts/fuzz.sh makes it and
 * removes it after the run), open
 */
void ngx_fuzz_store(size_t max_size);

/* the input up to its first NUL, and the rest after it, each of its own */
ngx_int_t ngx_fuzz_split(ngx_pool_t *pool, const uint8_t *data, size_t size,
    ngx_str_t *first, ngx_str_t *rest);


#endif /* _NGX_FUZZ_H_INCLUDED_ */
