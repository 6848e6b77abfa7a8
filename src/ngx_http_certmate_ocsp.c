
/* placeholder until the responder lands: helper-5 replaces this file */

#include "ngx_http_certmate_ocsp.h"


ngx_int_t
ngx_http_certmate_ocsp_handler(ngx_http_request_t *r)
{
    return NGX_HTTP_SERVICE_UNAVAILABLE;
}
