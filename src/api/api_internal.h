#ifndef RECD_API_API_INTERNAL_H
#define RECD_API_API_INTERNAL_H

#include "api/api.h"
#include "api/cache.h"
#include "api/resource.h"
#include "api/route.h"
#include "core/query.h"
#include "store/store.h"

/*
 * What the API's handler files share: one request's state and the steps every handler takes
 * (credentials, errors, the page cache). Not for use outside src/api.
 */

#define RECD_CT_JSON "application/json"
#define RECD_CT_XML  "application/xml"

/* Everything one request's handlers share. */
struct call {
    const struct recd_request *rq;
    struct recd_response *rs;
    struct recd_route rt;
    /* This worker's cache once checked against the store's version (NULL: none); the version is
     * read at most once a request. */
    struct recd_api_cache *cache;
    int cache_checked;
    struct recd_query qs;
    struct recd_store *st;
    struct recd_render_ctx rc;
    int json;
    size_t plen; /* length of the path in rq->target */
};

/** Sets the error `err` on the response; internals are never put in its message. */
void recd_call_fail(struct call *c, int err, const char *detail);

/** Loads the path's account into *acc and checks the credentials for it; on failure the
 *  response is set and a negative code returned. */
int recd_call_authorize(struct call *c, struct recd_account *acc);

/** Status 200 with content type `ct`. */
void recd_call_ok(struct call *c, const char *ct);

/**
 * Serves the request from this worker's page cache when it holds a rendering of the same
 * target made since the last change to the store, and returns 1. Otherwise returns 0 and sets
 * *cache to the cache the caller should fill once it has rendered (NULL when there is none).
 */
int recd_call_from_cache(struct call *c, struct recd_api_cache **cache);

/** This worker's cache, emptied first if the store changed since its entries were made (the
 *  version is read once a request); NULL when there is none. */
struct recd_api_cache *recd_call_cache(struct call *c);

/** Looks `key` up in this worker's current cache; sets *cache to the cache to fill on a miss (NULL
 *  when there is none). The entry's bytes and content type on a hit, else NULL. */
const char *recd_call_cache_lookup(struct call *c, struct recd_api_cache **cache, const char *key,
                                   size_t key_len, size_t *len, const char **ct);

/** Keeps the response body rendered for this target in `cache` (NULL: nothing to do). */
void recd_call_cache_fill(struct call *c, struct recd_api_cache *cache);

static inline void recd_call_begin_xml(struct recd_buf *b)
{
    recd_buf_adds(b, RECD_XML_DECL "<TwilioResponse>");
}

/** A recording instance at any of its paths: metadata, media, DELETE (src/api/recordings.c). */
void recd_recording_serve(struct call *c);

/** Answers a media request's conditional and Range headers for the file `fd` of `size` bytes, last
 *  modified at `lm_s`, whose ETag is already on the response; takes ownership of `fd`
 *  (src/api/recordings.c). */
void recd_call_send_file(struct call *c, int fd, int64_t size, int64_t lm_s);

/** recd's own endpoints under /recd/ (contract §10): routing, methods, credentials
 *  (src/api/recd_api.c). */
void recd_ext_serve(struct call *c);

/** GET|HEAD …/Recordings/RE…/Peaks.json (`json`) or Peaks.dat of `r`, once authorized
 *  (src/api/recd_peaks.c). */
void recd_peaks_serve(struct call *c, const struct recd_recording *r, int json);

/** POST …/Recordings/RE…/Links for `r`, once authorized (src/api/recd_links.c). */
void recd_links_post(struct call *c, const struct recd_recording *r);

/** A transcription instance (src/api/transcriptions.c). */
void recd_transcription_serve(struct call *c);

/** POST /Calls/CA…/Recordings and /Calls/CA…/Recordings/RE…: live-call recording
 *  (src/api/call_recordings.c). */
void recd_call_recordings_post(struct call *c);

/** A call instance: GET and DELETE (src/api/calls.c). */
void recd_call_resource_serve(struct call *c);

/** What differs between one list resource and another (src/api/list.c). */
struct recd_list_kind {
    const struct recd_resource *res; /* how an item renders */
    const char *json_key;            /* the JSON array: "recordings" */
    const char *xml_elem;            /* the legacy XML list element: "Recordings" */
    /* Fill a page / count the matches of a query; NULL for a list that is always empty. */
    int (*page)(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg);
    int (*count)(struct recd_store *st, const struct recd_list_query *q, int64_t *n);
};

extern const struct recd_list_kind recd_list_recordings;
extern const struct recd_list_kind recd_list_transcriptions;
extern const struct recd_list_kind recd_list_add_on_results;
extern const struct recd_list_kind recd_list_calls; /* src/api/calls.c */

/** Answers a list request: credentials, parameters, the page, and its JSON or XML envelope. */
void recd_list_serve(struct call *c, const struct recd_list_kind *kind);

#endif
