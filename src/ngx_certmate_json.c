
/*
 * certmate: JSON in and out of the admin API.
 */


#include "ngx_certmate_json.h"

#include <jansson.h>


struct ngx_certmate_json_s {
    json_t  *items;
};


static json_t *ngx_certmate_json_pool(ngx_pool_t *pool, json_t *json);
static void ngx_certmate_json_cleanup(void *data);
static ngx_int_t ngx_certmate_json_dump(ngx_pool_t *pool, json_t *json,
    ngx_str_t *out);
static json_t *ngx_certmate_json_cert(ngx_certmate_cert_info_t *info);
static json_t *ngx_certmate_json_str(ngx_str_t *s);
static json_t *ngx_certmate_json_time(time_t t);


ngx_int_t
ngx_certmate_json_import(ngx_pool_t *pool, ngx_str_t *body,
    ngx_str_t *certificate, ngx_str_t *private_key,
    ngx_certmate_problem_t *problem)
{
    json_t        *root, *value;
    ngx_str_t     *s;
    const char    *key;
    json_error_t   err;

    root = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      &err);
    if (root == NULL) {
        ngx_certmate_problem(pool, problem, "invalid_json",
                             "the body is not JSON: %s (line %d, column %d)",
                             err.text, err.line, err.column);
        return NGX_DECLINED;
    }

    if (ngx_certmate_json_pool(pool, root) == NULL) {
        return NGX_ERROR;
    }

    if (!json_is_object(root)) {
        ngx_certmate_problem(pool, problem, "invalid_request",
                             "the body must be a JSON object");
        return NGX_DECLINED;
    }

    ngx_str_null(certificate);
    ngx_str_null(private_key);

    json_object_foreach(root, key, value) {

        if (ngx_strcmp(key, "certificate") == 0) {
            s = certificate;

        } else if (ngx_strcmp(key, "private_key") == 0) {
            s = private_key;

        } else {
            ngx_certmate_problem(pool, problem, "invalid_request",
                                 "unknown member \"%*s\"; expected "
                                 "\"certificate\" and \"private_key\"",
                                 ngx_min(ngx_strlen(key), 64), key);
            return NGX_DECLINED;
        }

        if (!json_is_string(value)) {
            ngx_certmate_problem(pool, problem, "invalid_request",
                                 "\"%s\" must be a string", key);
            return NGX_DECLINED;
        }

        s->len = json_string_length(value);
        s->data = ngx_pnalloc(pool, s->len);
        if (s->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(s->data, json_string_value(value), s->len);
    }

    if (certificate->data == NULL || private_key->data == NULL) {
        ngx_certmate_problem(pool, problem, "invalid_request",
                             "\"%s\" is missing",
                             certificate->data ? "private_key"
                                               : "certificate");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_certmate_json_problem(ngx_pool_t *pool, ngx_certmate_problem_t *problem,
    ngx_str_t *out)
{
    json_t  *root;

    root = ngx_certmate_json_pool(pool, json_object());
    if (root == NULL) {
        return NGX_ERROR;
    }

    if (json_object_set_new(root, "error", json_string(problem->code)) != 0
        || json_object_set_new(root, "message",
                               ngx_certmate_json_str(&problem->message))
           != 0)
    {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, out);
}


ngx_int_t
ngx_certmate_json_certificate(ngx_pool_t *pool,
    ngx_certmate_cert_info_t *info, ngx_str_t *out)
{
    json_t  *root;

    root = ngx_certmate_json_pool(pool, ngx_certmate_json_cert(info));
    if (root == NULL) {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, out);
}


ngx_int_t
ngx_certmate_json_health(ngx_pool_t *pool,
    ngx_certmate_store_status_t *status, ngx_str_t *out)
{
    json_t  *root, *store;

    root = ngx_certmate_json_pool(pool, json_object());
    if (root == NULL) {
        return NGX_ERROR;
    }

    store = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "schema", (json_int_t) status->schema,
                      "generation", (json_int_t) status->generation,
                      "certificates", (json_int_t) status->certificates,
                      "map_size", (json_int_t) status->map_size,
                      "map_used", (json_int_t) status->map_used,
                      "readers", (json_int_t) status->readers,
                      "max_readers", (json_int_t) status->max_readers);

    if (json_object_set_new(root, "status", json_string("ok")) != 0
        || json_object_set_new(root, "store", store) != 0)
    {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, out);
}


ngx_certmate_json_t *
ngx_certmate_json_list(ngx_pool_t *pool)
{
    ngx_certmate_json_t  *list;

    list = ngx_palloc(pool, sizeof(ngx_certmate_json_t));
    if (list == NULL) {
        return NULL;
    }

    list->items = ngx_certmate_json_pool(pool, json_array());
    if (list->items == NULL) {
        return NULL;
    }

    return list;
}


ngx_int_t
ngx_certmate_json_list_add(ngx_certmate_json_t *list,
    ngx_certmate_cert_info_t *info)
{
    return json_array_append_new(list->items, ngx_certmate_json_cert(info))
           == 0 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_json_list_done(ngx_pool_t *pool, ngx_certmate_json_t *list,
    ngx_str_t *next_cursor, ngx_str_t *out)
{
    json_t  *root;

    root = ngx_certmate_json_pool(pool, json_object());
    if (root == NULL) {
        return NGX_ERROR;
    }

    if (json_object_set(root, "items", list->items) != 0
        || json_object_set_new(root, "next_cursor",
                               next_cursor->len
                               ? ngx_certmate_json_str(next_cursor)
                               : json_null())
           != 0)
    {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, out);
}


/* hands a jansson document to a pool, which frees it */

static json_t *
ngx_certmate_json_pool(ngx_pool_t *pool, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    if (json == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NULL;
    }

    cln->handler = ngx_certmate_json_cleanup;
    cln->data = json;

    return json;
}


static void
ngx_certmate_json_cleanup(void *data)
{
    json_decref(data);
}


static ngx_int_t
ngx_certmate_json_dump(ngx_pool_t *pool, json_t *json, ngx_str_t *out)
{
    char    *text;
    size_t   len;

    text = json_dumps(json, JSON_COMPACT);
    if (text == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, text, len);
    out->data[len] = LF;
    out->len = len + 1;

    free(text);

    return NGX_OK;
}


static json_t *
ngx_certmate_json_cert(ngx_certmate_cert_info_t *info)
{
    json_t      *cert, *names;
    ngx_str_t   *name;
    ngx_uint_t   i;

    names = json_array();
    if (names == NULL) {
        return NULL;
    }

    name = info->names.elts;

    for (i = 0; i < info->names.nelts; i++) {
        if (json_array_append_new(names, ngx_certmate_json_str(&name[i]))
            != 0)
        {
            json_decref(names);
            return NULL;
        }
    }

    cert = json_object();
    if (cert == NULL) {
        json_decref(names);
        return NULL;
    }

    if (json_object_set_new(cert, "id", ngx_certmate_json_str(&info->id))
        || json_object_set_new(cert, "names", names)
        || json_object_set_new(cert, "key_type",
                               ngx_certmate_json_str(&info->key_type))
        || json_object_set_new(cert, "serial",
                               ngx_certmate_json_str(&info->serial))
        || json_object_set_new(cert, "subject",
                               ngx_certmate_json_str(&info->subject))
        || json_object_set_new(cert, "issuer",
                               ngx_certmate_json_str(&info->issuer))
        || json_object_set_new(cert, "not_before",
                               ngx_certmate_json_time(info->not_before))
        || json_object_set_new(cert, "not_after",
                               ngx_certmate_json_time(info->not_after))
        || json_object_set_new(cert, "fingerprint_sha256",
                               ngx_certmate_json_str(&info->fingerprint))
        || json_object_set_new(cert, "source",
                               ngx_certmate_json_str(&info->source))
        || json_object_set_new(cert, "profile",
                               info->profile.len
                               ? ngx_certmate_json_str(&info->profile)
                               : json_null())
        || json_object_set_new(cert, "status",
                               ngx_certmate_json_str(&info->status))
        || json_object_set_new(cert, "version",
                               json_integer((json_int_t) info->version)))
    {
        json_decref(cert);
        return NULL;
    }

    return cert;
}


static json_t *
ngx_certmate_json_str(ngx_str_t *s)
{
    return json_stringn((char *) s->data, s->len);
}


/* RFC 3339, UTC */

static json_t *
ngx_certmate_json_time(time_t t)
{
    u_char    *p;
    ngx_tm_t   tm;
    u_char     text[sizeof("-2147483648-01-01T00:00:00Z")];

    ngx_gmtime(t, &tm);

    p = ngx_sprintf(text, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    return json_stringn((char *) text, p - text);
}
