#include "service/transcribe.h"

#include "core/error.h"
#include "core/sid.h"
#include "service/service.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int recd_transcribe_wanted(struct recd_store *st, const struct recd_recording *r)
{
    struct recd_account a;
    if (r->transcribe)
        return 1;
    return st->ops->account_get(st, r->account_sid, &a) == 0 && a.transcribe;
}

/* A callback URL and method the queue takes: NULL or "" (none) or an absolute http(s) URL, and
 * GET or POST in any case (NULL: POST). 0 or RECD_E_BAD_INPUT. */
static int req_check(const struct recd_transcribe_req *req)
{
    const char *url = req && req->callback_url ? req->callback_url : "";
    const char *method = req && req->callback_method ? req->callback_method : "POST";
    if (url[0] && (strlen(url) > RECD_URL_MAX || recd_url_check(url, strlen(url)) < 0))
        return RECD_E_BAD_INPUT;
    if (strcasecmp(method, "POST") != 0 && strcasecmp(method, "GET") != 0)
        return RECD_E_BAD_INPUT;
    return 0;
}

int recd_transcribe_enqueue(struct recd_store *st, const struct recd_recording *r,
                            const struct recd_transcribe_req *req, int64_t now_us,
                            char sid_out[RECD_SID_LEN + 1])
{
    struct recd_transcription t;
    struct recd_transcription_job j;
    const char *url = req && req->callback_url ? req->callback_url : "";
    const char *method = req && req->callback_method ? req->callback_method : "POST";
    if (req_check(req) < 0)
        return RECD_E_BAD_INPUT;
    if (!recd_recording_has_media(r))
        return RECD_E_NOT_FOUND;
    memset(&t, 0, sizeof t);
    memset(&j, 0, sizeof j);
    if (recd_sid_new(t.sid, "TR") < 0)
        return RECD_E_INTERNAL;
    memcpy(t.account_sid, r->account_sid, sizeof t.account_sid);
    memcpy(t.recording_sid, r->sid, sizeof t.recording_sid);
    t.created_us = t.updated_us = now_us;
    /* Twilio's duration is the recording's; it is known before any word is. */
    t.duration_ms = r->duration_ms;
    snprintf(t.status, sizeof t.status, "in-progress");
    snprintf(t.type, sizeof t.type, "fast");
    t.text_null = 1;

    memcpy(j.sid, t.sid, sizeof j.sid);
    memcpy(j.account_sid, t.account_sid, sizeof j.account_sid);
    memcpy(j.recording_sid, t.recording_sid, sizeof j.recording_sid);
    snprintf(j.callback_url, sizeof j.callback_url, "%s", url);
    snprintf(j.callback_method, sizeof j.callback_method, "%s",
             strcasecmp(method, "GET") == 0 ? "GET" : "POST");
    snprintf(j.state, sizeof j.state, RECD_JOB_QUEUED);
    j.ready_us = j.created_us = j.updated_us = now_us;
    int rc = st->ops->transcription_enqueue(st, &t, &j);
    if (rc == 0 && sid_out)
        memcpy(sid_out, t.sid, RECD_SID_LEN + 1);
    return rc;
}

int recd_transcribe_remember(struct recd_store *st, const struct recd_recording *r,
                             const struct recd_transcribe_req *req, int64_t now_us)
{
    struct recd_transcribe_request q;
    if (!req || !req->callback_url || !req->callback_url[0])
        return 0;
    if (req_check(req) < 0)
        return RECD_E_BAD_INPUT;
    memset(&q, 0, sizeof q);
    memcpy(q.sid, r->sid, sizeof q.sid);
    snprintf(q.callback_url, sizeof q.callback_url, "%s", req->callback_url);
    snprintf(q.callback_method, sizeof q.callback_method, "%s",
             req->callback_method && strcasecmp(req->callback_method, "GET") == 0 ? "GET" : "POST");
    q.created_us = now_us;
    return st->ops->transcribe_request_put(st, &q);
}

int recd_transcribe_finished(struct recd_store *st, const struct recd_recording *r, int64_t now_us,
                             char sid_out[RECD_SID_LEN + 1])
{
    struct recd_transcribe_request q;
    if (!recd_recording_has_media(r) || recd_transcribe_wanted(st, r) != 1)
        return 0;
    int rc = st->ops->transcribe_request_get(st, r->sid, &q);
    if (rc < 0 && rc != RECD_E_NOT_FOUND)
        return rc;
    struct recd_transcribe_req req = {rc == 0 ? q.callback_url : NULL, rc == 0 ? q.callback_method : NULL};
    return recd_transcribe_enqueue(st, r, &req, now_us, sid_out);
}
