#ifndef RECD_STORE_STORE_H
#define RECD_STORE_STORE_H

#include "core/buf.h"
#include "core/sid.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The metadata store: accounts, API keys, recordings and transcriptions. One interface, a
 * table of function pointers, so that SQLite (now) and PostgreSQL (later) are interchangeable
 * and pass the same contract tests (tests/unit/test_store.c).
 *
 * A handle is used by one thread at a time; the HTTP server opens one per worker thread.
 * Several processes (the server and `recd import`) may use one store at once.
 *
 * Records are plain structs of fixed-size fields, so reading a row allocates nothing.
 * Every function returns 0 or a negative RECD_E_* code: RECD_E_NOT_FOUND when the row does
 * not exist, RECD_E_EXISTS on a duplicate sid, RECD_E_IO (or RECD_E_NO_SPACE) when the
 * backend fails; a failed call changes nothing.
 */

#define RECD_NAME_MAX   64 /* friendly names, in bytes */
#define RECD_SOURCE_MAX 32 /* "StartConferenceRecordingAPI" is 27 */
#define RECD_STATUS_MAX 16
#define RECD_TEXT_MAX   65536 /* transcription text, in bytes */
#define RECD_URL_MAX    1024  /* a webhook URL, in bytes */
#define RECD_ADDR_MAX   256   /* a call's From or To: a number, or a SIP URI's user@host */
#define RECD_METHOD_MAX 4     /* "GET", "POST" */
/* A 32-character secret sealed: 12-byte nonce, 32 bytes, 16-byte tag. */
#define RECD_SEALED_SECRET_LEN (32 + 28)

struct recd_account {
    char sid[RECD_SID_LEN + 1];
    char parent_sid[RECD_SID_LEN + 1]; /* "" when a top-level account */
    char friendly_name[RECD_NAME_MAX + 1];
    unsigned char token_salt[16];
    unsigned char token_hash[32]; /* SHA-256(salt || token): what Basic auth checks */
    /* The token sealed (AES-256-GCM under the data folder's key file, the sid as associated
     * data): what signed media links are verified with. Never stored in clear. */
    unsigned char token_sealed[RECD_SEALED_SECRET_LEN];
    int media_auth; /* 1: instance GET needs Basic auth too */
    int64_t created_us;
    int64_t updated_us;
    int transcribe;     /* 1: every new recording of the account is transcribed (contract §8) */
    int retention_days; /* recordings older than this many days are deleted (contract §11); 0 = kept */
};

struct recd_key {
    char sid[RECD_SID_LEN + 1]; /* SK… */
    char account_sid[RECD_SID_LEN + 1];
    char friendly_name[RECD_NAME_MAX + 1];
    unsigned char secret_salt[16];
    unsigned char secret_hash[32];
    unsigned char secret_sealed[RECD_SEALED_SECRET_LEN];
    int64_t created_us;
};

struct recd_recording {
    char sid[RECD_SID_LEN + 1];
    char account_sid[RECD_SID_LEN + 1];
    char call_sid[RECD_SID_LEN + 1];       /* "" = null */
    char conference_sid[RECD_SID_LEN + 1]; /* "" = null */
    int64_t created_us;
    int64_t updated_us;
    int64_t start_us;   /* 0 = null */
    int64_t deleted_us; /* 0 = not deleted; else when the delete committed */
    int64_t duration_ms;
    int64_t media_size; /* bytes of the stored WAV */
    int channels;
    int sample_rate;
    int error_code;                   /* 0 = null */
    char status[RECD_STATUS_MAX + 1]; /* RECD_REC_*: "completed", "in-progress", "deleted", … */
    char source[RECD_SOURCE_MAX + 1]; /* "RecordVerb", … */
    char media_sha256[65];            /* hex digest of the stored WAV, for fsck and ETags; "" = none yet */
    int transcribe;                   /* 1: a transcription was asked for (<Record transcribe="true">) */
};

/*
 * A recording's life (contract §7): a call's recording is inserted "in-progress" with no media
 * (media_size 0, media_sha256 ""), and recording_finish moves it once to "completed" (its media
 * is durable), "absent" (no sound: no media, error_code 16101 or 16102) or "failed" (no media).
 * Imports are "completed" from the start. A delete makes any of them "deleted". Only a completed
 * recording has media; everything that reads media asks recd_recording_has_media first.
 */
#define RECD_REC_IN_PROGRESS "in-progress"
#define RECD_REC_COMPLETED   "completed"
#define RECD_REC_ABSENT      "absent"
#define RECD_REC_FAILED      "failed"
#define RECD_REC_DELETED     "deleted"

/** 1 when the recording's media is stored and may be served: completed and not deleted. */
static inline int recd_recording_has_media(const struct recd_recording *r)
{
    return !r->deleted_us && strcmp(r->status, RECD_REC_COMPLETED) == 0;
}

/** 1 while the recording is being made (its status is "in-progress"). */
static inline int recd_recording_in_progress(const struct recd_recording *r)
{
    return !r->deleted_us && strcmp(r->status, RECD_REC_IN_PROGRESS) == 0;
}

struct recd_transcription {
    char sid[RECD_SID_LEN + 1]; /* TR… */
    char account_sid[RECD_SID_LEN + 1];
    char recording_sid[RECD_SID_LEN + 1];
    int64_t created_us;
    int64_t updated_us;
    int64_t duration_ms;
    char status[RECD_STATUS_MAX + 1]; /* "completed", "in-progress", "failed" */
    char type[RECD_STATUS_MAX + 1];   /* "fast" */
    /* The text, owned by whoever asked for the row: the buffer given to transcription_get, or
     * the page a list filled. Not NUL-terminated when it comes from a page. */
    const char *text;
    size_t text_len;
    int text_null;
};

/*
 * A transcription job (contract §8): the durable queue entry behind an "in-progress"
 * Transcription of the same sid. A job is "queued" (ready from ready_us on), "running" (leased to
 * one worker until ready_us; a lease that runs out makes it claimable again, so a worker killed
 * mid-job costs one rerun), then "done" or "failed" for good, with the reason of its last failure.
 * It goes when its transcription or recording does.
 */
#define RECD_JOB_QUEUED  "queued"
#define RECD_JOB_RUNNING "running"
#define RECD_JOB_DONE    "done"
#define RECD_JOB_FAILED  "failed"
#define RECD_REASON_MAX  255
#define RECD_LEASE_LEN   32 /* a lease token: 32 hex characters */

struct recd_transcription_job {
    char sid[RECD_SID_LEN + 1]; /* TR…, the transcription's */
    char account_sid[RECD_SID_LEN + 1];
    char recording_sid[RECD_SID_LEN + 1];
    char callback_url[RECD_URL_MAX + 1];       /* transcribeCallback; "" = none */
    char callback_method[RECD_METHOD_MAX + 1]; /* "POST" or "GET" */
    char state[RECD_STATUS_MAX + 1];           /* RECD_JOB_* */
    char lease[RECD_LEASE_LEN + 1];            /* the running worker's token; "" otherwise */
    char reason[RECD_REASON_MAX + 1];          /* why the last attempt failed; "" = none */
    int attempts;                              /* claims so far */
    int error_code;                            /* a failed job's Twilio code; 0 = none */
    int64_t ready_us;                          /* queued: not before; running: lease end */
    int64_t created_us;
    int64_t updated_us;
};

/*
 * A transcription asked for with a recording that is still being made (<Record transcribe="true"
 * transcribeCallback="…">): where its transcribeCallback goes, kept with the recording from its
 * start, so that whoever finishes the recording (the recorder, or its recovery after a crash)
 * queues the job with it. Deleting the recording deletes it.
 */
struct recd_transcribe_request {
    char sid[RECD_SID_LEN + 1];                /* RE…, the recording's */
    char callback_url[RECD_URL_MAX + 1];       /* transcribeCallback; "" = none */
    char callback_method[RECD_METHOD_MAX + 1]; /* "POST" or "GET" */
    int64_t created_us;
};

/*
 * A number that answers calls (contract §7): an INVITE for `phone_number` runs the TwiML at
 * voice_url. Twilio's IncomingPhoneNumber, reduced to what a SIP endpoint needs. URLs are "" when
 * not set (only voice_url is required); methods are "GET" or "POST".
 */
struct recd_number {
    char sid[RECD_SID_LEN + 1]; /* PN… */
    char account_sid[RECD_SID_LEN + 1];
    char phone_number[RECD_ADDR_MAX + 1]; /* unique across the store: it routes calls */
    char friendly_name[RECD_NAME_MAX + 1];
    char voice_url[RECD_URL_MAX + 1];
    char voice_method[RECD_METHOD_MAX + 1];
    char voice_fallback_url[RECD_URL_MAX + 1];
    char voice_fallback_method[RECD_METHOD_MAX + 1];
    char status_callback[RECD_URL_MAX + 1];
    char status_callback_method[RECD_METHOD_MAX + 1];
    int64_t created_us;
    int64_t updated_us;
};

/* A call's status (Twilio's call_enum_status). The first three are live: the call may still
 * change; the others are final. */
#define RECD_CALL_QUEUED      "queued"
#define RECD_CALL_RINGING     "ringing"
#define RECD_CALL_IN_PROGRESS "in-progress"
#define RECD_CALL_COMPLETED   "completed"
#define RECD_CALL_BUSY        "busy"
#define RECD_CALL_FAILED      "failed"
#define RECD_CALL_NO_ANSWER   "no-answer"
#define RECD_CALL_CANCELED    "canceled"

/** 1 when `status` is one of the call statuses above. */
int recd_call_status_valid(const char *status);

/** 1 when a call with `status` may still change (queued, ringing, in-progress). */
int recd_call_status_live(const char *status);

/*
 * A call, written as its state changes. Times are µs; start_us is when it was answered
 * (0 = not yet, or never), end_us when it ended (0 = not yet). duration_ms counts from answer to
 * end.
 */
struct recd_call {
    char sid[RECD_SID_LEN + 1]; /* CA… */
    char account_sid[RECD_SID_LEN + 1];
    char number_sid[RECD_SID_LEN + 1];      /* PN… of the number called; "" = null */
    char parent_call_sid[RECD_SID_LEN + 1]; /* "" = null */
    char from_addr[RECD_ADDR_MAX + 1];      /* the API's `from` */
    char to_addr[RECD_ADDR_MAX + 1];        /* the API's `to` */
    char caller_name[RECD_NAME_MAX + 1];    /* "" = null */
    char status[RECD_STATUS_MAX + 1];       /* RECD_CALL_* */
    char direction[RECD_STATUS_MAX + 1];    /* "inbound" */
    char answered_by[RECD_STATUS_MAX + 1];  /* "" = null */
    int64_t created_us;
    int64_t updated_us;
    int64_t start_us;    /* 0 = null */
    int64_t end_us;      /* 0 = null */
    int64_t duration_ms; /* 0 until it ends */
    int error_code;      /* 0 = none; else the Twilio code logged on the call (11200, 12100, …) */
};

/** Where a list page starts: after (older than) or before (newer than) an anchor item. */
enum recd_anchor_dir { RECD_ANCHOR_NONE = 0, RECD_ANCHOR_AFTER, RECD_ANCHOR_BEFORE };

/** The most items a list page holds (contract §2: PageSize 1…1000). */
#define RECD_LIST_LIMIT_MAX 1000

/**
 * A list query. Items are ordered newest first: created_us descending, ties by sid descending.
 * With RECD_ANCHOR_AFTER the page holds the `limit` items that follow (anchor_us, anchor_sid)
 * in that order; with RECD_ANCHOR_BEFORE the `limit` items that precede it, still delivered
 * newest first. With no anchor, `offset` items are skipped (legacy Page without PageToken).
 * The anchor need not exist any more (it may have been deleted): order is by value.
 */
struct recd_list_query {
    const char *account_sid;
    const char *call_sid;       /* NULL or "" = any */
    const char *conference_sid; /* NULL or "" = any */
    const char *recording_sid;  /* transcription lists: NULL or "" = any */
    int64_t created_ge_us;      /* INT64_MIN = no lower bound (inclusive) */
    int64_t created_lt_us;      /* INT64_MAX = no upper bound (exclusive) */
    /* Call lists only: NULL or "" = any; the time bounds as created_*, INT64_MIN/MAX = none (set
     * them with recd_list_query_init). A time bound leaves out calls without that time. */
    const char *to;
    const char *from;
    const char *status;
    int64_t start_ge_us, start_lt_us;
    int64_t end_ge_us, end_lt_us;
    int include_deleted;
    enum recd_anchor_dir anchor_dir;
    int64_t anchor_us;
    char anchor_sid[RECD_SID_LEN + 1];
    int64_t offset;
    int limit; /* items on a page: 1 … RECD_LIST_LIMIT_MAX */
};

/** Zeroes `q` and sets every time bound to "none" and the limit to the largest page. */
void recd_list_query_init(struct recd_list_query *q, const char *account_sid);

/** A list item's place in the order: what a page token carries. */
struct recd_page_anchor {
    int64_t us;
    char sid[RECD_SID_LEN + 1];
};

enum recd_page_kind { RECD_PAGE_RECORDINGS = 0, RECD_PAGE_TRANSCRIPTIONS, RECD_PAGE_CALLS };

/**
 * One page of a list, as a store fills it: the items in display order (newest first, whatever
 * the direction of the walk), whether more items lie beyond the page in the walk's direction,
 * and the anchors of its first and last items (for the tokens of the pages before and after).
 * A page owns its memory: initialise it once, reuse it for any number of lists (of one kind or
 * another), free it once. Transcription texts live in the page and stay valid until it is
 * filled again or freed.
 */
struct recd_page {
    enum recd_page_kind kind;
    int count;    /* items on the page, at most the query's limit */
    int has_more; /* AFTER or no anchor: an item follows the last; BEFORE: one precedes the first */
    struct recd_page_anchor first, last; /* of items 0 and count-1; zero when count is 0 */
    union {
        void *items;
        struct recd_recording *recordings;         /* RECD_PAGE_RECORDINGS */
        struct recd_transcription *transcriptions; /* RECD_PAGE_TRANSCRIPTIONS */
        struct recd_call *calls;                   /* RECD_PAGE_CALLS */
    };
    /* Backend scratch, through the functions below only. */
    size_t cap_bytes;
    struct recd_buf text;
    size_t *text_off;
    size_t text_cap;
};

/** Prepares an empty page. */
void recd_page_init(struct recd_page *pg);

/** Releases what the page owns. */
void recd_page_free(struct recd_page *pg);

/** Item `i` (< count) of any kind, for code that renders them all. */
const void *recd_page_item(const struct recd_page *pg, int i);

/* For backends. A backend fetches up to limit + 1 rows in the walk's order (nearest the anchor
 * first, so oldest first for BEFORE) into slots 0…, then calls recd_page_finish, which drops the
 * look-ahead row, sets has_more, puts the items in display order and fills the anchors. */

/** Empties `pg` for `kind`, with room for `slots` items. 0 or RECD_E_INTERNAL (no memory). */
int recd_page_start(struct recd_page *pg, enum recd_page_kind kind, int slots);

/** Slot `i` (< the slots given to start), zeroed. */
void *recd_page_slot(struct recd_page *pg, int i);

/** Copies the text of transcription slot `i` into the page (NULL: the text is null). */
void recd_page_set_text(struct recd_page *pg, int i, const char *p, size_t n);

/** Ends a fill of `fetched` rows for a query with `limit` and `dir` (see above). */
void recd_page_finish(struct recd_page *pg, int fetched, int limit, enum recd_anchor_dir dir);

/** The most days `recd account set --retention-days` takes: about 270 years, far from overflow. */
#define RECD_RETENTION_DAYS_MAX 100000

/**
 * Which recordings a bulk delete or the retention pass removes (contract §11): never one that is
 * deleted already or still being made (in progress).
 */
struct recd_expiry_query {
    /* NULL: the retention pass: of every account whose retention_days > 0, the recordings created
     * more than retention_days before now_us. Else that account's recordings of call_sid (NULL or
     * "" = any call) created before before_us (INT64_MAX = any time). */
    const char *account_sid;
    const char *call_sid;
    int64_t before_us;
    int64_t now_us;
};

/** Called once per item of a scan, in sid order; returning non-zero stops the walk. */
typedef int (*recd_recording_cb)(void *ctx, const struct recd_recording *r);
typedef int (*recd_number_cb)(void *ctx, const struct recd_number *n);
typedef int (*recd_call_cb)(void *ctx, const struct recd_call *c);

struct recd_store;

/** The media repair guard across machines (media_guard below). */
enum recd_store_guard {
    RECD_STORE_GUARD_RELEASE = 0,
    RECD_STORE_GUARD_SHARED,
    RECD_STORE_GUARD_EXCLUSIVE,
    RECD_STORE_GUARD_EXCLUSIVE_NOW, /* exclusive if free now, never queued: see RECD_BLOB_REPAIRING_NOW */
};

struct recd_store_ops {
    void (*close)(struct recd_store *st);
    int (*begin)(struct recd_store *st); /* a write transaction, taken at once (no upgrade deadlocks) */
    int (*commit)(struct recd_store *st);
    int (*rollback)(struct recd_store *st);

    int (*account_insert)(struct recd_store *st, const struct recd_account *a);
    int (*account_get)(struct recd_store *st, const char *sid, struct recd_account *out);
    int (*account_set_media_auth)(struct recd_store *st, const char *sid, int on, int64_t now_us);
    int (*key_insert)(struct recd_store *st, const struct recd_key *k);
    int (*key_get)(struct recd_store *st, const char *sid, struct recd_key *out);

    int (*recording_insert)(struct recd_store *st, const struct recd_recording *r);
    int (*recording_get)(struct recd_store *st, const char *sid, struct recd_recording *out);
    /** Marks a recording deleted (status "deleted", deleted_us = updated_us = now) and deletes its
     *  transcriptions, whose text is as private as the audio. NOT_FOUND if absent or already deleted. */
    int (*recording_mark_deleted)(struct recd_store *st, const char *sid, int64_t now_us);
    /** Fills `pg` with the page of recordings that `q` asks for. */
    int (*recording_page)(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg);
    /** Every recording of every account (fsck), in sid order. */
    int (*recording_scan)(struct recd_store *st, recd_recording_cb cb, void *ctx);
    /**
     * Ends an in-progress recording: sets status, duration_ms, media_size, media_sha256, channels,
     * sample_rate, error_code, start_us and updated_us of row r->sid from `r`; nothing else. The
     * new status must be completed, absent or failed (else RECD_E_BAD_INPUT). NOT_FOUND unless the
     * row exists and is in progress, so a recording is finished once.
     */
    int (*recording_finish)(struct recd_store *st, const struct recd_recording *r);
    /** Every recording whose status is `status` (restart recovery: "in-progress"), in sid order. */
    int (*recording_scan_status)(struct recd_store *st, const char *status, recd_recording_cb cb, void *ctx);
    /** Removes the rows (and their transcriptions) of recordings deleted before `before_us`; *n gets the
     * count. */
    int (*purge_deleted)(struct recd_store *st, int64_t before_us, int64_t *n);

    int (*transcription_insert)(struct recd_store *st, const struct recd_transcription *t);
    /** The text is copied into `text` (reset first), which out->text then points into. */
    int (*transcription_get)(struct recd_store *st, const char *sid, struct recd_transcription *out,
                             struct recd_buf *text);
    int (*transcription_delete)(struct recd_store *st, const char *sid);
    /** Uses account_sid, recording_sid, the anchor/offset and limit of `q`; ordered like recordings. */
    int (*transcription_page)(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg);
    /** How many items match the filters of `q` (anchor, offset and limit ignored); for the legacy XML
     * envelope. */
    int (*recording_count)(struct recd_store *st, const struct recd_list_query *q, int64_t *n);
    int (*transcription_count)(struct recd_store *st, const struct recd_list_query *q, int64_t *n);

    /** Inserts a number; RECD_E_EXISTS when its sid or its phone_number is taken. Values are
     * checked (sids, UTF-8, methods GET or POST) but URLs are the caller's to validate. */
    int (*number_insert)(struct recd_store *st, const struct recd_number *n);
    int (*number_get)(struct recd_store *st, const char *sid, struct recd_number *out);
    /** The number whose phone_number is exactly `number`: how an INVITE finds its TwiML. */
    int (*number_get_by_number)(struct recd_store *st, const char *number, struct recd_number *out);
    /** Every number of `account_sid` (NULL: of every account), in sid order. */
    int (*number_list)(struct recd_store *st, const char *account_sid, recd_number_cb cb, void *ctx);
    /** Removes a number. Its calls keep its sid (as Twilio's keep phone_number_sid). */
    int (*number_delete)(struct recd_store *st, const char *sid);

    /** Inserts a call; its status must be a valid call status (RECD_E_BAD_INPUT otherwise). */
    int (*call_insert)(struct recd_store *st, const struct recd_call *c);
    int (*call_get)(struct recd_store *st, const char *sid, struct recd_call *out);
    /**
     * Writes a call's new state: status, caller_name, answered_by, start_us, end_us, duration_ms,
     * error_code and updated_us of row c->sid (the rest is fixed when the call is created).
     * NOT_FOUND when the row does not exist, or is final already (a call ends once).
     */
    int (*call_update)(struct recd_store *st, const struct recd_call *c);
    /** Fills `pg` with the calls `q` asks for (account, to, from, status, start and end bounds;
     * created_* bounds too), ordered like recordings. */
    int (*call_page)(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg);
    int (*call_count)(struct recd_store *st, const struct recd_list_query *q, int64_t *n);
    /** Removes a call's row. NOT_FOUND when absent; RECD_E_IN_PROGRESS while it is live. */
    int (*call_delete)(struct recd_store *st, const char *sid);
    /** Every live call (queued, ringing, in-progress) of every account, in sid order: what a
     * restarting server must end. */
    int (*call_scan_live)(struct recd_store *st, recd_call_cb cb, void *ctx);

    /** Sets an account's retention in days (0 = keep forever; at most RECD_RETENTION_DAYS_MAX,
     *  else RECD_E_BAD_INPUT). NOT_FOUND when the account does not exist. */
    int (*account_set_retention)(struct recd_store *st, const char *sid, int days, int64_t now_us);
    /** Up to `cap` sids (1…RECD_LIST_LIMIT_MAX) of recordings `q` matches into `sids`, *n of them, in
     *  no particular order: a batch to delete, after which the next call finds the rest. */
    int (*recording_expired)(struct recd_store *st, const struct recd_expiry_query *q,
                             char (*sids)[RECD_SID_LEN + 1], int cap, int *n);
    /** How many recordings `q` matches: the dry run's count. */
    int (*recording_expired_count)(struct recd_store *st, const struct recd_expiry_query *q, int64_t *n);

    /** Switches the transcription of every new recording of an account on or off. */
    int (*account_set_transcribe)(struct recd_store *st, const char *sid, int on, int64_t now_us);

    /*
     * The transcription queue (contract §8). A worker claims a ready job with a fresh random lease
     * token, renews the lease while it works, and ends the attempt with finish (the transcription
     * becomes completed or failed, the job done or failed) or retry (queued again from ready_us).
     * Renew, finish and retry name the job and the token: if the lease was lost (it ran out and
     * another worker claimed the job) or the job is gone (its recording or transcription was
     * deleted) they return RECD_E_NOT_FOUND and change nothing, so no job completes twice and
     * nothing is written for a deleted recording.
     */
    /**
     * Inserts transcription `t` ("in-progress", text null) and its job `j` ("queued", ready at
     * j->ready_us) as one unit (a savepoint inside the caller's transaction, so it can commit with
     * recording_finish). The recording must exist, belong to the account and have media
     * (completed, not deleted), else RECD_E_NOT_FOUND; RECD_E_EXISTS on a duplicate sid.
     */
    int (*transcription_enqueue)(struct recd_store *st, const struct recd_transcription *t,
                                 const struct recd_transcription_job *j);
    /** Claims the ready job (queued and due, or running with its lease run out) that has waited
     *  longest: it becomes running under `lease` until now_us + lease_us, attempts + 1, and is
     *  copied to *out. RECD_E_NOT_FOUND when no job is ready. */
    int (*job_claim)(struct recd_store *st, int64_t now_us, int64_t lease_us, const char *lease,
                     struct recd_transcription_job *out);
    /** Extends the lease to now_us + lease_us. */
    int (*job_renew)(struct recd_store *st, const char *sid, const char *lease, int64_t now_us,
                     int64_t lease_us);
    /** Ends a running job: its transcription takes t's status ("completed" or "failed"), text,
     *  duration_ms and updated_us; the job becomes done or failed with `error_code` and `reason`. */
    int (*job_finish)(struct recd_store *st, const struct recd_transcription *t, const char *lease,
                      int error_code, const char *reason);
    /** Puts a running job back in the queue, ready at ready_us, remembering `reason`. */
    int (*job_retry)(struct recd_store *st, const char *sid, const char *lease, int64_t ready_us,
                     const char *reason, int64_t now_us);
    int (*job_get)(struct recd_store *st, const char *sid, struct recd_transcription_job *out);
    /** How many jobs are queued (ready or not) and running: for logs and metrics. */
    int (*job_count)(struct recd_store *st, int64_t *queued, int64_t *running);
    /** Keeps `r` with its recording, which must exist and not be deleted (else RECD_E_NOT_FOUND):
     *  one per recording (RECD_E_EXISTS for a second); a method other than POST or GET, or a URL
     *  that is not UTF-8, is RECD_E_BAD_INPUT. */
    int (*transcribe_request_put)(struct recd_store *st, const struct recd_transcribe_request *r);
    /** The request kept with recording `sid`; RECD_E_NOT_FOUND when there is none. */
    int (*transcribe_request_get)(struct recd_store *st, const char *sid,
                                  struct recd_transcribe_request *out);

    /**
     * A version of everything this handle can read: equal values from two calls mean no
     * connection (this one included) committed a change in between. For caches of rendered
     * reads. Opaque; compare both numbers.
     */
    int (*version)(struct recd_store *st, int64_t v[2]);

    /**
     * The media repair guard between machines that share this store (the blob store's own guard
     * covers the processes of one machine): shared while media is written before the row that
     * names it commits, exclusive for `fsck --repair`, which deletes media without a row. Waits,
     * but for RECD_STORE_GUARD_EXCLUSIVE_NOW: RECD_E_IN_PROGRESS when another holds it.
     * Held by this handle until released or closed, so a node that dies lets go. NULL on a
     * backend that only one machine uses (SQLite).
     */
    int (*media_guard)(struct recd_store *st, enum recd_store_guard how);

    /**
     * Readiness (GET /readyz): whether the store can take reads and writes now, waiting at most
     * `timeout_ms`. 0; RECD_E_UNAVAILABLE when it is locked by another connection, unreachable or
     * read-only; RECD_E_IO when it fails otherwise. Changes nothing. NULL in a backend that cannot
     * tell: then a version() read stands in.
     */
    int (*ready)(struct recd_store *st, int timeout_ms);

    /**
     * A hint before a batch of recording_insert: reads the index pages that inserting `recs`
     * (their sid and status) will change, on several connections at once, so that the batch's
     * transaction finds them in memory rather than waiting on the disk for each in turn (a large
     * store's sid-ordered indexes are touched at random places). Changes nothing; returns 0, and a
     * failure only means the inserts read the pages themselves. Uses connections of its own, so it
     * may run on another thread while this handle's owner does other work; never two calls at
     * once. NULL in a backend that has nothing to gain (a database server keeps its own cache).
     */
    int (*recording_warm)(struct recd_store *st, const struct recd_recording *recs, int n);
};

struct recd_store {
    const struct recd_store_ops *ops;
};

/**
 * Opens (creating if needed) the SQLite store at `path`: WAL mode, synchronous=FULL, foreign
 * keys on, a busy timeout so that concurrent processes wait rather than fail, schema created or
 * migrated. On success *out owns the handle; close it with its ops->close.
 */
int recd_store_sqlite_open(const char *path, struct recd_store **out);

/**
 * Opens the PostgreSQL store at `url` (postgres://… or postgresql://…, libpq's URI form): one
 * connection, schema created or migrated (under an advisory lock, so that nodes starting
 * together migrate once). RECD_E_UNAVAILABLE when the server cannot be reached, RECD_E_IO when
 * the database cannot be used (its encoding, a newer schema); the reason is logged, never with
 * the URL's password. A call on a handle whose connection was lost returns RECD_E_UNAVAILABLE
 * and the next call reconnects.
 */
int recd_store_pg_open(const char *url, struct recd_store **out);

/**
 * How many times, in this process, a SQLite statement found the database locked by another
 * connection and waited to try again (every handle together): for recd_sqlite_busy_retries_total.
 */
uint64_t recd_store_sqlite_busy_retries(void);

/** 1 when `where` names a PostgreSQL store (a postgres:// or postgresql:// URL). */
int recd_store_is_pg(const char *where);

/**
 * Opens the store `where` names: a PostgreSQL URL, or else the path of a SQLite file. Callers
 * need not know which. RECD_E_BAD_INPUT for another URL scheme.
 */
int recd_store_open(const char *where, struct recd_store **out);

/** Writes `where` to `out` fit for a log or a message: a URL's password, in its user part or
 * its query, becomes "***". Always terminates `out` (cap > 0). */
void recd_store_url_redact(const char *where, char *out, size_t cap);

#endif
