#ifndef RECD_API_RESOURCE_H
#define RECD_API_RESOURCE_H

#include "core/buf.h"
#include "store/store.h"

#include <stddef.h>

/*
 * One field table per resource: each row names a property in JSON (snake_case, the OpenAPI
 * schema's order) and in XML (PascalCase), says how to render it, and where its value lives in
 * the store's struct. The JSON and XML renderers below are driven entirely by these tables.
 */

enum recd_field_kind {
    RECD_F_STR,     /* char[] in the struct; "" renders as null */
    RECD_F_SID,     /* a sid (char[]), checked by the store on the way in: needs no escaping; "" is null */
    RECD_F_DATE,    /* int64 µs; rendered RFC 2822 */
    RECD_F_DATE0,   /* int64 µs; 0 renders as null */
    RECD_F_SECONDS, /* int64 ms; rendered as a string of whole seconds, rounded to nearest */
    RECD_F_REC_SECONDS,  /* a recording's duration: RECD_F_SECONDS, but "-1" while in progress (as Twilio) */
    RECD_F_INT,          /* int */
    RECD_F_INT0,         /* int; 0 renders as null */
    RECD_F_CONST,        /* a constant string */
    RECD_F_NULL,         /* always null */
    RECD_F_URI,          /* the resource's own URI, with the representation's extension */
    RECD_F_MEDIA,        /* absolute media URL: base URL + URI without extension; null while a recording
                            has no media (in progress, absent, failed: media_size 0) */
    RECD_F_SUBRES,       /* subresource_uris of a recording */
    RECD_F_TEXT,         /* a transcription's text (pointer + length + null flag) */
    RECD_F_CALL_SECONDS, /* a call's duration: whole seconds once it has ended, else null (as Twilio) */
    RECD_F_CALL_SUBRES,  /* subresource_uris of a call */
};

struct recd_field {
    const char *json;
    const char *xml;
    enum recd_field_kind kind;
    size_t off;        /* offset of the value in the struct */
    const char *konst; /* RECD_F_CONST */
};

struct recd_resource {
    const char *xml_elem;   /* "Recording" */
    const char *collection; /* path segment of the instance URI: "Recordings" */
    const struct recd_field *fields;
    size_t nfields;
    const unsigned char *xml_order; /* indices into `fields`, in the legacy XML order */
    size_t nxml;
};

extern const struct recd_resource recd_res_recording;
extern const struct recd_resource recd_res_transcription;
extern const struct recd_resource recd_res_call;
extern const struct recd_resource recd_res_call_recording; /* POST /Calls/CA…/Recordings answers */

/** What recd_res_call_recording renders: the row, and the track the request asked for (the store
 * keeps no track: it shows in these answers only, as in Twilio's call recording resource). */
struct recd_call_recording_view {
    struct recd_recording row; /* first: the recording's fields are found as in a bare row */
    char track[9];             /* "inbound", "outbound", "both" */
};
extern const struct recd_resource recd_res_number; /* for the command line: recd serves no such resource */

/** What a renderer needs besides the record: the server's public base URL ("http://host:port"). */
struct recd_render_ctx {
    const char *base_url;
};

/** Appends `rec` (a struct recd_recording / recd_transcription / recd_call as `res` says) as a JSON
 * object. */
void recd_render_json(struct recd_buf *b, const struct recd_resource *res, const void *rec,
                      const struct recd_render_ctx *rc);

/** Appends `rec` as its XML element (`<Recording>…</Recording>`), without the XML declaration. */
void recd_render_xml(struct recd_buf *b, const struct recd_resource *res, const void *rec,
                     const struct recd_render_ctx *rc);

#define RECD_XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

#endif
