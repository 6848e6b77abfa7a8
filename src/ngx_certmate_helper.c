
/*
 * certmate: the helper process.  nginx calls the manager callback of
 * the store's path at the helper's start and then as often as the
 * callback asks; every tick's work is bounded and nothing in it waits
 * on the network.
 */


#include "ngx_certmate_helper.h"
#include "ngx_certmate_acme.h"
#include "ngx_certmate_ca.h"
#include "ngx_certmate_json.h"
#include "ngx_certmate_notify.h"
#include "ngx_certmate_revocation.h"
#include "ngx_certmate_stapling.h"
#include "ngx_certmate_store.h"
#include "ngx_http_certmate_metrics.h"

#include <sys/file.h>


#define NGX_CERTMATE_HELPER_READERS  10
#define NGX_CERTMATE_HELPER_TOKENS   3600
#define NGX_CERTMATE_HELPER_MIRROR   1000       /* events a tick, at most */
#define NGX_CERTMATE_HELPER_WAIT     200        /* ms, for the one before */


static ngx_int_t ngx_certmate_helper_lock(ngx_path_t *store, ngx_log_t *log);
static void ngx_certmate_helper_mirror(ngx_str_t *file, ngx_log_t *log);


/* helper process only */

ngx_msec_t
ngx_certmate_helper_manager(void *data)
{
    ngx_http_certmate_main_conf_t *cmmcf = data;

    static time_t  readers, tokens;

    time_t      now;
    ngx_msec_t  wait;

    /* told to exit (a reload, a stop): nothing new is begun */

    if (ngx_quit || ngx_terminate
        || ngx_certmate_helper_lock(cmmcf->store, ngx_cycle->log) != NGX_OK)
    {
        return NGX_CERTMATE_HELPER_WAIT;
    }

    now = ngx_time();

    if (ngx_certmate_counters) {
        ngx_certmate_counters->helper_run = now;
    }

    if (now >= readers) {
        ngx_certmate_store_check_readers(ngx_cycle->log);
        readers = now + NGX_CERTMATE_HELPER_READERS;
    }

    if (now >= tokens) {
        ngx_certmate_store_est_tokens_expire(now, ngx_cycle->log);
        tokens = now + NGX_CERTMATE_HELPER_TOKENS;
    }

    if (cmmcf->audit_log.len) {
        ngx_certmate_helper_mirror(&cmmcf->audit_log, ngx_cycle->log);
    }

    wait = ngx_certmate_acme_tick(cmmcf, ngx_cycle->log);
    wait = ngx_min(wait, ngx_certmate_ca_tick(cmmcf, ngx_cycle->log));
    wait = ngx_min(wait, ngx_certmate_revocation_tick(cmmcf, ngx_cycle->log));
    wait = ngx_min(wait, ngx_certmate_notify_tick(cmmcf, ngx_cycle->log));
    wait = ngx_min(wait, ngx_certmate_stapling_tick(ngx_cycle->log));

    if (cmmcf->audit_log.len) {
        wait = ngx_min(wait, 1000);
    }

    return ngx_min(wait, (ngx_msec_t) (readers - now) * 1000);
}


/*
 * One helper at a time for a store: after a reload the helper of the old
 * configuration ends its tick and exits while the new one starts, and
 * both would post the same notifications, order the same certificates.
 * The helper holds a lock on the store's directory (flock(), released
 * when the process exits); a new one waits for it.
 */

static ngx_int_t
ngx_certmate_helper_lock(ngx_path_t *store, ngx_log_t *log)
{
    u_char  path[NGX_MAX_PATH];

    static ngx_fd_t    fd = NGX_INVALID_FILE;
    static ngx_uint_t  waiting;

    if (fd != NGX_INVALID_FILE) {
        return NGX_OK;
    }

    if (store->name.len >= NGX_MAX_PATH) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(path, store->name.data, store->name.len + 1);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", path);
        return NGX_ERROR;
    }

    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        if (ngx_errno != NGX_EAGAIN) {
            ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                          "flock(\"%s\") failed", path);

        } else if (!waiting) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "certmate helper waits for the one before to "
                          "exit");
            waiting = 1;
        }

        (void) ngx_close_file(fd);
        fd = NGX_INVALID_FILE;

        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "certmate_audit_log": the events the file does not have yet, one JSON
 * object a line; the store remembers the last one written.  A crash
 * between the write and that may write an event twice, never lose one.
 */

static void
ngx_certmate_helper_mirror(ngx_str_t *file, ngx_log_t *log)
{
    ssize_t                n;
    uint64_t               done, last;
    ngx_fd_t               fd;
    ngx_int_t              rc;
    ngx_str_t              line;
    ngx_buf_t             *b;
    ngx_uint_t             i;
    ngx_pool_t            *pool;
    ngx_certmate_audit_t   audit;

    if (ngx_certmate_store_read_begin(log) != NGX_OK) {
        return;
    }

    pool = NULL;
    b = NULL;

    rc = ngx_certmate_store_counter("audit_mirrored", &done, log);
    last = done;

    for (i = 0; rc == NGX_OK && i < NGX_CERTMATE_HELPER_MIRROR; i++) {
        rc = ngx_certmate_store_audit_next(last, &audit, log);
        if (rc != NGX_OK) {
            break;
        }

        if (pool == NULL) {
            pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
            b = pool ? ngx_create_temp_buf(pool, 65536) : NULL;

            if (b == NULL) {
                rc = NGX_ERROR;
                break;
            }
        }

        rc = ngx_certmate_json_audit_line(pool, &audit, &line);
        if (rc != NGX_OK) {
            break;
        }

        if ((size_t) (b->end - b->last) < line.len) {
            break;
        }

        b->last = ngx_cpymem(b->last, line.data, line.len);
        last = audit.seq;
    }

    ngx_certmate_store_read_end();

    if (last == done || rc == NGX_ERROR) {
        goto done;
    }

    fd = ngx_open_file(file->data, NGX_FILE_APPEND, NGX_FILE_CREATE_OR_OPEN,
                       NGX_FILE_OWNER_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_open_file_n " \"%V\" failed", file);
        goto done;
    }

    n = ngx_write_fd(fd, b->pos, b->last - b->pos);

    if (n != b->last - b->pos) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      ngx_write_fd_n " to \"%V\" failed", file);
        last = done;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", file);
    }

    if (last != done) {
        (void) ngx_certmate_store_counter_set("audit_mirrored", last, log);
    }

done:

    if (pool) {
        ngx_destroy_pool(pool);
    }
}
