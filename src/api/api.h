#ifndef RECD_API_API_H
#define RECD_API_API_H

#include "api/cache.h"
#include "api/limiter.h"
#include "core/buf.h"
#include "media/blob.h"
#include "service/audit.h"
#include "store/store.h"

#include <stdint.h>

/*
 * The REST API, independent of any HTTP library: a parsed request in, a response out. The HTTP
 * adapter (src/http) fills a recd_request from the wire and sends the recd_response back.
 */

enum recd_method {
    RECD_M_OTHER = 0,
    RECD_M_GET,
    RECD_M_HEAD,
    RECD_M_DELETE,
    RECD_M_POST,
    RECD_M_PUT,
    RECD_M_OPTIONS
};

/** A live-call recording command (POST /Calls/CA…/Recordings[/RE…]), for whoever runs calls. */
struct recd_live_recording {
    const char *account_sid, *call_sid;
    const char *recording_sid; /* NULL to start one; a sid or "Twilio.CURRENT" to update one */
    int cmd;                   /* when updating: 1 pause, 2 resume, 3 stop (as enum recd_engine_live_cmd) */
    int skip;                  /* PauseBehavior=skip */
    const char *callback;      /* RecordingStatusCallback, or NULL */
    int callback_get;
    unsigned events; /* RecordingStatusCallbackEvent: 1 in-progress, 2 completed, 4 absent */
    int trim;        /* Trim=trim-silence */
    int channels;    /* RecordingChannels: 1 mono, 2 dual */
    int track;       /* RecordingTrack: 0 inbound, 1 outbound, 2 both; out too, the recording's */
    char sid[35];    /* out: the recording acted on */
};

/**
 * Runs a live-call recording command; 0 (or a slot number) or a negative RECD_E_* (NOT_FOUND: no
 * such live call; CALL_STATE: not in progress).
 */
typedef int (*recd_live_recording_fn)(void *arg, struct recd_live_recording *lr);

struct recd_request {
    /* From the wire, filled by the HTTP adapter. */
    enum recd_method method;
    struct recd_str target;    /* raw request target: path and query, as received */
    const char *authorization; /* the Authorization header, or NULL */
    /* Looks up a request header by name (case-insensitive); NULL when absent. */
    const char *(*header)(const struct recd_request *rq, const char *name);
    void *conn;               /* the adapter's handle, for `header` */
    int64_t now_us;           /* when the request arrived (µs), for the limiter */
    int64_t now_s;            /* the same in seconds, for signed-link expiry */
    unsigned char client[16]; /* the client's address bytes, for the limiter */
    size_t client_len;
    /* An application/x-www-form-urlencoded body as received (not decoded), at most 64 KiB;
     * {NULL, 0} for none. Other bodies are never read. */
    struct recd_str body;

    /* What the API works with, filled by whoever runs it (src/serve): the worker thread's own. */
    struct recd_store *store;      /* this thread's store handle */
    struct recd_blob *blob;        /* the media */
    const unsigned char *seal_key; /* 32 bytes: opens the sealed secrets signed links are checked with */
    const char *base_url;          /* public base URL, "http://127.0.0.1:8080", no trailing '/' */
    struct recd_limiter *limiter;  /* failed-auth limiter, or NULL for none */
    struct recd_api_cache *cache;  /* this worker's cache of rendered list pages, or NULL */
    recd_live_recording_fn live;   /* calls this server runs (recd serve --sip), or NULL */
    void *live_arg;
    int audit; /* 1: note in recd_response.audit what the audit record needs (service/audit.h) */
};

struct recd_response {
    int status;
    const char *content_type; /* static string */
    struct recd_buf body;     /* owned; used when fd < 0 and there is no shared body */
    const char *shared;       /* a page-cache body sent as it is (no copy), or NULL */
    size_t shared_len;
    struct recd_api_cache_ref *shared_ref; /* owned reference that keeps `shared` alive */
    int fd;                                /* media: an open file to send (owned), or -1 */
    int64_t fd_offset;                     /* media: first byte to send (a Range) */
    int64_t fd_size;                       /* media: bytes to send from fd_offset */
    int accept_ranges;                     /* add Accept-Ranges: bytes */
    char etag[80];                         /* ETag value (quoted), or "" */
    char last_modified[32];                /* Last-Modified value, or "" */
    char content_range[80];                /* Content-Range value, or "" */
    int64_t retry_after;                   /* Retry-After seconds, or 0 */
    const char *allow;                     /* the Allow header, for 405 and OPTIONS */
    int www_authenticate;                  /* add WWW-Authenticate: Basic realm="Twilio API" */
    int cors_preflight;                    /* add the CORS preflight headers */
    char disposition[64];                  /* Content-Disposition value, or "" */
    /* More header lines, each ending in "\r\n", or NULL: a static string (the console's security
     * and cache headers), at most RECD_RESPONSE_HEADERS_MAX bytes. */
    const char *headers;
    /* The route template the request matched ("/2010-04-01/Accounts/{AccountSid}/Recordings.json"),
     * static storage, for the metrics' route label; NULL when none did. Never a path. */
    const char *route;
    /* With recd_request.audit: the media fetch, delete or credential check to record, if any. */
    struct recd_audit_note audit;
};

/** The most bytes recd_response.headers may hold, so that every response head fits. */
#define RECD_RESPONSE_HEADERS_MAX 512

/** Prepares `rs` to be filled (status 500, empty body, no fd). */
void recd_response_init(struct recd_response *rs);

/** Releases what `rs` owns (the body, the fd). */
void recd_response_free(struct recd_response *rs);

/** Handles one request. Never fails: every outcome, errors included, is a response. */
void recd_api_handle(const struct recd_request *rq, struct recd_response *rs);

/**
 * Fills `rs` with the error `err` (a RECD_E_* code) as a Twilio error body, JSON when `json`,
 * else XML; `detail` fills the message's %s (NULL for none).
 */
void recd_api_error(struct recd_response *rs, int err, int json, const char *detail);

#endif
