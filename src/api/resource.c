#include "api/resource.h"

#include "core/time.h"
#include "store/store.h"

#include <stdint.h>
#include <string.h>

#define API_PREFIX "/2010-04-01/Accounts/"

#define REC(field) offsetof(struct recd_recording, field)
#define TRN(field) offsetof(struct recd_transcription, field)
#define CAL(field) offsetof(struct recd_call, field)

static const struct recd_field recording_fields[] = {
    {"account_sid", "AccountSid", RECD_F_SID, REC(account_sid), NULL},
    {"api_version", "ApiVersion", RECD_F_CONST, 0, "2010-04-01"},
    {"call_sid", "CallSid", RECD_F_SID, REC(call_sid), NULL},
    {"conference_sid", "ConferenceSid", RECD_F_SID, REC(conference_sid), NULL},
    {"date_created", "DateCreated", RECD_F_DATE, REC(created_us), NULL},
    {"date_updated", "DateUpdated", RECD_F_DATE, REC(updated_us), NULL},
    {"start_time", "StartTime", RECD_F_DATE0, REC(start_us), NULL},
    {"duration", "Duration", RECD_F_REC_SECONDS, REC(duration_ms), NULL},
    {"sid", "Sid", RECD_F_SID, REC(sid), NULL},
    {"price", "Price", RECD_F_NULL, 0, NULL},
    {"price_unit", "PriceUnit", RECD_F_CONST, 0, "USD"},
    {"status", "Status", RECD_F_STR, REC(status), NULL},
    {"channels", "Channels", RECD_F_INT, REC(channels), NULL},
    {"source", "Source", RECD_F_STR, REC(source), NULL},
    {"error_code", "ErrorCode", RECD_F_INT0, REC(error_code), NULL},
    {"uri", "Uri", RECD_F_URI, 0, NULL},
    {"encryption_details", "EncryptionDetails", RECD_F_NULL, 0, NULL},
    {"subresource_uris", "SubresourceUris", RECD_F_SUBRES, 0, NULL},
    {"media_url", "MediaUrl", RECD_F_MEDIA, 0, NULL},
};

/* The seed's XML order first (Sid … Uri), then the newer properties. */
static const unsigned char recording_xml[] = {8, 0,  2,  7,  4,  1,  5,  15, 3, 6,
                                              9, 10, 11, 12, 13, 14, 18, 17, 16};

static const struct recd_field transcription_fields[] = {
    {"account_sid", "AccountSid", RECD_F_SID, TRN(account_sid), NULL},
    {"api_version", "ApiVersion", RECD_F_CONST, 0, "2010-04-01"},
    {"date_created", "DateCreated", RECD_F_DATE, TRN(created_us), NULL},
    {"date_updated", "DateUpdated", RECD_F_DATE, TRN(updated_us), NULL},
    {"duration", "Duration", RECD_F_SECONDS, TRN(duration_ms), NULL},
    {"price", "Price", RECD_F_NULL, 0, NULL},
    {"price_unit", "PriceUnit", RECD_F_CONST, 0, "USD"},
    {"recording_sid", "RecordingSid", RECD_F_SID, TRN(recording_sid), NULL},
    {"sid", "Sid", RECD_F_SID, TRN(sid), NULL},
    {"status", "Status", RECD_F_STR, TRN(status), NULL},
    {"transcription_text", "TranscriptionText", RECD_F_TEXT, 0, NULL},
    {"type", "Type", RECD_F_STR, TRN(type), NULL},
    {"uri", "Uri", RECD_F_URI, 0, NULL},
};

/* Twilio's legacy Transcription XML order. */
static const unsigned char transcription_xml[] = {8, 2, 3, 0, 9, 11, 7, 4, 10, 5, 6, 1, 12};

const struct recd_resource recd_res_recording = {
    "Recording",      "Recordings",
    recording_fields, sizeof recording_fields / sizeof recording_fields[0],
    recording_xml,    sizeof recording_xml,
};

/*
 * A recording of a call as POST /Calls/CA…/Recordings answers it (api.v2010.account.call
 * .call_recording, in the schema's order): a recording row with `track` (RecordingTrack) and
 * without the media fields, rendered from a struct recd_call_recording_view.
 */
static const struct recd_field call_recording_fields[] = {
    {"account_sid", "AccountSid", RECD_F_SID, REC(account_sid), NULL},
    {"api_version", "ApiVersion", RECD_F_CONST, 0, "2010-04-01"},
    {"call_sid", "CallSid", RECD_F_SID, REC(call_sid), NULL},
    {"conference_sid", "ConferenceSid", RECD_F_SID, REC(conference_sid), NULL},
    {"date_created", "DateCreated", RECD_F_DATE, REC(created_us), NULL},
    {"date_updated", "DateUpdated", RECD_F_DATE, REC(updated_us), NULL},
    {"start_time", "StartTime", RECD_F_DATE0, REC(start_us), NULL},
    {"duration", "Duration", RECD_F_REC_SECONDS, REC(duration_ms), NULL},
    {"sid", "Sid", RECD_F_SID, REC(sid), NULL},
    {"price", "Price", RECD_F_NULL, 0, NULL},
    {"uri", "Uri", RECD_F_URI, 0, NULL},
    {"encryption_details", "EncryptionDetails", RECD_F_NULL, 0, NULL},
    {"price_unit", "PriceUnit", RECD_F_CONST, 0, "USD"},
    {"status", "Status", RECD_F_STR, REC(status), NULL},
    {"channels", "Channels", RECD_F_INT, REC(channels), NULL},
    {"source", "Source", RECD_F_STR, REC(source), NULL},
    {"error_code", "ErrorCode", RECD_F_INT0, REC(error_code), NULL},
    {"track", "Track", RECD_F_STR, offsetof(struct recd_call_recording_view, track), NULL},
};

static const unsigned char call_recording_xml[] = {0, 1,  2,  3,  4,  5,  6,  7,  8,
                                                   9, 10, 11, 12, 13, 14, 15, 16, 17};

const struct recd_resource recd_res_call_recording = {
    "Recording",           "Recordings",
    call_recording_fields, sizeof call_recording_fields / sizeof call_recording_fields[0],
    call_recording_xml,    sizeof call_recording_xml,
};

const struct recd_resource recd_res_transcription = {
    "Transcription",      "Transcriptions",
    transcription_fields, sizeof transcription_fields / sizeof transcription_fields[0],
    transcription_xml,    sizeof transcription_xml,
};

/*
 * A call: api.v2010.account.call, in the OpenAPI schema's order, which is also the order of
 * Twilio's legacy <Call> element. `to_formatted` and `from_formatted` repeat `to` and `from`: recd
 * does not format numbers for display (Twilio gives E.164 for numbers outside North America).
 * What recd has no notion of (price, forwarding, groups, trunks) is null; queue_time is "0", an
 * inbound call waits in no queue.
 */
static const struct recd_field call_fields[] = {
    {"sid", "Sid", RECD_F_SID, CAL(sid), NULL},
    {"date_created", "DateCreated", RECD_F_DATE, CAL(created_us), NULL},
    {"date_updated", "DateUpdated", RECD_F_DATE, CAL(updated_us), NULL},
    {"parent_call_sid", "ParentCallSid", RECD_F_SID, CAL(parent_call_sid), NULL},
    {"account_sid", "AccountSid", RECD_F_SID, CAL(account_sid), NULL},
    {"to", "To", RECD_F_STR, CAL(to_addr), NULL},
    {"to_formatted", "ToFormatted", RECD_F_STR, CAL(to_addr), NULL},
    {"from", "From", RECD_F_STR, CAL(from_addr), NULL},
    {"from_formatted", "FromFormatted", RECD_F_STR, CAL(from_addr), NULL},
    {"phone_number_sid", "PhoneNumberSid", RECD_F_SID, CAL(number_sid), NULL},
    {"status", "Status", RECD_F_STR, CAL(status), NULL},
    {"start_time", "StartTime", RECD_F_DATE0, CAL(start_us), NULL},
    {"end_time", "EndTime", RECD_F_DATE0, CAL(end_us), NULL},
    {"duration", "Duration", RECD_F_CALL_SECONDS, CAL(duration_ms), NULL},
    {"price", "Price", RECD_F_NULL, 0, NULL},
    {"price_unit", "PriceUnit", RECD_F_CONST, 0, "USD"},
    {"direction", "Direction", RECD_F_STR, CAL(direction), NULL},
    {"answered_by", "AnsweredBy", RECD_F_STR, CAL(answered_by), NULL},
    {"api_version", "ApiVersion", RECD_F_CONST, 0, "2010-04-01"},
    {"forwarded_from", "ForwardedFrom", RECD_F_NULL, 0, NULL},
    {"group_sid", "GroupSid", RECD_F_NULL, 0, NULL},
    {"caller_name", "CallerName", RECD_F_STR, CAL(caller_name), NULL},
    {"queue_time", "QueueTime", RECD_F_CONST, 0, "0"},
    {"trunk_sid", "TrunkSid", RECD_F_NULL, 0, NULL},
    {"uri", "Uri", RECD_F_URI, 0, NULL},
    {"subresource_uris", "SubresourceUris", RECD_F_CALL_SUBRES, 0, NULL},
};

static const unsigned char call_xml[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                         13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25};

const struct recd_resource recd_res_call = {
    "Call", "Calls", call_fields, sizeof call_fields / sizeof call_fields[0], call_xml, sizeof call_xml,
};

_Static_assert(sizeof call_xml == sizeof call_fields / sizeof call_fields[0], "every call field in XML");
_Static_assert(offsetof(struct recd_call_recording_view, row) == 0, "a view's row fields are a row's");
_Static_assert(offsetof(struct recd_recording, sid) == 0 && offsetof(struct recd_transcription, sid) == 0 &&
                   offsetof(struct recd_call, sid) == 0 && offsetof(struct recd_number, sid) == 0,
               "every record begins with its sid");

/*
 * A number, as `recd number add|list` prints it: the properties of Twilio's IncomingPhoneNumber
 * (api.v2010.account.incoming_phone_number) that recd has, in that schema's order. recd serves no
 * IncomingPhoneNumbers resource, so there is no uri.
 */
#define NUM(field) offsetof(struct recd_number, field)
static const struct recd_field number_fields[] = {
    {"account_sid", "AccountSid", RECD_F_SID, NUM(account_sid), NULL},
    {"api_version", "ApiVersion", RECD_F_CONST, 0, "2010-04-01"},
    {"date_created", "DateCreated", RECD_F_DATE, NUM(created_us), NULL},
    {"date_updated", "DateUpdated", RECD_F_DATE, NUM(updated_us), NULL},
    {"friendly_name", "FriendlyName", RECD_F_STR, NUM(friendly_name), NULL},
    {"phone_number", "PhoneNumber", RECD_F_STR, NUM(phone_number), NULL},
    {"sid", "Sid", RECD_F_SID, NUM(sid), NULL},
    {"status_callback", "StatusCallback", RECD_F_STR, NUM(status_callback), NULL},
    {"status_callback_method", "StatusCallbackMethod", RECD_F_STR, NUM(status_callback_method), NULL},
    {"voice_fallback_method", "VoiceFallbackMethod", RECD_F_STR, NUM(voice_fallback_method), NULL},
    {"voice_fallback_url", "VoiceFallbackUrl", RECD_F_STR, NUM(voice_fallback_url), NULL},
    {"voice_method", "VoiceMethod", RECD_F_STR, NUM(voice_method), NULL},
    {"voice_url", "VoiceUrl", RECD_F_STR, NUM(voice_url), NULL},
};

static const unsigned char number_xml[] = {6, 0, 4, 5, 12, 11, 10, 9, 7, 8, 2, 3, 1};

const struct recd_resource recd_res_number = {
    "IncomingPhoneNumber",
    "IncomingPhoneNumbers",
    number_fields,
    sizeof number_fields / sizeof number_fields[0],
    number_xml,
    sizeof number_xml,
};

/* Every record struct begins with its sid; the URIs need that and the account. */
static const char *rec_sid(const void *rec)
{
    return (const char *)rec;
}

static const char *rec_account(const void *rec, const struct recd_resource *res)
{
    size_t off = res == &recd_res_recording || res == &recd_res_call_recording ? REC(account_sid)
                 : res == &recd_res_call                                       ? CAL(account_sid)
                 : res == &recd_res_number                                     ? NUM(account_sid)
                                                                               : TRN(account_sid);
    return (const char *)rec + off;
}

/* A call's duration: Twilio leaves it empty until the call has completed, and for calls that
 * never were (busy, failed, no-answer, canceled). */
static int call_has_duration(const void *rec)
{
    const struct recd_call *c = rec;
    return c->end_us && strcmp(c->status, RECD_CALL_COMPLETED) == 0;
}

static void add_uri(struct recd_buf *b, const struct recd_resource *res, const void *rec, const char *ext)
{
    recd_buf_adds(b, API_PREFIX);
    recd_buf_adds(b, rec_account(rec, res));
    recd_buf_addc(b, '/');
    if (res == &recd_res_call_recording) { /* Twilio names it under its call */
        recd_buf_adds(b, "Calls/");
        recd_buf_adds(b, ((const struct recd_recording *)rec)->call_sid);
        recd_buf_addc(b, '/');
    }
    recd_buf_adds(b, res->collection);
    recd_buf_addc(b, '/');
    recd_buf_adds(b, rec_sid(rec));
    recd_buf_adds(b, ext);
}

static void add_seconds(struct recd_buf *b, int64_t ms)
{
    recd_buf_addi(b, (ms + 500) / 1000);
}

/* A recording's duration: Twilio shows "-1" until the recording has ended. */
static void add_rec_seconds(struct recd_buf *b, const struct recd_recording *r)
{
    if (recd_recording_in_progress(r))
        recd_buf_adds(b, "-1");
    else
        add_seconds(b, r->duration_ms);
}

/* Only a recording that has media has a media URL (RECD_F_MEDIA is a recording's field). */
static int has_media_url(const void *rec)
{
    return ((const struct recd_recording *)rec)->media_size > 0;
}

/* Renders the value of `f` as JSON (quoted where a string). Long because it is one switch over
 * every field kind of the field tables, each arm a line or two. */
static void json_value(struct recd_buf *b, const struct recd_field *f, const struct recd_resource *res,
                       const void *rec, const struct recd_render_ctx *rc)
{
    const char *base = rec;
    char tmp[32];
    switch (f->kind) {
    case RECD_F_STR: {
        const char *s = base + f->off;
        if (*s)
            recd_buf_json_str(b, recd_str_c(s));
        else
            recd_buf_adds(b, "null");
        break;
    }
    case RECD_F_SID: {
        const char *s = base + f->off;
        if (*s) {
            recd_buf_addc(b, '"');
            recd_buf_add(b, s, RECD_SID_LEN);
            recd_buf_addc(b, '"');
        } else {
            recd_buf_adds(b, "null");
        }
        break;
    }
    case RECD_F_DATE0:
        if (*(const int64_t *)(base + f->off) == 0) {
            recd_buf_adds(b, "null");
            break;
        }
        /* fall through */
    case RECD_F_DATE: {
        size_t n = recd_time_rfc2822(*(const int64_t *)(base + f->off), tmp);
        recd_buf_addc(b, '"');
        recd_buf_add(b, tmp, n);
        recd_buf_addc(b, '"');
        break;
    }
    case RECD_F_SECONDS:
        recd_buf_addc(b, '"');
        add_seconds(b, *(const int64_t *)(base + f->off));
        recd_buf_addc(b, '"');
        break;
    case RECD_F_REC_SECONDS:
        recd_buf_addc(b, '"');
        add_rec_seconds(b, rec);
        recd_buf_addc(b, '"');
        break;
    case RECD_F_INT0:
        if (*(const int *)(base + f->off) == 0) {
            recd_buf_adds(b, "null");
            break;
        }
        /* fall through */
    case RECD_F_INT: recd_buf_addi(b, *(const int *)(base + f->off)); break;
    case RECD_F_CONST: recd_buf_json_str(b, recd_str_c(f->konst)); break;
    case RECD_F_NULL: recd_buf_adds(b, "null"); break;
    case RECD_F_URI:
        recd_buf_addc(b, '"');
        add_uri(b, res, rec, ".json");
        recd_buf_addc(b, '"');
        break;
    case RECD_F_MEDIA:
        if (!has_media_url(rec)) {
            recd_buf_adds(b, "null");
            break;
        }
        /* The base URL is configuration, not ours: escaped like any other string. */
        recd_buf_addc(b, '"');
        recd_buf_json_esc(b, recd_str_c(rc->base_url));
        add_uri(b, res, rec, "");
        recd_buf_addc(b, '"');
        break;
    case RECD_F_SUBRES:
        recd_buf_adds(b, "{\"add_on_results\":\"");
        add_uri(b, res, rec, "/AddOnResults.json");
        recd_buf_adds(b, "\",\"transcriptions\":\"");
        add_uri(b, res, rec, "/Transcriptions.json");
        recd_buf_adds(b, "\"}");
        break;
    case RECD_F_CALL_SECONDS:
        if (!call_has_duration(rec)) {
            recd_buf_adds(b, "null");
            break;
        }
        recd_buf_addc(b, '"');
        add_seconds(b, *(const int64_t *)(base + f->off));
        recd_buf_addc(b, '"');
        break;
    case RECD_F_CALL_SUBRES:
        recd_buf_adds(b, "{\"recordings\":\"");
        add_uri(b, res, rec, "/Recordings.json");
        recd_buf_adds(b, "\"}");
        break;
    case RECD_F_TEXT: {
        const struct recd_transcription *t = rec;
        if (t->text_null)
            recd_buf_adds(b, "null");
        else
            recd_buf_json_str(b, (struct recd_str){t->text, t->text_len});
        break;
    }
    }
}

void recd_render_json(struct recd_buf *b, const struct recd_resource *res, const void *rec,
                      const struct recd_render_ctx *rc)
{
    recd_buf_reserve(b, 1024);
    recd_buf_addc(b, '{');
    for (size_t i = 0; i < res->nfields; i++) {
        const struct recd_field *f = &res->fields[i];
        if (i)
            recd_buf_addc(b, ',');
        recd_buf_addc(b, '"');
        recd_buf_adds(b, f->json);
        recd_buf_adds(b, "\":");
        json_value(b, f, res, rec, rc);
    }
    recd_buf_addc(b, '}');
}

static void xml_value(struct recd_buf *b, const struct recd_field *f, const struct recd_resource *res,
                      const void *rec, const struct recd_render_ctx *rc)
{
    const char *base = rec;
    char tmp[32];
    switch (f->kind) {
    case RECD_F_STR: recd_buf_xml_text(b, recd_str_c(base + f->off)); break;
    case RECD_F_SID:
        if (base[f->off])
            recd_buf_add(b, base + f->off, RECD_SID_LEN);
        break;
    case RECD_F_DATE0:
        if (*(const int64_t *)(base + f->off) == 0)
            break;
        /* fall through */
    case RECD_F_DATE: {
        size_t n = recd_time_rfc2822(*(const int64_t *)(base + f->off), tmp);
        recd_buf_add(b, tmp, n);
        break;
    }
    case RECD_F_SECONDS: add_seconds(b, *(const int64_t *)(base + f->off)); break;
    case RECD_F_REC_SECONDS: add_rec_seconds(b, rec); break;
    case RECD_F_INT0:
        if (*(const int *)(base + f->off) == 0)
            break;
        /* fall through */
    case RECD_F_INT: recd_buf_addi(b, *(const int *)(base + f->off)); break;
    case RECD_F_CONST: recd_buf_xml_text(b, recd_str_c(f->konst)); break;
    case RECD_F_NULL: break;
    case RECD_F_URI: add_uri(b, res, rec, ".xml"); break;
    case RECD_F_MEDIA:
        if (!has_media_url(rec))
            break;
        recd_buf_xml_text(b, recd_str_c(rc->base_url));
        add_uri(b, res, rec, "");
        break;
    case RECD_F_SUBRES:
        recd_buf_adds(b, "<Transcriptions>");
        add_uri(b, res, rec, "/Transcriptions.json");
        recd_buf_adds(b, "</Transcriptions><AddOnResults>");
        add_uri(b, res, rec, "/AddOnResults.json");
        recd_buf_adds(b, "</AddOnResults>");
        break;
    case RECD_F_CALL_SECONDS:
        if (call_has_duration(rec))
            add_seconds(b, *(const int64_t *)(base + f->off));
        break;
    case RECD_F_CALL_SUBRES:
        recd_buf_adds(b, "<Recordings>");
        add_uri(b, res, rec, "/Recordings.json");
        recd_buf_adds(b, "</Recordings>");
        break;
    case RECD_F_TEXT: {
        const struct recd_transcription *t = rec;
        if (!t->text_null)
            recd_buf_xml_text(b, (struct recd_str){t->text, t->text_len});
        break;
    }
    }
}

void recd_render_xml(struct recd_buf *b, const struct recd_resource *res, const void *rec,
                     const struct recd_render_ctx *rc)
{
    recd_buf_reserve(b, 1536);
    recd_buf_addc(b, '<');
    recd_buf_adds(b, res->xml_elem);
    recd_buf_addc(b, '>');
    for (size_t i = 0; i < res->nxml; i++) {
        const struct recd_field *f = &res->fields[res->xml_order[i]];
        recd_buf_addc(b, '<');
        recd_buf_adds(b, f->xml);
        size_t before = b->len;
        recd_buf_addc(b, '>');
        xml_value(b, f, res, rec, rc);
        if (b->len == before + 1) {
            /* An empty value is an empty element. */
            b->len = before;
            recd_buf_adds(b, "/>");
        } else {
            recd_buf_adds(b, "</");
            recd_buf_adds(b, f->xml);
            recd_buf_addc(b, '>');
        }
    }
    recd_buf_adds(b, "</");
    recd_buf_adds(b, res->xml_elem);
    recd_buf_addc(b, '>');
}
