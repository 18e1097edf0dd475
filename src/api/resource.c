#include "api/resource.h"

#include "core/time.h"
#include "store/store.h"

#include <stdint.h>
#include <string.h>

#define API_PREFIX "/2010-04-01/Accounts/"

#define REC(field) offsetof(struct recd_recording, field)
#define TRN(field) offsetof(struct recd_transcription, field)

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

const struct recd_resource recd_res_transcription = {
    "Transcription",      "Transcriptions",
    transcription_fields, sizeof transcription_fields / sizeof transcription_fields[0],
    transcription_xml,    sizeof transcription_xml,
};

/* Both record structs begin with sid and account_sid; the URIs need only those. */
static const char *rec_sid(const void *rec)
{
    return (const char *)rec + offsetof(struct recd_recording, sid);
}

static const char *rec_account(const void *rec, const struct recd_resource *res)
{
    size_t off = res == &recd_res_recording ? REC(account_sid) : TRN(account_sid);
    return (const char *)rec + off;
}

static void add_uri(struct recd_buf *b, const struct recd_resource *res, const void *rec, const char *ext)
{
    recd_buf_adds(b, API_PREFIX);
    recd_buf_adds(b, rec_account(rec, res));
    recd_buf_addc(b, '/');
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

/* Renders the value of `f` as JSON (quoted where a string). */
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
