#include "api/api_internal.h"

#include "api/auth.h"
#include "api/cache.h"
#include "api/conditional.h"
#include "api/paging.h"
#include "api/resource.h"
#include "api/route.h"
#include "api/sign.h"
#include "core/error.h"
#include "core/log.h"
#include "core/query.h"
#include "core/time.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CT_JSON RECD_CT_JSON
#define CT_XML  RECD_CT_XML
#define CT_WAV  "audio/x-wav"
#define CT_MP3  "audio/mpeg"
#define CT_TEXT "text/plain; charset=utf-8"

#define ALLOW_LIST     "GET, HEAD, OPTIONS"
#define ALLOW_INSTANCE "GET, HEAD, DELETE, OPTIONS"

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

void recd_response_free(struct recd_response *rs)
{
    unshare(rs);
    recd_buf_free(&rs->body);
    if (rs->fd >= 0)
        close(rs->fd);
    rs->fd = -1;
}

void recd_api_error(struct recd_response *rs, int err, int json, const char *detail)
{
    char msg[512];
    int status = recd_err_status(err), code = recd_err_code(err);
    snprintf(msg, sizeof msg, recd_err_template(err), detail ? detail : "");
    recd_buf_reset(&rs->body);
    unshare(rs);
    if (rs->fd >= 0) {
        close(rs->fd);
        rs->fd = -1;
    }
    rs->status = status;
    rs->www_authenticate = status == 401;
    struct recd_buf *b = &rs->body;
    if (json) {
        rs->content_type = CT_JSON;
        recd_buf_printf(b, "{\"code\":%d,\"message\":", code);
        recd_buf_json_str(b, recd_str_c(msg));
        recd_buf_printf(b, ",\"more_info\":\"https://www.twilio.com/docs/errors/%d\",\"status\":%d}", code,
                        status);
    } else {
        rs->content_type = CT_XML;
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
    if (err == RECD_E_NOT_FOUND)
        detail = c->path;
    if (err == RECD_E_IO || err == RECD_E_NO_SPACE || err == RECD_E_INTERNAL)
        detail = NULL; /* the log has the cause; the client gets no internals */
    recd_api_error(c->rs, err, c->json, detail);
}

/* Loads the path's account and checks the credentials for it; on failure the response is set. */
int recd_call_authorize(struct call *c, struct recd_account *acc)
{
    const struct recd_request *rq = c->rq;
    int64_t now_us = rq->now_us;
    if (rq->authorization && rq->limiter) {
        int64_t wait = recd_limiter_wait(rq->limiter, rq->client, rq->client_len, now_us);
        if (wait > 0) {
            recd_call_fail(c, RECD_E_RATE_LIMITED, "");
            c->rs->retry_after = wait;
            return RECD_E_RATE_LIMITED;
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
    return 0;
}

void recd_call_ok(struct call *c, const char *ct)
{
    c->rs->status = 200;
    c->rs->content_type = ct;
}

/* This worker's cache, emptied first if the store changed since its pages were rendered; NULL
 * when there is none. */
static struct recd_api_cache *current_cache(struct call *c)
{
    int64_t version[2];
    struct recd_api_cache *cache = c->rq->cache;
    if (!cache || c->st->ops->version(c->st, version) < 0)
        return NULL;
    recd_api_cache_validate(cache, version);
    return cache;
}

/* Looks `key` up in this worker's current cache; sets *cache to the cache to fill on a miss
 * (NULL when there is none). */
static const char *cache_lookup(struct call *c, struct recd_api_cache **cache, const char *key,
                                size_t key_len, size_t *len, const char **ct)
{
    *cache = current_cache(c);
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
    *cache = current_cache(c);
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

static void begin_xml(struct recd_buf *b)
{
    recd_buf_adds(b, RECD_XML_DECL "<TwilioResponse>");
}

/* --- Media ------------------------------------------------------------------------------- */

/*
 * A signed link (docs/api.md, "Signed media links"): Expires, KeySid and Signature in the query,
 * an HMAC-SHA256 over "GET\n" + path + "\n" + Expires with the secret of KeySid, which must be
 * the recording's account, its parent, or an API key of either. Returns 1 when the link is
 * valid, 0 when the request carries none, and -1 (the 401 set) when it carries a bad one.
 */
static int check_signature(struct call *c, const struct recd_account *acc)
{
    const struct recd_str *e = recd_query_get(&c->qs, "Expires"), *k = recd_query_get(&c->qs, "KeySid"),
                          *sg = recd_query_get(&c->qs, "Signature");
    if (!e && !k && !sg)
        return 0;
    int64_t expires;
    char key_sid[RECD_SID_LEN + 1], secret[33] = {0};
    int rc = RECD_E_BAD_SIGNATURE;
    if (!e || !k || !sg || recd_sign_parse(e->p, e->n, k->p, k->n, sg->p, sg->n, &expires, key_sid) < 0)
        goto bad;
    char owner[RECD_SID_LEN + 1];
    if (key_sid[0] == 'A') {
        struct recd_account signer;
        if (c->st->ops->account_get(c->st, key_sid, &signer) < 0 ||
            recd_secret_unseal(c->rq->ctx, signer.sid, signer.token_sealed, secret) < 0)
            goto bad;
        memcpy(owner, signer.sid, sizeof owner);
    } else {
        struct recd_key key;
        if (c->st->ops->key_get(c->st, key_sid, &key) < 0 ||
            recd_secret_unseal(c->rq->ctx, key.sid, key.secret_sealed, secret) < 0)
            goto bad;
        memcpy(owner, key.account_sid, sizeof owner);
    }
    if (strcmp(owner, acc->sid) != 0 && !(acc->parent_sid[0] && strcmp(owner, acc->parent_sid) == 0))
        goto bad;
    if (recd_sign_verify(secret, 32, "GET", c->rq->target.p, c->plen, expires, sg->p, sg->n, c->rq->now_s) <
        0)
        goto bad;
    memset(secret, 0, sizeof secret);
    return 1;
bad:
    memset(secret, 0, sizeof secret);
    recd_call_fail(c, rc, "");
    return -1;
}

static const char *req_header(struct call *c, const char *name)
{
    return c->rq->header ? c->rq->header(c->rq, name) : NULL;
}

/*
 * Sends a recording's audio: the stored WAV, or the MP3 or mono downmix derived from it, from the
 * file itself (sendfile), with a strong ETag, Last-Modified, conditional requests and one byte
 * range (RFC 9110 §13 and §14).
 */
static void send_media(struct call *c, const struct recd_recording *r)
{
    static const struct {
        const char *suffix, *etag_tag, *ext, *ct;
    } variants[2][2] = {
        {{".wav", "", "wav", CT_WAV}, {".mono.wav", "-mono", "wav", CT_WAV}},
        {{".mp3", "-mp3", "mp3", CT_MP3}, {".mono.mp3", "-mono-mp3", "mp3", CT_MP3}},
    };
    int mp3 = c->rt.ext == RECD_EXT_MP3, mono = 0;
    const struct recd_str *ch = recd_query_get(&c->qs, "RequestedChannels");
    if (ch) {
        if (recd_str_eq(*ch, "1")) {
            mono = r->channels >= 2;
        } else if (recd_str_eq(*ch, "2")) {
            if (r->channels < 2) {
                recd_call_fail(c, RECD_E_CHANNELS, "");
                return;
            }
        } else {
            recd_call_fail(c, RECD_E_BAD_PARAM, "RequestedChannels (1 or 2)");
            return;
        }
    }
    const char *suffix = variants[mp3][mono].suffix;
    int fd;
    int64_t size;
    int rc = recd_media_open(c->rq->ctx, r, suffix, &fd, &size);
    if (rc < 0) {
        struct recd_recording again;
        if (rc == RECD_E_NOT_FOUND && c->st->ops->recording_get(c->st, r->sid, &again) == 0 &&
            !again.deleted_us)
            recd_log_error("media %s%s of a live recording is missing; run recd fsck", r->sid, suffix);
        else if (rc == RECD_E_NOT_FOUND) {
            recd_call_fail(c, RECD_E_NOT_FOUND, NULL); /* deleted while we looked */
            return;
        }
        recd_call_fail(c, rc == RECD_E_UNAVAILABLE ? rc : RECD_E_INTERNAL, NULL);
        return;
    }
    struct recd_response *rs = c->rs;
    /* The stored WAV never changes and what is derived from it is made once, so the WAV's digest
     * and the variant name identify the bytes exactly: a strong validator. */
    snprintf(rs->etag, sizeof rs->etag, "\"%.32s%s\"", r->media_sha256, variants[mp3][mono].etag_tag);
    recd_time_http(r->created_us, rs->last_modified);
    int64_t lm_s = r->created_us / RECD_US_PER_SEC;
    rs->accept_ranges = 1;
    rs->content_type = variants[mp3][mono].ct;
    snprintf(rs->disposition, sizeof rs->disposition, "inline; filename=\"%s.%s\"", r->sid,
             variants[mp3][mono].ext);

    const char *inm = req_header(c, "If-None-Match"), *ims = req_header(c, "If-Modified-Since");
    if ((inm && recd_http_etag_match_weak(inm, rs->etag)) ||
        (!inm && ims && recd_http_not_modified_since(ims, lm_s))) {
        close(fd);
        rs->status = 304;
        rs->content_type = NULL;
        return;
    }
    int64_t start = 0, len = size;
    const char *range = req_header(c, "Range"), *if_range = req_header(c, "If-Range");
    rs->status = 200;
    /* Range is defined for GET only (RFC 9110 §14.2): a HEAD describes the whole body. */
    if (range && c->rq->method == RECD_M_GET && (!if_range || recd_http_if_range(if_range, rs->etag, lm_s))) {
        switch (recd_http_range(range, size, &start, &len)) {
        case RECD_RANGE_OK:
            rs->status = 206;
            snprintf(rs->content_range, sizeof rs->content_range, "bytes %lld-%lld/%lld", (long long)start,
                     (long long)(start + len - 1), (long long)size);
            break;
        case RECD_RANGE_UNSATISFIABLE: {
            close(fd);
            char etag[sizeof rs->etag];
            memcpy(etag, rs->etag, sizeof etag);
            recd_call_fail(c, RECD_E_RANGE, "");
            snprintf(rs->content_range, sizeof rs->content_range, "bytes */%lld", (long long)size);
            memcpy(rs->etag, etag, sizeof etag);
            return;
        }
        case RECD_RANGE_NONE: break;
        }
    }
    rs->fd = fd;
    rs->fd_offset = start;
    rs->fd_size = len;
}

/* --- Instances --------------------------------------------------------------------------- */

/* Finds the path's recording; 404 (set on the response) unless it is the path account's, of the
 * path's call or conference, and not deleted. */
static int find_recording(struct call *c, struct recd_recording *r)
{
    int rc = c->st->ops->recording_get(c->st, c->rt.recording_sid, r);
    if (rc == 0 && (strcmp(r->account_sid, c->rt.account_sid) != 0 || r->deleted_us ||
                    (c->rt.call_sid[0] && strcmp(r->call_sid, c->rt.call_sid) != 0) ||
                    (c->rt.conference_sid[0] && strcmp(r->conference_sid, c->rt.conference_sid) != 0)))
        rc = RECD_E_NOT_FOUND;
    if (rc < 0) {
        recd_call_fail(c, rc, "");
        return rc;
    }
    return 0;
}

static void recording_instance(struct call *c)
{
    struct recd_recording r;
    struct recd_account acc;
    if (c->rq->method == RECD_M_DELETE) {
        if (recd_call_authorize(c, &acc) < 0 || find_recording(c, &r) < 0)
            return;
        int rc = recd_recording_delete(c->rq->ctx, r.sid);
        if (rc < 0) {
            recd_call_fail(c, rc, "");
            return;
        }
        c->rs->status = 204;
        return;
    }
    /* Public metadata rendered since the last change is served again; a signed link is always
     * checked, since its answer depends on the time. */
    struct recd_api_cache *cache = NULL;
    int metadata = c->rt.ext == RECD_EXT_JSON || c->rt.ext == RECD_EXT_XML;
    int has_signature = recd_query_get(&c->qs, "Expires") || recd_query_get(&c->qs, "KeySid") ||
                        recd_query_get(&c->qs, "Signature");
    if (metadata && !has_signature && recd_call_from_cache(c, &cache))
        return;
    /* For media, what is cached is the recording's row (keyed apart from any rendering): the
     * two lookups it saves were a fifth of serving a cached MP3. Range and conditional headers
     * are still answered per request. */
    char mkey[RECD_URI_MAX + 2];
    size_t mkey_len = 0;
    if (!metadata && !has_signature && c->rq->target.n <= RECD_URI_MAX) {
        size_t len;
        const char *ct;
        mkey[0] = 'M';
        memcpy(mkey + 1, c->rq->target.p, c->rq->target.n);
        mkey_len = c->rq->target.n + 1;
        const char *hit = cache_lookup(c, &cache, mkey, mkey_len, &len, &ct);
        if (hit && len == sizeof r) {
            memcpy(&r, hit, sizeof r);
            send_media(c, &r);
            return;
        }
    }
    /* GET is public (the sid is the secret) unless the account enforces auth on media; a valid
     * signed link stands in for credentials, and a bad one is refused whatever the setting. */
    if (find_recording(c, &r) < 0)
        return;
    int rc = c->st->ops->account_get(c->st, r.account_sid, &acc);
    if (rc < 0) {
        recd_call_fail(c, rc, "");
        return;
    }
    int signed_ok = check_signature(c, &acc);
    if (signed_ok < 0)
        return;
    if (acc.media_auth && !signed_ok && recd_call_authorize(c, &acc) < 0)
        return;
    if (acc.media_auth || has_signature)
        cache = NULL; /* the answer depended on credentials or a link: not for others */
    struct recd_buf *b = &c->rs->body;
    switch (c->rt.ext) {
    case RECD_EXT_JSON:
        recd_call_ok(c, CT_JSON);
        recd_render_json(b, &recd_res_recording, &r, &c->rc);
        recd_call_cache_fill(c, cache);
        return;
    case RECD_EXT_XML:
        recd_call_ok(c, CT_XML);
        begin_xml(b);
        recd_render_xml(b, &recd_res_recording, &r, &c->rc);
        recd_buf_adds(b, "</TwilioResponse>");
        recd_call_cache_fill(c, cache);
        return;
    default:
        if (cache && mkey_len)
            recd_api_cache_put(cache, mkey, mkey_len, (const char *)&r, sizeof r, "");
        send_media(c, &r);
        return;
    }
}

static void render_transcription(struct call *c, const struct recd_transcription *t)
{
    struct recd_buf *b = &c->rs->body;
    switch (c->rt.ext) {
    case RECD_EXT_JSON:
        recd_call_ok(c, CT_JSON);
        recd_render_json(b, &recd_res_transcription, t, &c->rc);
        break;
    case RECD_EXT_TXT:
        recd_call_ok(c, CT_TEXT);
        if (!t->text_null)
            recd_buf_add(b, t->text, t->text_len);
        break;
    default:
        recd_call_ok(c, CT_XML);
        begin_xml(b);
        recd_render_xml(b, &recd_res_transcription, t, &c->rc);
        recd_buf_adds(b, "</TwilioResponse>");
        break;
    }
}

static void transcription_instance(struct call *c)
{
    struct recd_account acc;
    struct recd_transcription t;
    struct recd_buf text; /* owns t.text */
    if (recd_call_authorize(c, &acc) < 0)
        return;
    recd_buf_init(&text, 0);
    int rc = c->st->ops->transcription_get(c->st, c->rt.transcription_sid, &t, &text);
    if (rc == 0 && (strcmp(t.account_sid, c->rt.account_sid) != 0 ||
                    (c->rt.recording_sid[0] && strcmp(t.recording_sid, c->rt.recording_sid) != 0)))
        rc = RECD_E_NOT_FOUND;
    if (rc == 0 && c->rq->method == RECD_M_DELETE)
        rc = c->st->ops->transcription_delete(c->st, t.sid);
    if (rc < 0)
        recd_call_fail(c, rc, "");
    else if (c->rq->method == RECD_M_DELETE)
        c->rs->status = 204;
    else
        render_transcription(c, &t);
    recd_buf_free(&text);
}

/* --- Dispatch ---------------------------------------------------------------------------- */

void recd_api_handle(const struct recd_request *rq, struct recd_response *rs)
{
    struct call call;
    struct call *c = &call;
    memset(c, 0, offsetof(struct call, qs));
    c->rq = rq;
    c->rs = rs;
    c->st = rq->ctx->store;
    c->rc.base_url = rq->base_url;

    const char *qm = memchr(rq->target.p, '?', rq->target.n);
    size_t plen = qm ? (size_t)(qm - rq->target.p) : rq->target.n;
    c->plen = plen;
    int rc = recd_route_match(rq->target.p, plen, &c->rt);
    c->json = c->rt.ext == RECD_EXT_JSON;
    if (rq->target.n > RECD_URI_MAX) {
        recd_call_fail(c, RECD_E_URI_TOO_LONG, "");
        return;
    }
    snprintf(c->path, sizeof c->path, "%.*s%s", (int)(plen > 256 ? 256 : plen), rq->target.p,
             plen > 256 ? "..." : "");
    if (rc < 0) {
        recd_call_fail(c, RECD_E_NOT_FOUND, NULL);
        return;
    }
    int instance = !c->rt.is_list;
    const char *allow = instance ? ALLOW_INSTANCE : ALLOW_LIST;
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
    case RECD_R_CONF_RECORDING: recording_instance(c); break;
    case RECD_R_REC_TRANSCRIPTION:
    case RECD_R_TRANSCRIPTION: transcription_instance(c); break;
    default: recd_call_fail(c, RECD_E_NOT_FOUND, ""); break;
    }
}
