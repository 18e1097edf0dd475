#include "api/api_internal.h"
#include "api/conditional.h"
#include "api/sign.h"
#include "core/error.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/time.h"
#include "service/service.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A recording instance (contract §1, §5): its metadata as JSON or XML, its audio as WAV or MP3,
 * and DELETE. */

#define CT_WAV "audio/x-wav"
#define CT_MP3 "audio/mpeg"

/* --- Media ------------------------------------------------------------------------------- */

/*
 * A signed link (docs/api.md, "Signed media links"): Expires, KeySid and Signature in the query,
 * an HMAC-SHA256 over "GET\n" + path + "\n" + Expires with the secret of KeySid, which must be
 * the recording's account, its parent, or an API key of either. Returns 1 when the link is
 * valid, 0 when the request carries none, and RECD_E_BAD_SIGNATURE (the 401 set) when it carries
 * a bad one.
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
    struct recd_audit_note *note = &c->rs->audit;
    note->cred = RECD_AUDIT_SIGNED_LINK;
    note->result = RECD_AUDIT_FAILED;
    if (!e || !k || !sg || recd_sign_parse(e->p, e->n, k->p, k->n, sg->p, sg->n, &expires, key_sid) < 0)
        goto bad;
    memcpy(note->principal, key_sid, sizeof note->principal);
    char owner[RECD_SID_LEN + 1];
    if (key_sid[0] == 'A') {
        struct recd_account signer;
        if (c->st->ops->account_get(c->st, key_sid, &signer) < 0 ||
            recd_seal_open_secret(c->rq->seal_key, signer.sid, signer.token_sealed, secret) < 0)
            goto bad;
        memcpy(owner, signer.sid, sizeof owner);
    } else {
        struct recd_key key;
        if (c->st->ops->key_get(c->st, key_sid, &key) < 0 ||
            recd_seal_open_secret(c->rq->seal_key, key.sid, key.secret_sealed, secret) < 0)
            goto bad;
        memcpy(owner, key.account_sid, sizeof owner);
    }
    if (strcmp(owner, acc->sid) != 0 && !(acc->parent_sid[0] && strcmp(owner, acc->parent_sid) == 0))
        goto bad;
    if (recd_sign_verify(secret, 32, "GET", c->rq->target.p, c->plen, expires, sg->p, sg->n, c->rq->now_s) <
        0)
        goto bad;
    memset(secret, 0, sizeof secret);
    note->result = RECD_AUDIT_OK;
    return 1;
bad:
    memset(secret, 0, sizeof secret);
    recd_call_fail(c, rc, "");
    return rc;
}

static const char *req_header(struct call *c, const char *name)
{
    return c->rq->header ? c->rq->header(c->rq, name) : NULL;
}

/* The stored WAV and what is derived from it: file suffix, ETag tag, download extension (the
 * downmix's differs, so that saving both leaves two files), type. */
struct variant {
    const char *suffix, *etag_tag, *ext, *ct;
};

/* The variant a media request asks for: by extension and RequestedChannels (Twilio's downmix of a
 * two-party recording). NULL, with the error set, for a channel count the recording lacks. */
static const struct variant *variant_of(struct call *c, const struct recd_recording *r)
{
    static const struct variant variants[2][2] = {
        {{".wav", "", "wav", CT_WAV}, {".mono.wav", "-mono", "mono.wav", CT_WAV}},
        {{".mp3", "-mp3", "mp3", CT_MP3}, {".mono.mp3", "-mono-mp3", "mono.mp3", CT_MP3}},
    };
    int mp3 = c->rt.ext == RECD_EXT_MP3, mono = 0;
    const struct recd_str *ch = recd_query_get(&c->qs, "RequestedChannels");
    if (ch) {
        if (recd_str_eq(*ch, "1")) {
            mono = r->channels >= 2;
        } else if (recd_str_eq(*ch, "2")) {
            if (r->channels < 2) {
                recd_call_fail(c, RECD_E_CHANNELS, "");
                return NULL;
            }
        } else {
            recd_call_fail(c, RECD_E_BAD_PARAM, "RequestedChannels (1 or 2)");
            return NULL;
        }
    }
    return &variants[mp3][mono];
}

/* What a media request gets, once the file's size is known (RFC 9110 §13, §14). */
enum media_plan { PLAN_NOT_MODIFIED, PLAN_UNSATISFIABLE, PLAN_WHOLE, PLAN_RANGE };

/* 1 when the request carries a precondition or a Range that the file's size alone can decide. */
static int media_needs_plan(struct call *c)
{
    return req_header(c, "If-None-Match") || req_header(c, "If-Modified-Since") ||
           (c->rq->method == RECD_M_GET && req_header(c, "Range"));
}

/* Decides a media request for a file of `size` bytes whose validators are already on the
 * response; a range goes to *start and *len. */
static enum media_plan plan_of(struct call *c, int64_t size, int64_t lm_s, int64_t *start, int64_t *len)
{
    struct recd_response *rs = c->rs;
    const char *inm = req_header(c, "If-None-Match"), *ims = req_header(c, "If-Modified-Since");
    if ((inm && recd_http_etag_match_weak(inm, rs->etag)) ||
        (!inm && ims && recd_http_not_modified_since(ims, lm_s)))
        return PLAN_NOT_MODIFIED;
    const char *range = req_header(c, "Range"), *if_range = req_header(c, "If-Range");
    /* Range is defined for GET only (RFC 9110 §14.2): a HEAD describes the whole body. */
    if (range && c->rq->method == RECD_M_GET && (!if_range || recd_http_if_range(if_range, rs->etag, lm_s))) {
        switch (recd_http_range(range, size, start, len)) {
        case RECD_RANGE_OK: return PLAN_RANGE;
        case RECD_RANGE_UNSATISFIABLE: return PLAN_UNSATISFIABLE;
        case RECD_RANGE_NONE: break;
        }
    }
    return PLAN_WHOLE;
}

/* Copies `n` bytes to `p`; returns the end. */
static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* Answers a plan that sends nothing: 304, or 416 for a file of `size` bytes. */
static void send_no_body(struct call *c, enum media_plan plan, int64_t size)
{
    struct recd_response *rs = c->rs;
    if (plan == PLAN_NOT_MODIFIED) {
        rs->status = 304;
        rs->content_type = NULL;
        return;
    }
    char etag[sizeof rs->etag];
    memcpy(etag, rs->etag, sizeof etag);
    recd_call_fail(c, RECD_E_RANGE, "");
    snprintf(rs->content_range, sizeof rs->content_range, "bytes */%lld", (long long)size);
    memcpy(rs->etag, etag, sizeof etag);
}

/* Sends [start, start + len) of a file of `size` bytes, found in `fd` from `fd_off` on (owned). */
static void send_part(struct call *c, int fd, int64_t fd_off, int64_t start, int64_t len, int64_t size)
{
    struct recd_response *rs = c->rs;
    rs->status = 206;
    snprintf(rs->content_range, sizeof rs->content_range, "bytes %lld-%lld/%lld", (long long)start,
             (long long)(start + len - 1), (long long)size);
    rs->fd = fd;
    rs->fd_offset = fd_off;
    rs->fd_size = len;
}

/* Answers the conditional and Range headers of a media request for a whole file of `size` bytes
 * whose validators are already on the response; takes ownership of `fd` (or of the cache's
 * reference in rs->fd_ref that lends it). */
static void send_file(struct call *c, int fd, int64_t size, int64_t lm_s)
{
    int64_t start = 0, len = size;
    enum media_plan plan = plan_of(c, size, lm_s, &start, &len);
    if (plan == PLAN_NOT_MODIFIED || plan == PLAN_UNSATISFIABLE) {
        if (c->rs->fd_ref)
            recd_api_cache_file_release(c->rs->fd_ref); /* lent by the cache, not ours to close */
        else
            close(fd);
        c->rs->fd_ref = NULL;
        send_no_body(c, plan, size);
        return;
    }
    if (plan == PLAN_RANGE) {
        send_part(c, fd, start, start, len, size);
        return;
    }
    c->rs->status = 200;
    c->rs->fd = fd;
    c->rs->fd_offset = 0;
    c->rs->fd_size = size;
}

/* Opens the file of a recording's variant: a duplicate of the one this worker keeps open since
 * the last commit, else from the media service (which derives it if need be), then kept. */
static int open_media(struct call *c, const struct recd_recording *r, const char *suffix, int *fd,
                      int64_t *size)
{
    char key[RECD_MEDIA_KEY_MAX];
    struct recd_api_cache *cache = recd_call_cache(c);
    recd_media_key(key, r->sid, suffix);
    if (cache && (*fd = recd_api_cache_file_get(cache, key, size)) >= 0)
        return 0;
    int rc = recd_media_open(c->st, c->rq->blob, r, suffix, fd, size);
    if (rc == 0 && cache)
        recd_api_cache_file_put(cache, key, *fd, *size);
    return rc;
}

/* Seconds a client is told to wait (Retry-After) when the media store cannot answer now: its
 * own retries have already spent about half a second, and a bucket or disk that recovers is used
 * again by the next request. */
#define MEDIA_RETRY_AFTER_S 1

/* Answers a media file that could not be opened. */
static void media_fail(struct call *c, const struct recd_recording *r, const char *suffix, int rc)
{
    struct recd_recording again;
    if (rc == RECD_E_NOT_FOUND && c->st->ops->recording_get(c->st, r->sid, &again) == 0 && !again.deleted_us)
        recd_log_error("media %s%s of a live recording is missing; run recd fsck", r->sid, suffix);
    else if (rc == RECD_E_NOT_FOUND) {
        recd_call_fail(c, RECD_E_NOT_FOUND, NULL); /* deleted while we looked */
        return;
    }
    /* A range the file still does not hold after its size was asked again: the file changes
     * under us (being replaced), which a retry finds settled. Not a fault of the request (416),
     * nor recd's (500). */
    if (rc == RECD_E_RANGE)
        rc = RECD_E_UNAVAILABLE;
    recd_call_fail(c, rc == RECD_E_UNAVAILABLE ? rc : RECD_E_INTERNAL, NULL);
    if (rc == RECD_E_UNAVAILABLE)
        c->rs->retry_after = MEDIA_RETRY_AFTER_S;
}

/*
 * A precondition or Range on a file this worker does not hold open: decided from the file's size
 * alone, so that a 304 reads nothing and a range reads only that range (from an object store,
 * a ranged GET rather than the whole object).
 *
 * The size comes from the row (the WAV) or from memory (a derived file), so the file may turn
 * out shorter than planned: damaged or replaced behind recd's back. Nothing has been sent yet
 * then, so the request is planned once more from the size the store holds now, which answers
 * as a request without a Range would (that one serves the file as it is); a file that is still
 * shorter than its new plan is changing under us, and gets a 503 to retry (media_fail).
 */
static void send_planned(struct call *c, const struct recd_recording *r, const char *suffix, int64_t lm_s)
{
    int64_t size, start = 0, len = 0, fd_off;
    int fd, whole, rc = recd_media_stat(c->st, c->rq->blob, r, suffix, &size);
    for (int again = 0;; again++) {
        if (rc < 0) {
            media_fail(c, r, suffix, rc);
            return;
        }
        enum media_plan plan = plan_of(c, size, lm_s, &start, &len);
        switch (plan) {
        case PLAN_NOT_MODIFIED:
        case PLAN_UNSATISFIABLE: send_no_body(c, plan, size); return;
        case PLAN_WHOLE:
            if ((rc = open_media(c, r, suffix, &fd, &size)) < 0)
                media_fail(c, r, suffix, rc);
            else
                send_file(c, fd, size, lm_s);
            return;
        case PLAN_RANGE:
            rc = recd_media_open_range(c->st, c->rq->blob, r, suffix, start, len, &fd, &fd_off, &whole);
            if (rc == RECD_E_RANGE && !again) {
                recd_log_error("media %s%s is shorter than the %lld bytes a range was planned from (damaged "
                               "or replaced); its size is asked again",
                               r->sid, suffix, (long long)size);
                rc = recd_media_restat(c->st, c->rq->blob, r, suffix, &size);
                continue;
            }
            if (rc < 0) {
                media_fail(c, r, suffix, rc);
                return;
            }
            if (whole && recd_call_cache(c)) {
                char key[RECD_MEDIA_KEY_MAX];
                recd_media_key(key, r->sid, suffix);
                recd_api_cache_file_put(recd_call_cache(c), key, fd, size);
            }
            send_part(c, fd, fd_off, start, len, size);
            return;
        }
    }
}

/*
 * Sends a recording's audio: the stored WAV, or the MP3 or mono downmix derived from it, from the
 * file itself (sendfile), with a strong ETag, Last-Modified, conditional requests and one byte
 * range.
 */
static void send_media(struct call *c, const struct recd_recording *r)
{
    /* A recording in progress, absent or failed has no media (yet): Twilio answers 404. */
    if (!recd_recording_has_media(r)) {
        recd_call_fail(c, RECD_E_NOT_FOUND, NULL);
        return;
    }
    const struct variant *v = variant_of(c, r);
    if (!v)
        return;
    struct recd_response *rs = c->rs;
    /* The stored WAV never changes and what is derived from it is made once, so the WAV's digest
     * and the variant name identify the bytes exactly: a strong validator. */
    /* Put together by copying, as the HTTP layer writes the head: this is every cached media
     * request's path, where snprintf showed in the profile. All three fit their arrays: a digest
     * of 32, a sid of 34, and the variants' short names. */
    char *e = rs->etag;
    *e++ = '"';
    e = put(e, r->media_sha256, strnlen(r->media_sha256, 32));
    e = put(e, v->etag_tag, strlen(v->etag_tag));
    *e++ = '"';
    *e = '\0';
    recd_time_http(r->created_us, rs->last_modified);
    rs->accept_ranges = 1;
    rs->content_type = v->ct;
    char *d = put(rs->disposition, "inline; filename=\"", 18);
    d = put(d, r->sid, strnlen(r->sid, RECD_SID_LEN));
    *d++ = '.';
    d = put(d, v->ext, strlen(v->ext));
    *d++ = '"';
    *d = '\0';
    int64_t lm_s = r->created_us / RECD_US_PER_SEC, size;
    char key[RECD_MEDIA_KEY_MAX];
    struct recd_api_cache *cache = recd_call_cache(c);
    int fd = -1;
    *put(put(key, r->sid, strnlen(r->sid, RECD_SID_LEN)), v->suffix, strlen(v->suffix)) = '\0';
    struct recd_api_cache_file *ref = NULL;
    if (cache && (fd = recd_api_cache_file_share(cache, key, &size, &ref)) >= 0) {
        /* Lent, not a duplicate: the response gives the reference back when it is sent. */
        rs->fd_ref = ref;
        send_file(c, fd, size, lm_s);
        return;
    }
    if (media_needs_plan(c)) {
        send_planned(c, r, v->suffix, lm_s);
        return;
    }
    int rc = open_media(c, r, v->suffix, &fd, &size);
    if (rc < 0) {
        media_fail(c, r, v->suffix, rc);
        return;
    }
    send_file(c, fd, size, lm_s);
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

/* DELETE: Basic auth always; the row goes first, then its media (contract §5). */
static void delete_recording(struct call *c)
{
    struct recd_recording r;
    struct recd_account acc;
    c->rs->audit.event = RECD_AUDIT_DELETE;
    memcpy(c->rs->audit.recording_sid, c->rt.recording_sid, sizeof c->rs->audit.recording_sid);
    if (recd_call_authorize(c, &acc) < 0 || find_recording(c, &r) < 0)
        return;
    /* Its media is still being written; Twilio, too, refuses until the recording ends. */
    if (recd_recording_in_progress(&r)) {
        recd_call_fail(c, RECD_E_IN_PROGRESS, "a recording");
        return;
    }
    int rc = recd_recording_delete(c->st, c->rq->blob, r.sid);
    if (rc < 0) {
        recd_call_fail(c, rc, "");
        return;
    }
    c->rs->status = 204;
}

void recd_recording_serve(struct call *c)
{
    struct recd_recording r;
    struct recd_account acc;
    if (c->rq->method == RECD_M_DELETE) {
        delete_recording(c);
        return;
    }
    /* Public metadata rendered since the last change is served again; a signed link is always
     * checked, since its answer depends on the time. */
    struct recd_api_cache *cache = NULL;
    int metadata = c->rt.ext == RECD_EXT_JSON || c->rt.ext == RECD_EXT_XML;
    int has_signature = recd_query_get(&c->qs, "Expires") || recd_query_get(&c->qs, "KeySid") ||
                        recd_query_get(&c->qs, "Signature");
    if (!metadata && c->rq->audit) {
        /* A media fetch, public until a credential or a link says otherwise; the account is the
         * path's until the recording's row is read. */
        struct recd_audit_note *note = &c->rs->audit;
        note->event = RECD_AUDIT_MEDIA;
        note->cred = RECD_AUDIT_PUBLIC;
        memcpy(note->account_sid, c->rt.account_sid, sizeof note->account_sid);
        memcpy(note->recording_sid, c->rt.recording_sid, sizeof note->recording_sid);
    }
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
        const char *hit = recd_call_cache_lookup(c, &cache, mkey, mkey_len, &len, &ct);
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
        recd_call_ok(c, RECD_CT_JSON);
        recd_render_json(b, &recd_res_recording, &r, &c->rc);
        recd_call_cache_fill(c, cache);
        return;
    case RECD_EXT_XML:
        recd_call_ok(c, RECD_CT_XML);
        recd_call_begin_xml(b);
        recd_render_xml(b, &recd_res_recording, &r, &c->rc);
        recd_buf_adds(b, "</TwilioResponse>");
        recd_call_cache_fill(c, cache);
        return;
    default:
        if (cache && mkey_len && recd_recording_has_media(&r))
            recd_api_cache_put(cache, mkey, mkey_len, (const char *)&r, sizeof r, "");
        send_media(c, &r);
        return;
    }
}

/* For recd's own media-like answers (api_internal.h): the same conditional and Range handling. */
void recd_call_send_file(struct call *c, int fd, int64_t size, int64_t lm_s)
{
    send_file(c, fd, size, lm_s);
}
