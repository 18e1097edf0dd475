#ifndef RECD_SERVICE_MIRROR_H
#define RECD_SERVICE_MIRROR_H

#include "core/buf.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * `recd mirror` (contract §11): copies the recordings of an account of any Twilio-compatible API
 * (Twilio, another recd) into this store, with their media and transcriptions, keeping their sids
 * and dates. docs/mirror.md describes what it does and why; this header is its two parts: the
 * reader of the source's JSON pages (outside input, fuzzed) and the run.
 */

/** The longest page URI (next_page_uri) the mirror follows. */
#define RECD_MIRROR_URI_MAX 2048

/** A recording as the source lists it: what the mirror keeps and what it checks. */
struct recd_mirror_rec {
    char sid[RECD_SID_LEN + 1];
    char account_sid[RECD_SID_LEN + 1];
    char call_sid[RECD_SID_LEN + 1];       /* "" = null */
    char conference_sid[RECD_SID_LEN + 1]; /* "" = null */
    int64_t created_us, updated_us;
    int64_t start_us;   /* 0 = null */
    int64_t duration_s; /* -1 = null */
    int channels;       /* 0 = null */
    char status[RECD_STATUS_MAX + 1];
    char source[RECD_SOURCE_MAX + 1]; /* "" = null */
    char bad[96];                     /* why the item cannot be copied; "" when it can */
};

/** A transcription as the source lists it; the text lives in the page. */
struct recd_mirror_tr {
    struct recd_transcription t; /* account_sid and recording_sid as the source gave them */
    char bad[96];
};

enum recd_mirror_kind { RECD_MIRROR_RECORDINGS = 0, RECD_MIRROR_TRANSCRIPTIONS };

/** One page read: its items and the URI of the next page. Reusable; owns its memory. */
struct recd_mirror_page {
    enum recd_mirror_kind kind;
    int count;
    struct recd_mirror_rec *recs;       /* RECD_MIRROR_RECORDINGS */
    struct recd_mirror_tr *trs;         /* RECD_MIRROR_TRANSCRIPTIONS: texts point into `text` */
    char next[RECD_MIRROR_URI_MAX + 1]; /* "" on the last page */
    /* Internal. */
    size_t cap;
    struct recd_buf text;
};

void recd_mirror_page_init(struct recd_mirror_page *pg);
void recd_mirror_page_free(struct recd_mirror_page *pg);

/**
 * Reads a JSON list page (contract §2's envelope) of `kind` from p[0…n) into `pg`. `list_path` is
 * the path the first page was asked at: next_page_uri must be a relative URI on that same path
 * (printable ASCII, at most RECD_MIRROR_URI_MAX bytes), or null; anything else (an absolute URL,
 * another path) is refused, so the mirror never sends its credentials elsewhere. An item whose
 * own fields are bad (a malformed sid or date) does not spoil the page: its `bad` says why.
 * Returns 0, or -1 when the page is not such a document (`why` says what was wrong);
 * RECD_E_INTERNAL when out of memory.
 */
int recd_mirror_page_read(const char *p, size_t n, enum recd_mirror_kind kind, const char *list_path,
                          struct recd_mirror_page *pg, char *why, size_t why_n);

/**
 * Reads the credentials file of `recd mirror` (docs/mirror.md): KEY=VALUE lines `username=`
 * (an account sid AC… or API key sid SK…) and `password=` (its auth token or secret), blank lines
 * and `#` comments. Like recd's other secret files it must be a regular file owned by the user
 * recd runs as and unreadable by group and others. 0, or RECD_E_BAD_INPUT with a reason in `why`.
 */
int recd_mirror_credentials_read(const char *path, char *user, size_t user_cap, char *pass, size_t pass_cap,
                                 char *why, size_t why_n);

struct recd_mirror_opts {
    const char *data_dir; /* this store: the data folder, and the metadata store (NULL = its own) */
    const char *store;
    const char *base_url;    /* the source: http(s)://host[:port][/prefix], checked by the caller */
    const char *account_sid; /* the source's account */
    const char *into_sid;    /* the account here; NULL = account_sid */
    const char *user, *pass; /* Basic auth at the source, on every request including media */
    const char *since;       /* DateCreated>= and DateCreated<= filters, contract §2 form; NULL = none */
    const char *until;
    int concurrency;  /* requests in flight at once, 1…64 */
    int page_size;    /* 0 = 200 */
    int max_attempts; /* per request, on 5xx and connection failures; 0 = 6 */
    int backoff_ms;   /* first backoff; doubles to backoff_max_ms; 0 = 500 and 30,000 */
    int backoff_max_ms;
    int bar;          /* 1: a progress bar on `err` (a terminal) */
    int quiet_copies; /* 1: no line per copied or skipped recording (the bar shows them) */
    FILE *out, *err;
};

struct recd_mirror_stats {
    int64_t listed;    /* recordings the source listed */
    int64_t copied;    /* stored here by this run */
    int64_t skipped;   /* not copied: here already with the same bytes, or not completed at the source */
    int64_t failed;    /* could not be copied, or here already with different bytes */
    int64_t throttled; /* 429 answers */
    int64_t bytes;     /* media bytes stored */
    int64_t pages;     /* list pages read */
};

/**
 * Runs a mirror. Returns 0 when the whole list was walked (stats->failed counts the recordings
 * that could not be copied), RECD_E_BAD_INPUT when the source refused the credentials or does not
 * know the account, or the account here does not exist (`why` says which), and another RECD_E_*
 * when the list could not be read to its end (the recordings read so far are copied).
 */
int recd_mirror_run(const struct recd_mirror_opts *o, struct recd_mirror_stats *stats, char *why,
                    size_t why_n);

#endif
