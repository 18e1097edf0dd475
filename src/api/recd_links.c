#include "api/recd_links.h"

#include "api/api_internal.h"
#include "api/sign.h"
#include "core/error.h"
#include "core/seal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * POST /recd/Accounts/AC…/Recordings/RE…/Links (contract §10) and the link maker it shares with
 * `recd sign`: a signed, expiring link to a recording's media that an <audio> element can play
 * and seek (Range) without credentials, even when the account enforces auth on media.
 */

int recd_link_make(struct recd_store *st, const unsigned char *seal_key, const char *base_url,
                   const struct recd_link_opts *o, int64_t now_s, struct recd_buf *url, int64_t *expires)
{
    if ((strcmp(o->format, "wav") != 0 && strcmp(o->format, "mp3") != 0) || o->requested_channels < 0 ||
        o->requested_channels > 2 || o->ttl_s < 1 || o->ttl_s > RECD_SIGN_MAX_TTL)
        return RECD_E_BAD_INPUT;
    struct recd_account acc;
    struct recd_recording r;
    int rc = st->ops->account_get(st, o->account_sid, &acc);
    if (rc == 0)
        rc = st->ops->recording_get(st, o->recording_sid, &r);
    if (rc == 0 && (strcmp(r.account_sid, acc.sid) != 0 || r.deleted_us))
        rc = RECD_E_NOT_FOUND;
    if (rc == 0 && o->requested_channels == 2 && r.channels < 2)
        rc = RECD_E_CHANNELS;
    if (rc < 0)
        return rc;
    char secret[33], path[160], sig[RECD_SIG_LEN + 1];
    if (recd_seal_open_secret(seal_key, acc.sid, acc.token_sealed, secret) < 0)
        return RECD_E_INTERNAL;
    int64_t exp = now_s + o->ttl_s;
    int n =
        snprintf(path, sizeof path, "/2010-04-01/Accounts/%s/Recordings/%s.%s", acc.sid, r.sid, o->format);
    recd_sign_compute(secret, 32, "GET", path, (size_t)n, exp, sig);
    memset(secret, 0, sizeof secret);
    recd_buf_printf(url, "%s%s?Expires=%" PRId64 "&KeySid=%s&Signature=%s", base_url, path, exp, acc.sid,
                    sig);
    if (o->requested_channels)
        recd_buf_printf(url, "&RequestedChannels=%d", o->requested_channels);
    *expires = exp;
    return 0;
}

/* A parameter from the form body, else from the query string (both are accepted). */
static const struct recd_str *param(struct call *c, const struct recd_query *form, const char *key)
{
    const struct recd_str *v = recd_query_get(form, key);
    return v ? v : recd_query_get(&c->qs, key);
}

/* 1 to 18 digits, no sign, into *out; else -1. */
static int whole(const struct recd_str *v, int64_t *out)
{
    if (v->n < 1 || v->n > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return -1;
        n = n * 10 + (v->p[i] - '0');
    }
    *out = n;
    return 0;
}

/* The request's Format, RequestedChannels and Ttl into *o; on a bad one the 400 is set. */
static int link_params(struct call *c, const struct recd_query *form, struct recd_link_opts *o)
{
    const struct recd_str *v;
    char why[96];
    o->format = "wav";
    if ((v = param(c, form, "Format"))) {
        if (recd_str_eq(*v, "mp3"))
            o->format = "mp3";
        else if (!recd_str_eq(*v, "wav")) {
            recd_call_fail(c, RECD_E_BAD_PARAM, "Format must be wav or mp3");
            return RECD_E_BAD_PARAM;
        }
    }
    o->requested_channels = 0;
    if ((v = param(c, form, "RequestedChannels"))) {
        if (!recd_str_eq(*v, "1") && !recd_str_eq(*v, "2")) {
            recd_call_fail(c, RECD_E_BAD_PARAM, "RequestedChannels must be 1 or 2");
            return RECD_E_BAD_PARAM;
        }
        o->requested_channels = v->p[0] - '0';
    }
    o->ttl_s = RECD_LINK_TTL_DEFAULT;
    if ((v = param(c, form, "Ttl")) &&
        (whole(v, &o->ttl_s) < 0 || o->ttl_s < 1 || o->ttl_s > RECD_SIGN_MAX_TTL)) {
        snprintf(why, sizeof why, "Ttl must be a whole number of seconds from 1 to %" PRId64,
                 (int64_t)RECD_SIGN_MAX_TTL);
        recd_call_fail(c, RECD_E_BAD_PARAM, why);
        return RECD_E_BAD_PARAM;
    }
    return 0;
}

void recd_links_post(struct call *c, const struct recd_recording *r)
{
    struct recd_query form;
    struct recd_link_opts o = {c->rt.account_sid, r->sid, "wav", 0, 0};
    if (recd_query_parse(&form, c->rq->body.p ? c->rq->body.p : "", c->rq->body.n) < 0) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "malformed form body");
        return;
    }
    if (link_params(c, &form, &o) < 0)
        return;
    struct recd_buf url;
    int64_t expires;
    recd_buf_init(&url, 256);
    int rc = recd_link_make(c->st, c->rq->seal_key, c->rq->base_url, &o, c->rq->now_s, &url, &expires);
    if (rc < 0) {
        recd_buf_free(&url);
        recd_call_fail(c, rc == RECD_E_BAD_INPUT ? RECD_E_INTERNAL : rc, "");
        return;
    }
    /* RFC 3339 in UTC, which JavaScript's Date and every JSON client read. */
    char when[32];
    struct tm tm;
    time_t t = (time_t)expires;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct recd_buf *b = &c->rs->body;
    recd_buf_adds(b, "{\"url\":");
    recd_buf_json_str(b, (struct recd_str){url.p, url.len});
    recd_buf_adds(b, ",\"expires_at\":");
    recd_buf_json_str(b, recd_str_c(when));
    recd_buf_addc(b, '}');
    recd_buf_free(&url);
    c->rs->status = 201;
    c->rs->content_type = RECD_CT_JSON;
}
