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

int recd_transcribe_enqueue(struct recd_store *st, const struct recd_recording *r,
                            const struct recd_transcribe_req *req, int64_t now_us,
                            char sid_out[RECD_SID_LEN + 1])
{
    struct recd_transcription t;
    struct recd_transcription_job j;
    const char *url = req && req->callback_url ? req->callback_url : "";
    const char *method = req && req->callback_method ? req->callback_method : "POST";
    if (url[0] && recd_url_check(url, strlen(url)) < 0)
        return RECD_E_BAD_INPUT;
    if (strcasecmp(method, "POST") != 0 && strcasecmp(method, "GET") != 0)
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
