#include "api/api_internal.h"
#include "core/error.h"

#include <string.h>

/*
 * The Calls resource (contract §7): the list is the shared list engine over the store's call
 * pages; an instance is its JSON or XML rendering, and DELETE removes a call that has ended.
 * Both need Basic auth: unlike a recording's, a call's sid is not meant to be shared.
 */

static int calls_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg)
{
    return st->ops->call_page(st, q, pg);
}

static int calls_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n)
{
    return st->ops->call_count(st, q, n);
}

const struct recd_list_kind recd_list_calls = {&recd_res_call, "calls", "Calls", calls_page, calls_count};

void recd_call_resource_serve(struct call *c)
{
    struct recd_account acc;
    struct recd_call call;
    struct recd_api_cache *cache = NULL;
    if (recd_call_authorize(c, &acc) < 0)
        return;
    /* Credentials were checked above: what is cached is only what they may see. */
    if (c->rq->method != RECD_M_DELETE && recd_call_from_cache(c, &cache))
        return;
    int rc = c->st->ops->call_get(c->st, c->rt.call_sid, &call);
    if (rc == 0 && strcmp(call.account_sid, c->rt.account_sid) != 0)
        rc = RECD_E_NOT_FOUND;
    if (rc == 0 && c->rq->method == RECD_M_DELETE)
        rc = c->st->ops->call_delete(c->st, call.sid);
    if (rc < 0) {
        recd_call_fail(c, rc, rc == RECD_E_IN_PROGRESS ? "a call" : "");
        return;
    }
    if (c->rq->method == RECD_M_DELETE) {
        c->rs->status = 204;
        return;
    }
    struct recd_buf *b = &c->rs->body;
    if (c->json) {
        recd_call_ok(c, RECD_CT_JSON);
        recd_render_json(b, &recd_res_call, &call, &c->rc);
    } else {
        recd_call_ok(c, RECD_CT_XML);
        recd_call_begin_xml(b);
        recd_render_xml(b, &recd_res_call, &call, &c->rc);
        recd_buf_adds(b, "</TwilioResponse>");
    }
    recd_call_cache_fill(c, cache);
}
