#include "api/api_internal.h"
#include "core/error.h"
#include "core/time.h"

#include <stdio.h>
#include <string.h>

/*
 * Live-call recording (contract §7): POST /Calls/CA…/Recordings starts recording a call this
 * server is running, POST /Calls/CA…/Recordings/RE… (or Twilio.CURRENT) pauses, resumes or stops
 * it. The API knows nothing of SIP: the command goes to whoever runs calls through
 * recd_request.live (src/serve wires the call engine there). Parameters are Twilio's
 * (api.v2010 CreateCallRecording, UpdateCallRecording); values Twilio does not document are 400.
 */

/* The form body, parsed like a query string (same encoding). */
static int parse_form(struct call *c, struct recd_query *form)
{
    if (recd_query_parse(form, c->rq->body.p ? c->rq->body.p : "", c->rq->body.n) < 0) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "malformed form body");
        return RECD_E_BAD_PARAM;
    }
    return 0;
}

static int is(const struct recd_str *v, const char *lit)
{
    return v && recd_str_eq(*v, lit);
}

/* RecordingStatusCallbackEvent: "in-progress completed absent", separated by spaces or commas. */
static int parse_events(const struct recd_str *v, unsigned *out)
{
    *out = 0;
    size_t i = 0;
    while (i < v->n) {
        while (i < v->n && (v->p[i] == ' ' || v->p[i] == ','))
            i++;
        size_t j = i;
        while (j < v->n && v->p[j] != ' ' && v->p[j] != ',')
            j++;
        struct recd_str w = {v->p + i, j - i};
        if (w.n == 0)
            break;
        if (recd_str_eq(w, "in-progress"))
            *out |= 1;
        else if (recd_str_eq(w, "completed"))
            *out |= 2;
        else if (recd_str_eq(w, "absent"))
            *out |= 4;
        else
            return -1;
        i = j;
    }
    return 0;
}

/* Start's parameters into `lr`; on a bad one the 400 is set and a negative code returned. */
static int start_params(struct call *c, const struct recd_query *f, struct recd_live_recording *lr, char *cb,
                        size_t cb_cap)
{
    const struct recd_str *v;
    lr->trim = 0; /* Twilio's default for API recordings: do-not-trim */
    if ((v = recd_query_get(f, "Trim")) && !is(v, "trim-silence") && !is(v, "do-not-trim")) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "Trim must be trim-silence or do-not-trim");
        return RECD_E_BAD_PARAM;
    }
    lr->trim = is(v, "trim-silence");
    if ((v = recd_query_get(f, "RecordingChannels")) && !is(v, "mono") && !is(v, "dual")) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "RecordingChannels must be mono or dual");
        return RECD_E_BAD_PARAM;
    }
    lr->channels = is(v, "dual") ? 2 : 1;
    if ((v = recd_query_get(f, "RecordingTrack")) && !is(v, "inbound") && !is(v, "outbound") &&
        !is(v, "both")) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "RecordingTrack must be inbound, outbound or both");
        return RECD_E_BAD_PARAM;
    }
    lr->track = is(v, "inbound") ? 0 : is(v, "outbound") ? 1 : 2; /* Twilio's default: both */
    if (lr->track != 2)
        lr->channels = 1; /* one side is one channel, whatever RecordingChannels says */
    if ((v = recd_query_get(f, "RecordingStatusCallbackMethod")) && !is(v, "GET") && !is(v, "POST")) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "RecordingStatusCallbackMethod must be GET or POST");
        return RECD_E_BAD_PARAM;
    }
    lr->callback_get = is(v, "GET");
    /* The helper libraries repeat the parameter once per event; people also write one list. */
    lr->events = 0;
    for (int i = 0; i < f->n; i++) {
        unsigned ev;
        if (!recd_str_eq(f->key[i], "RecordingStatusCallbackEvent"))
            continue;
        if (parse_events(&f->val[i], &ev) < 0) {
            recd_call_fail(c, RECD_E_BAD_PARAM,
                           "RecordingStatusCallbackEvent takes in-progress, completed, absent");
            return RECD_E_BAD_PARAM;
        }
        lr->events |= ev;
    }
    if ((v = recd_query_get(f, "RecordingStatusCallback")) && v->n) {
        if (v->n >= cb_cap || (strncmp(v->p, "http://", 7) != 0 && strncmp(v->p, "https://", 8) != 0) ||
            memchr(v->p, ' ', v->n)) {
            recd_call_fail(c, RECD_E_BAD_PARAM, "RecordingStatusCallback must be an absolute http(s) URL");
            return RECD_E_BAD_PARAM;
        }
        memcpy(cb, v->p, v->n);
        cb[v->n] = '\0';
        lr->callback = cb;
    }
    return 0;
}

static int update_params(struct call *c, const struct recd_query *f, struct recd_live_recording *lr)
{
    const struct recd_str *v = recd_query_get(f, "Status");
    if (is(v, "paused"))
        lr->cmd = 1;
    else if (is(v, "in-progress"))
        lr->cmd = 2;
    else if (is(v, "stopped"))
        lr->cmd = 3;
    else {
        recd_call_fail(c, RECD_E_BAD_PARAM, "Status must be paused, in-progress or stopped");
        return RECD_E_BAD_PARAM;
    }
    v = recd_query_get(f, "PauseBehavior");
    if (v && !is(v, "skip") && !is(v, "silence")) {
        recd_call_fail(c, RECD_E_BAD_PARAM, "PauseBehavior must be skip or silence");
        return RECD_E_BAD_PARAM;
    }
    lr->skip = is(v, "skip");
    return 0;
}

void recd_call_recordings_post(struct call *c)
{
    struct recd_account acc;
    if (recd_call_authorize(c, &acc) < 0)
        return;
    if (!c->rq->live) {
        /* This server runs no calls, so none of its calls is in progress. */
        recd_call_fail(c, RECD_E_CALL_STATE, "");
        return;
    }
    struct recd_query form;
    if (parse_form(c, &form) < 0)
        return;
    struct recd_live_recording lr = {.account_sid = c->rt.account_sid, .call_sid = c->rt.call_sid};
    char cb[1025];
    int starting = c->rt.kind == RECD_R_CALL_RECORDINGS;
    if (starting ? start_params(c, &form, &lr, cb, sizeof cb) < 0 : update_params(c, &form, &lr) < 0)
        return;
    if (!starting)
        lr.recording_sid = c->rt.recording_sid[0] ? c->rt.recording_sid : "Twilio.CURRENT";
    int rc = c->rq->live(c->rq->live_arg, &lr);
    if (rc == RECD_E_NOT_FOUND && starting)
        rc =
            c->st->ops->call_get(c->st, c->rt.call_sid, &(struct recd_call){0}) == 0 ? RECD_E_CALL_STATE : rc;
    if (rc < 0) {
        recd_call_fail(c, rc, rc == RECD_E_NOT_FOUND ? NULL : "");
        return;
    }
    /* The recorder writes the row in its own time: answer from what is known now. */
    static const char *const tracks[] = {"inbound", "outbound", "both"};
    struct recd_call_recording_view view;
    struct recd_recording r;
    memset(&r, 0, sizeof r);
    snprintf(r.sid, sizeof r.sid, "%s", lr.sid);
    snprintf(r.account_sid, sizeof r.account_sid, "%s", c->rt.account_sid);
    snprintf(r.call_sid, sizeof r.call_sid, "%s", c->rt.call_sid);
    snprintf(r.source, sizeof r.source, "StartCallRecordingAPI");
    static const char *const status[] = {"in-progress", "paused", "in-progress", "stopped"};
    snprintf(r.status, sizeof r.status, "%s", status[starting ? 0 : lr.cmd]);
    struct recd_recording row;
    int64_t now = c->rq->now_us;
    r.channels = starting ? lr.channels : 1;
    if (c->st->ops->recording_get(c->st, lr.sid, &row) == 0) {
        r.created_us = row.created_us;
        r.start_us = row.start_us;
        r.channels = row.channels;
    } else {
        r.created_us = now;
        r.start_us = now;
    }
    r.updated_us = now;
    view.row = r;
    snprintf(view.track, sizeof view.track, "%s", tracks[lr.track >= 0 && lr.track <= 2 ? lr.track : 2]);
    struct recd_buf *b = &c->rs->body;
    if (c->json) {
        recd_call_ok(c, RECD_CT_JSON);
        recd_render_json(b, &recd_res_call_recording, &view, &c->rc);
    } else {
        recd_call_ok(c, RECD_CT_XML);
        recd_call_begin_xml(b);
        recd_render_xml(b, &recd_res_call_recording, &view, &c->rc);
        recd_buf_adds(b, "</TwilioResponse>");
    }
    if (starting)
        c->rs->status = 201;
}
