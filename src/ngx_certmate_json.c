
/*
 * certmate: JSON in and out of the admin API.
 */


#include "ngx_certmate_json.h"

#include <jansson.h>


/* a list's items, or an object's members */

struct ngx_certmate_json_s {
    json_t  *items;
};


static json_t *ngx_certmate_json_load(ngx_pool_t *pool, ngx_str_t *text);
static ngx_int_t ngx_certmate_json_get(ngx_pool_t *pool, json_t *object,
    const char *key, ngx_str_t *value);
static json_t *ngx_certmate_json_pool(ngx_pool_t *pool, json_t *json);
static void ngx_certmate_json_cleanup(void *data);
static ngx_int_t ngx_certmate_json_dump(ngx_pool_t *pool, json_t *json,
    ngx_uint_t newline, ngx_str_t *out);
static json_t *ngx_certmate_json_cert(ngx_certmate_cert_info_t *info);
static json_t *ngx_certmate_json_audit(ngx_certmate_audit_t *audit);
static json_t *ngx_certmate_json_str(ngx_str_t *s);
static json_t *ngx_certmate_json_time(time_t t);


/*
 * A request body: an object with only the given members, of their
 * types, the required ones present; strings not given are empty
 */

ngx_int_t
ngx_certmate_json_fields(ngx_pool_t *pool, ngx_str_t *body,
    ngx_certmate_json_field_t *fields, ngx_certmate_problem_t *problem)
{
    json_t                     *root, *value, *item;
    size_t                      i;
    ngx_str_t                  *s;
    ngx_array_t                *a;
    const char                 *key;
    json_error_t                err;
    ngx_certmate_json_field_t  *f;

    for (f = fields; f->name; f++) {
        if (f->type == NGX_CERTMATE_JSON_STRING) {
            ngx_str_null((ngx_str_t *) f->value);
        }
    }

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

    json_object_foreach(root, key, value) {

        for (f = fields; f->name; f++) {
            if (ngx_strcmp(key, f->name) == 0) {
                break;
            }
        }

        if (f->name == NULL) {
            ngx_certmate_problem(pool, problem, "invalid_request",
                                 "unknown member \"%*s\"",
                                 ngx_min(ngx_strlen(key), 64), key);
            return NGX_DECLINED;
        }
    }

    for (f = fields; f->name; f++) {
        value = json_object_get(root, f->name);

        if (value == NULL) {
            if (f->required) {
                ngx_certmate_problem(pool, problem, "invalid_request",
                                     "\"%s\" is required", f->name);
                return NGX_DECLINED;
            }

            continue;
        }

        if (f->type == NGX_CERTMATE_JSON_STRING) {
            if (!json_is_string(value)) {
                ngx_certmate_problem(pool, problem, "invalid_request",
                                     "\"%s\" must be a string", f->name);
                return NGX_DECLINED;
            }

            s = f->value;
            s->len = json_string_length(value);
            s->data = ngx_pnalloc(pool, s->len + 1);
            if (s->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(s->data, json_string_value(value), s->len);
            s->data[s->len] = '\0';
            continue;
        }

        if (!json_is_array(value) || json_array_size(value) == 0) {
            ngx_certmate_problem(pool, problem, "invalid_request",
                                 "\"%s\" must be an array of strings, "
                                 "not empty", f->name);
            return NGX_DECLINED;
        }

        a = f->value;

        if (ngx_array_init(a, pool, json_array_size(value), sizeof(ngx_str_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        json_array_foreach(value, i, item) {
            if (!json_is_string(item)) {
                ngx_certmate_problem(pool, problem, "invalid_request",
                                     "\"%s\" must be an array of strings",
                                     f->name);
                return NGX_DECLINED;
            }

            s = ngx_array_push(a);
            if (s == NULL) {
                return NGX_ERROR;
            }

            s->len = json_string_length(item);
            s->data = ngx_pnalloc(pool, s->len + 1);
            if (s->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(s->data, json_string_value(item), s->len);
            s->data[s->len] = '\0';
        }
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

    return ngx_certmate_json_dump(pool, root, 1, out);
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

    return ngx_certmate_json_dump(pool, root, 1, out);
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

    return ngx_certmate_json_dump(pool, root, 1, out);
}


/* ACME: what a CA sends */

ngx_int_t
ngx_certmate_json_acme_directory(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_directory_t *dir)
{
    json_t  *root, *meta;

    root = ngx_certmate_json_load(pool, text);
    if (root == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(dir, sizeof(ngx_certmate_acme_directory_t));

    if (ngx_certmate_json_get(pool, root, "newNonce", &dir->new_nonce)
        != NGX_OK
        || ngx_certmate_json_get(pool, root, "newAccount", &dir->new_account)
           != NGX_OK
        || ngx_certmate_json_get(pool, root, "newOrder", &dir->new_order)
           != NGX_OK
        || dir->new_nonce.len == 0
        || dir->new_account.len == 0
        || dir->new_order.len == 0
        || ngx_certmate_json_get(pool, root, "renewalInfo", &dir->renewal_info)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    meta = json_object_get(root, "meta");

    dir->eab_required = json_is_object(meta)
                        && json_is_true(json_object_get(meta,
                                            "externalAccountRequired"));

    return NGX_OK;
}


ngx_int_t
ngx_certmate_json_acme_order(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_order_msg_t *order)
{
    json_t      *root, *authzs, *authz, *error;
    size_t       i;
    ngx_str_t   *url;

    root = ngx_certmate_json_load(pool, text);
    if (root == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(order, sizeof(ngx_certmate_acme_order_msg_t));

    if (ngx_certmate_json_get(pool, root, "status", &order->status) != NGX_OK
        || order->status.len == 0
        || ngx_certmate_json_get(pool, root, "finalize", &order->finalize)
           != NGX_OK
        || ngx_certmate_json_get(pool, root, "certificate",
                                 &order->certificate)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    error = json_object_get(root, "error");

    if (json_is_object(error)
        && ngx_certmate_json_get(pool, error, "detail", &order->error)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    authzs = json_object_get(root, "authorizations");

    if (!json_is_array(authzs)
        || ngx_array_init(&order->authorizations, pool,
                          json_array_size(authzs) + 1, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    json_array_foreach(authzs, i, authz) {

        if (!json_is_string(authz)) {
            return NGX_ERROR;
        }

        url = ngx_array_push(&order->authorizations);
        if (url == NULL) {
            return NGX_ERROR;
        }

        url->len = json_string_length(authz);
        url->data = ngx_pnalloc(pool, url->len + 1);
        if (url->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(url->data, json_string_value(authz), url->len + 1);
    }

    return NGX_OK;
}


/* an authorization and its http-01 challenge */

ngx_int_t
ngx_certmate_json_acme_authz(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_authz_msg_t *authz)
{
    json_t      *root, *challenges, *challenge, *error;
    size_t       i;
    ngx_str_t    type;

    root = ngx_certmate_json_load(pool, text);
    if (root == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(authz, sizeof(ngx_certmate_acme_authz_msg_t));

    if (ngx_certmate_json_get(pool, root, "status", &authz->status) != NGX_OK
        || authz->status.len == 0)
    {
        return NGX_ERROR;
    }

    challenges = json_object_get(root, "challenges");

    if (!json_is_array(challenges)) {
        return NGX_ERROR;
    }

    json_array_foreach(challenges, i, challenge) {

        if (!json_is_object(challenge)
            || ngx_certmate_json_get(pool, challenge, "type", &type) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (type.len != sizeof("http-01") - 1
            || ngx_strncmp(type.data, "http-01", type.len) != 0)
        {
            continue;
        }

        if (ngx_certmate_json_get(pool, challenge, "url", &authz->challenge)
            != NGX_OK
            || ngx_certmate_json_get(pool, challenge, "token", &authz->token)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        error = json_object_get(challenge, "error");

        if (json_is_object(error)
            && ngx_certmate_json_get(pool, error, "detail", &authz->error)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        break;
    }

    return NGX_OK;
}


/* a problem document (RFC 7807), or the start of what came instead */

void
ngx_certmate_json_acme_problem(ngx_pool_t *pool, ngx_str_t *text,
    ngx_certmate_acme_problem_t *problem)
{
    json_t  *root;

    ngx_str_null(&problem->type);
    ngx_str_null(&problem->detail);

    root = ngx_certmate_json_load(pool, text);

    if (root != NULL) {
        (void) ngx_certmate_json_get(pool, root, "type", &problem->type);
        (void) ngx_certmate_json_get(pool, root, "detail", &problem->detail);
    }

    if (problem->type.len == 0 && problem->detail.len == 0) {
        problem->detail.data = text->data;
        problem->detail.len = ngx_min(text->len, 200);
    }
}


ngx_int_t
ngx_certmate_json_acme_ari(ngx_pool_t *pool, ngx_str_t *text, time_t *start,
    time_t *end)
{
    json_t     *root, *window;
    ngx_str_t   value;

    root = ngx_certmate_json_load(pool, text);
    if (root == NULL) {
        return NGX_ERROR;
    }

    window = json_object_get(root, "suggestedWindow");

    if (!json_is_object(window)
        || ngx_certmate_json_get(pool, window, "start", &value) != NGX_OK)
    {
        return NGX_ERROR;
    }

    *start = ngx_certmate_time_parse(&value);

    if (ngx_certmate_json_get(pool, window, "end", &value) != NGX_OK) {
        return NGX_ERROR;
    }

    *end = ngx_certmate_time_parse(&value);

    if (*start == NGX_ERROR || *end == NGX_ERROR || *end < *start) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* ACME: what certmate sends */

ngx_int_t
ngx_certmate_json_acme_account(ngx_pool_t *pool, ngx_str_t *contact,
    ngx_str_t *eab, ngx_str_t *out)
{
    json_t  *root, *binding;

    root = ngx_certmate_json_pool(pool, json_object());
    if (root == NULL) {
        return NGX_ERROR;
    }

    if (json_object_set_new(root, "termsOfServiceAgreed", json_true()) != 0) {
        return NGX_ERROR;
    }

    if (contact->len
        && json_object_set_new(root, "contact",
                               json_pack("[s%]", contact->data, contact->len))
           != 0)
    {
        return NGX_ERROR;
    }

    if (eab) {
        binding = json_loadb((char *) eab->data, eab->len, 0, NULL);

        if (json_object_set_new(root, "externalAccountBinding", binding)
            != 0)
        {
            return NGX_ERROR;
        }
    }

    return ngx_certmate_json_dump(pool, root, 0, out);
}


ngx_int_t
ngx_certmate_json_acme_new_order(ngx_pool_t *pool, ngx_str_t *names,
    ngx_uint_t n, ngx_str_t *replaces, ngx_str_t *out)
{
    json_t      *root, *ids;
    ngx_uint_t   i;

    root = ngx_certmate_json_pool(pool, json_object());
    if (root == NULL) {
        return NGX_ERROR;
    }

    ids = json_array();

    if (json_object_set_new(root, "identifiers", ids) != 0) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (json_array_append_new(ids, json_pack("{s:s, s:s%}",
                                                 "type", "dns",
                                                 "value", names[i].data,
                                                 names[i].len))
            != 0)
        {
            return NGX_ERROR;
        }
    }

    if (replaces->len
        && json_object_set_new(root, "replaces",
                               ngx_certmate_json_str(replaces))
           != 0)
    {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, 0, out);
}


ngx_int_t
ngx_certmate_json_acme_finalize(ngx_pool_t *pool, ngx_str_t *csr,
    ngx_str_t *out)
{
    json_t  *root;

    root = ngx_certmate_json_pool(pool,
                                  json_pack("{s:s%}", "csr", csr->data,
                                            csr->len));
    if (root == NULL) {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, 0, out);
}


/* the P-256 JWK in the form its thumbprint hashes (RFC 7638) */

ngx_int_t
ngx_certmate_json_jwk(ngx_pool_t *pool, ngx_str_t *x, ngx_str_t *y,
    ngx_str_t *out)
{
    json_t  *root;

    root = ngx_certmate_json_pool(pool,
                                  json_pack("{s:s, s:s, s:s%, s:s%}",
                                            "crv", "P-256", "kty", "EC",
                                            "x", x->data, x->len,
                                            "y", y->data, y->len));
    if (root == NULL) {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, 0, out);
}


/* a JWS protected header: with "kid", or with "jwk" (JSON text) */

ngx_int_t
ngx_certmate_json_jws_header(ngx_pool_t *pool, const char *alg,
    ngx_str_t *nonce, ngx_str_t *url, ngx_str_t *kid, ngx_str_t *jwk,
    ngx_str_t *out)
{
    json_t  *root;

    root = ngx_certmate_json_pool(pool, json_object());
    if (root == NULL) {
        return NGX_ERROR;
    }

    if (json_object_set_new(root, "alg", json_string(alg)) != 0
        || json_object_set_new(root, "url", ngx_certmate_json_str(url)) != 0)
    {
        return NGX_ERROR;
    }

    if (nonce
        && json_object_set_new(root, "nonce", ngx_certmate_json_str(nonce))
           != 0)
    {
        return NGX_ERROR;
    }

    if (kid) {
        if (json_object_set_new(root, "kid", ngx_certmate_json_str(kid))
            != 0)
        {
            return NGX_ERROR;
        }

    } else if (json_object_set_new(root, "jwk",
                                   json_loadb((char *) jwk->data, jwk->len,
                                              0, NULL))
               != 0)
    {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, 0, out);
}


/* the flattened JWS JSON serialization, from its base64url parts */

ngx_int_t
ngx_certmate_json_jws(ngx_pool_t *pool, ngx_str_t *header,
    ngx_str_t *payload, ngx_str_t *signature, ngx_str_t *out)
{
    json_t  *root;

    root = ngx_certmate_json_pool(pool,
                                  json_pack("{s:s%, s:s%, s:s%}",
                                            "protected", header->data,
                                            header->len,
                                            "payload", payload->data,
                                            payload->len,
                                            "signature", signature->data,
                                            signature->len));
    if (root == NULL) {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, root, 0, out);
}


static json_t *
ngx_certmate_json_load(ngx_pool_t *pool, ngx_str_t *text)
{
    json_t  *root;

    root = json_loadb((char *) text->data, text->len, 0, NULL);

    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }

    return ngx_certmate_json_pool(pool, root);
}


/* a string member, NUL-terminated in the pool; empty when absent */

static ngx_int_t
ngx_certmate_json_get(ngx_pool_t *pool, json_t *object, const char *key,
    ngx_str_t *value)
{
    json_t  *member;

    member = json_object_get(object, key);

    if (member == NULL) {
        ngx_str_null(value);
        return NGX_OK;
    }

    if (!json_is_string(member)) {
        return NGX_ERROR;
    }

    value->len = json_string_length(member);
    value->data = ngx_pnalloc(pool, value->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, json_string_value(member), value->len + 1);

    return NGX_OK;
}


ngx_certmate_json_t *
ngx_certmate_json_object(ngx_pool_t *pool)
{
    ngx_certmate_json_t  *obj;

    obj = ngx_palloc(pool, sizeof(ngx_certmate_json_t));
    if (obj == NULL) {
        return NULL;
    }

    obj->items = ngx_certmate_json_pool(pool, json_object());
    if (obj->items == NULL) {
        return NULL;
    }

    return obj;
}


ngx_int_t
ngx_certmate_json_set_str(ngx_certmate_json_t *obj, const char *key,
    ngx_str_t *value)
{
    return json_object_set_new(obj->items, key, ngx_certmate_json_str(value))
           == 0 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_json_set_strs(ngx_certmate_json_t *obj, const char *key,
    ngx_str_t *values, ngx_uint_t n)
{
    json_t      *array;
    ngx_uint_t   i;

    array = json_array();
    if (array == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (json_array_append_new(array, ngx_certmate_json_str(&values[i]))
            != 0)
        {
            json_decref(array);
            return NGX_ERROR;
        }
    }

    return json_object_set_new(obj->items, key, array) == 0
           ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_json_set_time(ngx_certmate_json_t *obj, const char *key,
    time_t value)
{
    return json_object_set_new(obj->items, key, ngx_certmate_json_time(value))
           == 0 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_json_set_uint(ngx_certmate_json_t *obj, const char *key,
    uint64_t value)
{
    return json_object_set_new(obj->items, key,
                               json_integer((json_int_t) value))
           == 0 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_json_set_object(ngx_certmate_json_t *obj, const char *key,
    ngx_certmate_json_t *value)
{
    return json_object_set(obj->items, key, value->items) == 0
           ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_json_object_done(ngx_pool_t *pool, ngx_certmate_json_t *obj,
    ngx_str_t *out)
{
    return ngx_certmate_json_dump(pool, obj->items, 1, out);
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


/* what certmate_acme does for a name; status in the order of concern */

ngx_int_t
ngx_certmate_json_list_add_acme(ngx_certmate_json_t *list,
    ngx_certmate_acme_state_t *state)
{
    json_t      *item;
    ngx_str_t    id;
    ngx_uint_t   i, has;
    const char  *status;
    u_char       hex[NGX_CERTMATE_ID_HEX_LEN];

    has = 0;

    for (i = 0; i < NGX_CERTMATE_ID_LEN; i++) {
        has |= state->cert_id[i];
    }

    status = state->failures ? "failed"
             : state->order.len ? "ordering"
             : has ? "valid" : "pending";

    id.data = hex;
    id.len = ngx_certmate_id_hex(hex, state->cert_id) - hex;

    item = json_object();

    if (item == NULL
        || json_object_set_new(item, "name",
                               ngx_certmate_json_str(&state->name))
        || json_object_set_new(item, "issuer",
                               ngx_certmate_json_str(&state->issuer))
        || json_object_set_new(item, "status", json_string(status))
        || json_object_set_new(item, "certificate_id",
                               has ? ngx_certmate_json_str(&id) : json_null())
        || json_object_set_new(item, "next",
                               ngx_certmate_json_time(state->next))
        || json_object_set_new(item, "last_attempt",
                               state->last_attempt
                               ? ngx_certmate_json_time(state->last_attempt)
                               : json_null())
        || json_object_set_new(item, "last_success",
                               state->last_success
                               ? ngx_certmate_json_time(state->last_success)
                               : json_null())
        || json_object_set_new(item, "failures",
                               json_integer((json_int_t) state->failures))
        || json_object_set_new(item, "last_error",
                               state->error.len
                               ? ngx_certmate_json_str(&state->error)
                               : json_null())
        || json_object_set_new(item, "order",
                               state->order.len
                               ? ngx_certmate_json_str(&state->order)
                               : json_null()))
    {
        json_decref(item);
        return NGX_ERROR;
    }

    return json_array_append_new(list->items, item) == 0 ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_certmate_json_list_add_audit(ngx_certmate_json_t *list,
    ngx_certmate_audit_t *audit)
{
    json_t  *item;

    item = ngx_certmate_json_audit(audit);
    if (item == NULL) {
        return NGX_ERROR;
    }

    return json_array_append_new(list->items, item) == 0 ? NGX_OK : NGX_ERROR;
}


/* an event as a line of the audit log's JSON-lines mirror */

ngx_int_t
ngx_certmate_json_audit_line(ngx_pool_t *pool, ngx_certmate_audit_t *audit,
    ngx_str_t *out)
{
    json_t  *item;

    item = ngx_certmate_json_pool(pool, ngx_certmate_json_audit(audit));
    if (item == NULL) {
        return NGX_ERROR;
    }

    return ngx_certmate_json_dump(pool, item, 1, out);
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

    return ngx_certmate_json_dump(pool, root, 1, out);
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


/* compact JSON; API responses end in a newline for people at terminals */

static ngx_int_t
ngx_certmate_json_dump(ngx_pool_t *pool, json_t *json, ngx_uint_t newline,
    ngx_str_t *out)
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
    out->data[len] = newline ? LF : '\0';
    out->len = len + (newline ? 1 : 0);

    free(text);

    return NGX_OK;
}


static json_t *
ngx_certmate_json_audit(ngx_certmate_audit_t *audit)
{
    json_t     *item;
    ngx_str_t   prev, hash;
    u_char      prev_hex[2 * SHA256_DIGEST_LENGTH];
    u_char      hash_hex[2 * SHA256_DIGEST_LENGTH];

    prev.data = prev_hex;
    prev.len = ngx_hex_dump(prev_hex, audit->prev, SHA256_DIGEST_LENGTH)
               - prev_hex;
    hash.data = hash_hex;
    hash.len = ngx_hex_dump(hash_hex, audit->hash, SHA256_DIGEST_LENGTH)
               - hash_hex;

    item = json_object();

    if (item == NULL
        || json_object_set_new(item, "seq", json_integer((json_int_t)
                                                         audit->seq))
        || json_object_set_new(item, "time",
                               ngx_certmate_json_time(audit->time))
        || json_object_set_new(item, "timestamp",
                               json_integer((json_int_t) audit->time))
        || json_object_set_new(item, "type",
                               ngx_certmate_json_str(&audit->type))
        || json_object_set_new(item, "actor",
                               ngx_certmate_json_str(&audit->actor))
        || json_object_set_new(item, "client",
                               ngx_certmate_json_str(&audit->client))
        || json_object_set_new(item, "object",
                               ngx_certmate_json_str(&audit->object))
        || json_object_set_new(item, "detail",
                               ngx_certmate_json_str(&audit->detail))
        || json_object_set_new(item, "prev_hash", ngx_certmate_json_str(&prev))
        || json_object_set_new(item, "hash", ngx_certmate_json_str(&hash)))
    {
        json_decref(item);
        return NULL;
    }

    return item;
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
