#include "api/api_internal.h"

#include "core/error.h"
#include "core/query.h"
#include "core/sid.h"

#include <string.h>

/*
 * recd's own endpoints (contract §10), beside Twilio's namespace and never inside it:
 *
 *   GET|HEAD  /recd/Accounts/AC…/Recordings/RE…/Peaks.json   waveform peaks (recd_peaks.c)
 *   GET|HEAD  /recd/Accounts/AC…/Recordings/RE…/Peaks.dat
 *   POST      /recd/Accounts/AC…/Recordings/RE…/Links        a signed media link (recd_links.c)
 *
 * Every one needs Basic auth for the path's account (§4: its own credentials, an API key of it,
 * or its parent's), whatever the account's media-auth setting, and every error is a JSON body
 * (§3), whatever the extension. A recording of another account, deleted, or without media
 * answers 404 exactly as a sid that does not exist.
 */

#define PREFIX "/recd/Accounts/"

enum ext_kind { EXT_NONE = 0, EXT_PEAKS_JSON, EXT_PEAKS_DAT, EXT_LINKS };

#define ALLOW_PEAKS "GET, HEAD, OPTIONS"
#define ALLOW_LINKS "POST, OPTIONS"

/* Takes the next path segment of `p` (up to '/' or `end`) into *seg; returns where the one after
 * it begins, or NULL at the end of the path. */
static const char *segment(const char *p, const char *end, struct recd_str *seg)
{
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *e = slash ? slash : end;
    *seg = (struct recd_str){p, (size_t)(e - p)};
    return slash ? slash + 1 : NULL;
}

/* Matches the path (not decoded: nothing in it needs escaping), filling the sids into c->rt. */
static enum ext_kind route(struct call *c)
{
    const char *p = c->rq->target.p, *end = p + c->plen;
    size_t pre = sizeof PREFIX - 1;
    struct recd_str s[4];
    if (c->plen <= pre || memcmp(p, PREFIX, pre) != 0)
        return EXT_NONE;
    p += pre;
    int n = 0;
    while (p && n < 4)
        p = segment(p, end, &s[n++]);
    if (p || n != 4 || !recd_sid_valid(s[0].p, s[0].n, "AC", 1) || !recd_str_eq(s[1], "Recordings") ||
        !recd_sid_valid(s[2].p, s[2].n, "RE", 1))
        return EXT_NONE;
    memcpy(c->rt.account_sid, s[0].p, RECD_SID_LEN);
    memcpy(c->rt.recording_sid, s[2].p, RECD_SID_LEN);
    if (recd_str_eq(s[3], "Peaks.json"))
        return EXT_PEAKS_JSON;
    if (recd_str_eq(s[3], "Peaks.dat"))
        return EXT_PEAKS_DAT;
    if (recd_str_eq(s[3], "Links"))
        return EXT_LINKS;
    return EXT_NONE;
}

/* The path's recording, if it is the path account's and not deleted; else 404 (set). */
static int find_recording(struct call *c, struct recd_recording *r)
{
    int rc = c->st->ops->recording_get(c->st, c->rt.recording_sid, r);
    if (rc == 0 && (strcmp(r->account_sid, c->rt.account_sid) != 0 || r->deleted_us))
        rc = RECD_E_NOT_FOUND;
    if (rc < 0) {
        recd_call_fail(c, rc, "");
        return rc;
    }
    return 0;
}

void recd_ext_serve(struct call *c)
{
    const struct recd_request *rq = c->rq;
    struct recd_response *rs = c->rs;
    c->json = 1;
    memset(&c->rt, 0, sizeof c->rt);
    if (rq->target.n > RECD_URI_MAX) {
        recd_call_fail(c, RECD_E_URI_TOO_LONG, "");
        return;
    }
    enum ext_kind k = route(c);
    /* The metrics' route label (api.h): the template, never the path. */
    static const char *const templates[] = {
        [EXT_NONE] = NULL,
        [EXT_PEAKS_JSON] = "/recd/Accounts/{AccountSid}/Recordings/{RecordingSid}/Peaks.json",
        [EXT_PEAKS_DAT] = "/recd/Accounts/{AccountSid}/Recordings/{RecordingSid}/Peaks.dat",
        [EXT_LINKS] = "/recd/Accounts/{AccountSid}/Recordings/{RecordingSid}/Links",
    };
    rs->route = templates[k];
    if (k == EXT_NONE) {
        recd_call_fail(c, RECD_E_NOT_FOUND, NULL);
        return;
    }
    const char *allow = k == EXT_LINKS ? ALLOW_LINKS : ALLOW_PEAKS;
    int ok =
        k == EXT_LINKS ? rq->method == RECD_M_POST : rq->method == RECD_M_GET || rq->method == RECD_M_HEAD;
    if (rq->method == RECD_M_OPTIONS) {
        rs->status = 204;
        rs->allow = allow;
        rs->cors_preflight = 1;
        return;
    }
    if (!ok) {
        recd_call_fail(c, RECD_E_METHOD, NULL);
        rs->allow = allow;
        return;
    }
    const char *qm = memchr(rq->target.p, '?', rq->target.n);
    c->qs.n = 0;
    if (qm && recd_query_parse(&c->qs, qm + 1, rq->target.n - c->plen - 1) < 0) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "malformed query string");
        return;
    }
    struct recd_account acc;
    struct recd_recording r;
    if (recd_call_authorize(c, &acc) < 0 || find_recording(c, &r) < 0)
        return;
    if (k == EXT_LINKS)
        recd_links_post(c, &r);
    else
        recd_peaks_serve(c, &r, k == EXT_PEAKS_JSON);
}
