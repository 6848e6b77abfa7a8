
/*
 * certmate: the helper process (nginx's cache manager process, which
 * nginx starts because the store is registered as a path with a
 * manager callback).
 */


#ifndef _NGX_CERTMATE_HELPER_H_INCLUDED_
#define _NGX_CERTMATE_HELPER_H_INCLUDED_


#include "ngx_certmate.h"


ngx_msec_t ngx_certmate_helper_manager(void *data);


#endif /* _NGX_CERTMATE_HELPER_H_INCLUDED_ */
