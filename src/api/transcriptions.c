#include "api/api_internal.h"
#include "core/error.h"

#include <string.h>

/* A transcription instance: JSON, XML, or its text alone (.txt), and DELETE. */

#define CT_TEXT "text/plain; charset=utf-8"

static void render_transcription(struct call *c, const struct recd_transcription *t)
{
    struct recd_buf *b = &c->rs->body;
    switch (c->rt.ext) {
    case RECD_EXT_JSON:
        recd_call_ok(c, RECD_CT_JSON);
        recd_render_json(b, &recd_res_transcription, t, &c->rc);
        break;
    case RECD_EXT_TXT:
        recd_call_ok(c, CT_TEXT);
        if (!t->text_null)
            recd_buf_add(b, t->text, t->text_len);
        break;
    default:
        recd_call_ok(c, RECD_CT_XML);
        recd_call_begin_xml(b);
        recd_render_xml(b, &recd_res_transcription, t, &c->rc);
        recd_buf_adds(b, "</TwilioResponse>");
        break;
    }
}

void recd_transcription_serve(struct call *c)
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
