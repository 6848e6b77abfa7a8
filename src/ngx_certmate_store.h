
/*
 * certmate: the LMDB store.  One environment per process, opened after
 * fork; the only file that knows LMDB.
 */


#ifndef _NGX_CERTMATE_STORE_H_INCLUDED_
#define _NGX_CERTMATE_STORE_H_INCLUDED_


#include "ngx_certmate.h"


#define NGX_CERTMATE_STORE_SCHEMA  1

/* a write refused because the store reached its max_size */
#define NGX_CERTMATE_STORE_FULL    -100


typedef struct {
    ngx_uint_t  schema;
    uint64_t    generation;
    ngx_uint_t  certificates;
    size_t      map_size;
    size_t      map_used;
    ngx_uint_t  readers;
    ngx_uint_t  max_readers;
} ngx_certmate_store_status_t;


void ngx_certmate_store_init(ngx_str_t *path, size_t max_size);
ngx_int_t ngx_certmate_store_open(ngx_log_t *log);
void ngx_certmate_store_close(void);

ngx_int_t ngx_certmate_store_read_begin(ngx_log_t *log);
void ngx_certmate_store_read_end(void);
ngx_int_t ngx_certmate_store_find(ngx_str_t *name,
    ngx_certmate_ref_t refs[NGX_CERTMATE_CLASSES], ngx_log_t *log);
ngx_int_t ngx_certmate_store_get(u_char *id, ngx_certmate_cert_t *cert,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_next(u_char *after, ngx_certmate_cert_t *cert,
    ngx_log_t *log);
ngx_int_t ngx_certmate_store_status(ngx_certmate_store_status_t *st,
    ngx_log_t *log);

ngx_int_t ngx_certmate_store_put(ngx_certmate_cert_t *cert,
    ngx_uint_t *replaced, ngx_log_t *log);
ngx_int_t ngx_certmate_store_delete(u_char *id, ngx_log_t *log);

void ngx_certmate_store_check_readers(ngx_log_t *log);


#endif /* _NGX_CERTMATE_STORE_H_INCLUDED_ */
