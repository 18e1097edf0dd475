#ifndef RECD_API_ROUTE_H
#define RECD_API_ROUTE_H

#include "core/buf.h"
#include "core/sid.h"

#include <stddef.h>

/** Every resource path of contract §1. */
enum recd_route_kind {
    RECD_R_NONE = 0,
    RECD_R_RECORDINGS,         /* /Recordings */
    RECD_R_RECORDING,          /* /Recordings/RE… */
    RECD_R_REC_TRANSCRIPTIONS, /* /Recordings/RE…/Transcriptions */
    RECD_R_REC_TRANSCRIPTION,  /* /Recordings/RE…/Transcriptions/TR… */
    RECD_R_REC_ADDONS,         /* /Recordings/RE…/AddOnResults */
    RECD_R_CALL_RECORDINGS,    /* /Calls/CA…/Recordings */
    RECD_R_CALL_RECORDING,     /* /Calls/CA…/Recordings/RE… */
    RECD_R_CONF_RECORDINGS,    /* /Conferences/CF…/Recordings */
    RECD_R_CONF_RECORDING,     /* /Conferences/CF…/Recordings/RE… */
    RECD_R_TRANSCRIPTIONS,     /* /Transcriptions */
    RECD_R_TRANSCRIPTION,      /* /Transcriptions/TR… */
    RECD_R_CALLS,              /* /Calls */
    RECD_R_CALL,               /* /Calls/CA… */
};

/** The representation asked for by the path's extension. */
enum recd_ext { RECD_EXT_NONE = 0, RECD_EXT_JSON, RECD_EXT_XML, RECD_EXT_WAV, RECD_EXT_MP3, RECD_EXT_TXT };

struct recd_route {
    enum recd_route_kind kind;
    enum recd_ext ext;
    int is_list;
    int is_recording_instance; /* a recording instance, at any of its three paths */
    char account_sid[RECD_SID_LEN + 1];
    char call_sid[RECD_SID_LEN + 1];       /* "" unless in the path */
    char conference_sid[RECD_SID_LEN + 1]; /* "" unless in the path */
    char recording_sid[RECD_SID_LEN + 1];  /* "" unless in the path */
    char transcription_sid[RECD_SID_LEN + 1];
    /* The path without its extension, for building list URIs ("/2010-04-01/…/Recordings"). */
    struct recd_str base;
};

/**
 * Matches a raw request path (not percent-decoded: no sid or keyword needs escaping, so an
 * escaped path is simply not one of ours). Every sid must be well-formed for its place, and the
 * extension must be one the resource has (contract §1). Returns 0 and fills *r, or
 * RECD_E_NOT_FOUND. `r->ext` is also set on failure where it could be read, so the 404 body
 * can be JSON for a `.json` request.
 */
int recd_route_match(const char *path, size_t n, struct recd_route *r);

/**
 * The matched route as a template, the sids named rather than given:
 * "/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.mp3". Static storage; NULL when
 * `r` matched nothing. The metrics label requests with it (never with a path).
 */
const char *recd_route_template(const struct recd_route *r);

#endif
