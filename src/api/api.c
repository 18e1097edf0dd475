#include "api/api_internal.h"

#include "api/auth.h"
#include "api/cache.h"
#include "api/resource.h"
#include "api/route.h"
#include "core/error.h"
#include "core/log.h"
#include "core/query.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ALLOW_LIST     "GET, HEAD, OPTIONS"
#define ALLOW_INSTANCE "GET, HEAD, DELETE, OPTIONS"
/* A call's recordings also take POST: live-call recording (contract §7). */
#define ALLOW_CALL_LIST     "GET, HEAD, POST, OPTIONS"
#define ALLOW_CALL_INSTANCE "GET, HEAD, POST, DELETE, OPTIONS"

void recd_response_init(struct recd_response *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->status = 500;
    rs->fd = -1;
    recd_buf_init(&rs->body, 0);
}

/* Gives up a shared body, if any. */
static void unshare(struct recd_response *rs)
{
    recd_api_cache_release(rs->shared_ref);
    rs->shared = NULL;
    rs->shared_len = 0;
    rs->shared_ref = NULL;
}

/* Gives up the media file: closes it, or gives back the cache's reference that lent it. */
static void drop_fd(struct recd_response *rs)
{
    if (rs->fd_ref)
        recd_api_cache_file_release(rs->fd_ref);
    else if (rs->fd >= 0)
        close(rs->fd);
    rs->fd_ref = NULL;
    rs->fd = -1;
}

void recd_response_free(struct recd_response *rs)
{
    unshare(rs);
    recd_buf_free(&rs->body);
    drop_fd(rs);
}

void recd_api_error(struct recd_response *rs, int err, int json, const char *detail)
{
    char msg[512];
    int status = recd_err_status(err), code = recd_err_code(err);
    snprintf(msg, sizeof msg, recd_err_template(err), detail ? detail : "");
    recd_buf_reset(&rs->body);
    unshare(rs);
    drop_fd(rs);
    rs->status = status;
    rs->www_authenticate = status == 401;
    struct recd_buf *b = &rs->body;
    if (json) {
        rs->content_type = RECD_CT_JSON;
        recd_buf_printf(b, "{\"code\":%d,\"message\":", code);
        recd_buf_json_str(b, recd_str_c(msg));
        recd_buf_printf(b, ",\"more_info\":\"https://www.twilio.com/docs/errors/%d\",\"status\":%d}", code,
                        status);
    } else {
        rs->content_type = RECD_CT_XML;
        recd_buf_adds(b, RECD_XML_DECL "<TwilioResponse><RestException><Code>");
        recd_buf_addi(b, code);
        recd_buf_adds(b, "</Code><Message>");
        recd_buf_xml_text(b, recd_str_c(msg));
        recd_buf_printf(
            b,
            "</Message><MoreInfo>https://www.twilio.com/docs/errors/%d</MoreInfo><Status>%d</Status>"
            "</RestException></TwilioResponse>",
            code, status);
    }
}

void recd_call_fail(struct call *c, int err, const char *detail)
{
    char path[300];
    if (err == RECD_E_NOT_FOUND) {
        /* The request path, shortened; written only here, since most requests never fail. */
        size_t n = c->plen > 256 ? 256 : c->plen;
        snprintf(path, sizeof path, "%.*s%s", (int)n, c->rq->target.p, c->plen > 256 ? "..." : "");
        detail = path;
    }
    if (err == RECD_E_IO || err == RECD_E_NO_SPACE || err == RECD_E_INTERNAL)
        detail = NULL; /* the log has the cause; the client gets no internals */
    recd_api_error(c->rs, err, c->json, detail);
}

/*
 * This worker's cache, emptied first if the store changed since its entries were made; NULL when
 * there is none. The store's version is read once a request, before anything the request reads:
 * what is then read and cached can only be as new or newer than that version, so a change that
 * lands meanwhile empties the cache at the next request instead of being missed.
 */
struct recd_api_cache *recd_call_cache(struct call *c)
{
    int64_t version[2];
    if (c->cache_checked)
        return c->cache;
    c->cache_checked = 1;
    struct recd_api_cache *cache = c->rq->cache;
    if (!cache || c->st->ops->version(c->st, version) < 0)
        return NULL;
    recd_api_cache_validate(cache, version);
    c->cache = cache;
    return cache;
}

/*
 * Loads the path's account and checks the credentials for it; on failure the response is set.
 * Credentials found valid since the last commit are taken from this worker's cache by the
 * digest of the header, which saves the account lookup (a read transaction) on the hot path;
 * the version check that guards it is the one the page cache needs anyway.
 */
int recd_call_authorize(struct call *c, struct recd_account *acc)
{
    const struct recd_request *rq = c->rq;
    int64_t now_us = rq->now_us;
    struct recd_audit_note *note = &c->rs->audit;
    if (rq->audit) {
        /* A media fetch or delete keeps its event; anything else is a credential check. */
        if (note->event == RECD_AUDIT_NONE)
            note->event = RECD_AUDIT_AUTH;
        if (!note->account_sid[0])
            memcpy(note->account_sid, c->rt.account_sid, sizeof note->account_sid);
        note->cred = (enum recd_audit_cred)recd_auth_user(rq->authorization, note->principal);
        note->result = RECD_AUDIT_FAILED; /* until proven right, below */
    }
    if (rq->authorization && rq->limiter) {
        int64_t wait = recd_limiter_wait(rq->limiter, rq->client, rq->client_len, now_us);
        if (wait > 0) {
            recd_call_fail(c, RECD_E_RATE_LIMITED, "");
            c->rs->retry_after = wait;
            note->result = RECD_AUDIT_UNCHECKED; /* refused before the credential was looked at */
            return RECD_E_RATE_LIMITED;
        }
    }
    unsigned char digest[32];
    struct recd_api_cache *cache = rq->authorization ? recd_call_cache(c) : NULL;
    if (cache) {
        recd_auth_digest(rq->authorization, digest);
        if (recd_api_cache_auth_get(cache, c->rt.account_sid, digest, acc)) {
            note->result = RECD_AUDIT_OK;
            return 0;
        }
    }
    int rc = c->st->ops->account_get(c->st, c->rt.account_sid, acc);
    if (rc == RECD_E_NOT_FOUND)
        rc = RECD_E_UNAUTHORIZED; /* no credentials can be right for an account that isn't */
    if (rc == 0)
        rc = recd_auth_check(c->st, rq->authorization, acc);
    /* Only wrong credentials count: a request without any is an ordinary first try. */
    if (rc == RECD_E_UNAUTHORIZED && rq->authorization && rq->limiter)
        recd_limiter_fail(rq->limiter, rq->client, rq->client_len, now_us);
    if (rc < 0) {
        recd_call_fail(c, rc, NULL);
        return rc;
    }
    if (cache)
        recd_api_cache_auth_put(cache, digest, acc);
    note->result = RECD_AUDIT_OK;
    return 0;
}

void recd_call_ok(struct call *c, const char *ct)
{
    c->rs->status = 200;
    c->rs->content_type = ct;
}

/* Looks `key` up in this worker's current cache; sets *cache to the cache to fill on a miss
 * (NULL when there is none). */
const char *recd_call_cache_lookup(struct call *c, struct recd_api_cache **cache, const char *key,
                                   size_t key_len, size_t *len, const char **ct)
{
    *cache = recd_call_cache(c);
    return *cache ? recd_api_cache_get(*cache, key, key_len, len, ct) : NULL;
}

/*
 * Serves the request from this worker's cache when it holds a rendering of the same target made
 * since the last change to the store, and returns 1. Otherwise returns 0 and sets *cache to the
 * cache the caller should fill once it has rendered (NULL when there is none). Only responses
 * that depend on nothing but the target and the data are cached: list pages (after their
 * credentials were checked) and public recording metadata.
 */
int recd_call_from_cache(struct call *c, struct recd_api_cache **cache)
{
    size_t len;
    const char *ct;
    struct recd_api_cache_ref *ref;
    /* Sent straight from the cache: copying a page of 50 was ~4 % of serving it. */
    *cache = recd_call_cache(c);
    const char *hit =
        *cache ? recd_api_cache_share(*cache, c->rq->target.p, c->rq->target.n, &len, &ct, &ref) : NULL;
    if (!hit)
        return 0;
    recd_call_ok(c, ct);
    c->rs->shared = hit;
    c->rs->shared_len = len;
    c->rs->shared_ref = ref;
    return 1;
}

void recd_call_cache_fill(struct call *c, struct recd_api_cache *cache)
{
    if (cache)
        recd_api_cache_put(cache, c->rq->target.p, c->rq->target.n, c->rs->body.p, c->rs->body.len,
                           c->rs->content_type);
}

/* --- Dispatch ---------------------------------------------------------------------------- */

/* Long because it is the one place where a request meets the API: routing, the method check,
 * the query, then one switch over the route kinds; each arm is a call, so splitting it would only
 * scatter the dispatch table. */
void recd_api_handle(const struct recd_request *rq, struct recd_response *rs)
{
    struct call call;
    struct call *c = &call;
    memset(c, 0, offsetof(struct call, qs));
    c->rq = rq;
    c->rs = rs;
    c->st = rq->store;
    c->rc.base_url = rq->base_url;

    const char *qm = memchr(rq->target.p, '?', rq->target.n);
    size_t plen = qm ? (size_t)(qm - rq->target.p) : rq->target.n;
    c->plen = plen;
    if (plen >= 6 && memcmp(rq->target.p, "/recd/", 6) == 0) {
        recd_ext_serve(c); /* recd's own endpoints, outside Twilio's namespace */
        return;
    }
    int rc = recd_route_match(rq->target.p, plen, &c->rt);
    c->json = c->rt.ext == RECD_EXT_JSON;
    rs->route = rc == 0 ? recd_route_template(&c->rt) : NULL;
    if (rq->target.n > RECD_URI_MAX) {
        recd_call_fail(c, RECD_E_URI_TOO_LONG, "");
        return;
    }
    if (rc == 0 && c->rt.kind == RECD_R_CALL_RECORDING && !c->rt.recording_sid[0] &&
        rq->method != RECD_M_POST && rq->method != RECD_M_OPTIONS)
        rc = RECD_E_NOT_FOUND; /* Twilio.CURRENT names no recording to read or delete */
    if (rc < 0) {
        recd_call_fail(c, RECD_E_NOT_FOUND, NULL);
        return;
    }
    int instance = !c->rt.is_list;
    int call_rec = c->rt.kind == RECD_R_CALL_RECORDINGS || c->rt.kind == RECD_R_CALL_RECORDING;
    const char *allow = call_rec ? (instance ? ALLOW_CALL_INSTANCE : ALLOW_CALL_LIST)
                                 : (instance ? ALLOW_INSTANCE : ALLOW_LIST);
    switch (rq->method) {
    case RECD_M_OPTIONS:
        rs->status = 204;
        rs->allow = allow;
        rs->cors_preflight = 1;
        return;
    case RECD_M_GET:
    case RECD_M_HEAD: break;
    case RECD_M_DELETE:
        if (instance)
            break;
        recd_call_fail(c, RECD_E_METHOD, NULL);
        rs->allow = allow;
        return;
    case RECD_M_POST:
        if (call_rec) {
            recd_call_recordings_post(c);
            return;
        }
        /* fall through */
    default:
        recd_call_fail(c, RECD_E_METHOD, NULL);
        rs->allow = allow;
        return;
    }
    if (qm && recd_query_parse(&c->qs, qm + 1, rq->target.n - plen - 1) < 0) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "malformed query string");
        return;
    }
    if (!qm)
        c->qs.n = 0;

    switch (c->rt.kind) {
    case RECD_R_RECORDINGS:
    case RECD_R_CALL_RECORDINGS:
    case RECD_R_CONF_RECORDINGS: recd_list_serve(c, &recd_list_recordings); break;
    case RECD_R_REC_TRANSCRIPTIONS:
    case RECD_R_TRANSCRIPTIONS: recd_list_serve(c, &recd_list_transcriptions); break;
    case RECD_R_REC_ADDONS: recd_list_serve(c, &recd_list_add_on_results); break;
    case RECD_R_RECORDING:
    case RECD_R_CALL_RECORDING:
    case RECD_R_CONF_RECORDING: recd_recording_serve(c); break;
    case RECD_R_REC_TRANSCRIPTION:
    case RECD_R_TRANSCRIPTION: recd_transcription_serve(c); break;
    case RECD_R_CALLS: recd_list_serve(c, &recd_list_calls); break;
    case RECD_R_CALL: recd_call_resource_serve(c); break;
    default: recd_call_fail(c, RECD_E_NOT_FOUND, ""); break;
    }
}
