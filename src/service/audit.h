#ifndef RECD_SERVICE_AUDIT_H
#define RECD_SERVICE_AUDIT_H

#include "core/buf.h"
#include "core/sid.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The audit record (contract §11, docs/operations.md "Audit"): who fetched media, who deleted a
 * recording, and every credential that was checked, right or wrong. Append-only JSON lines in
 * DATA/audit/, one file per writer process at a time, rotated by size and removed when older
 * than the configured time; nothing in the API reads, changes or deletes it.
 *
 * Written off the request path: a worker formats its line into a buffer of its own (a lock only
 * the writer thread ever contends for, a few times a second), and one writer thread appends every
 * worker's lines in one write() per tick, as the access log does, then fdatasyncs the file (unless
 * no_sync), so that a power loss takes at most the last tick's records; an idle tick writes and
 * syncs nothing.
 */

/** What happened. */
enum recd_audit_event {
    RECD_AUDIT_NONE = 0, /* nothing to record */
    RECD_AUDIT_MEDIA,    /* a recording's media was asked for (any format or channel count) */
    RECD_AUDIT_DELETE,   /* a recording was deleted (by DELETE, retention, `recd delete`) */
    RECD_AUDIT_AUTH,     /* credentials were checked for anything else */
    RECD_AUDIT_EVENTS_
};

/** Which credential the request carried. */
enum recd_audit_cred {
    RECD_AUDIT_PUBLIC = 0,  /* none: a public media URL (the sid is the secret) */
    RECD_AUDIT_AUTH_TOKEN,  /* Basic auth with an account's sid and auth token */
    RECD_AUDIT_API_KEY,     /* Basic auth with an API key's sid and secret */
    RECD_AUDIT_SIGNED_LINK, /* a signed media link (KeySid in the query) */
    RECD_AUDIT_OTHER,       /* Basic auth with a user that is neither, or not Basic at all */
    RECD_AUDIT_SERVER,      /* the server itself: retention */
    RECD_AUDIT_CLI,         /* a command on the data folder: `recd delete` */
    RECD_AUDIT_NO_CRED,     /* none, where one was needed (answered 401) */
    RECD_AUDIT_CREDS_
};

/** Whether the credential was accepted. */
enum recd_audit_result { RECD_AUDIT_UNCHECKED = 0, RECD_AUDIT_OK, RECD_AUDIT_FAILED, RECD_AUDIT_RESULTS_ };

#define RECD_AUDIT_PATH_MAX 512 /* bytes of a request path kept; longer ones are cut */
#define RECD_AUDIT_ADDR_MAX 46  /* INET6_ADDRSTRLEN */

/** One record. Strings are NUL-terminated; "" = not known or not applicable. */
struct recd_audit_entry {
    int64_t time_us;
    enum recd_audit_event event;
    enum recd_audit_cred cred;
    enum recd_audit_result result;
    char account_sid[RECD_SID_LEN + 1]; /* the account acted on (the path's, the recording's) */
    char principal[RECD_SID_LEN + 1];   /* the credential's AC… or SK… (the signed link's KeySid) */
    char recording_sid[RECD_SID_LEN + 1];
    char address[RECD_AUDIT_ADDR_MAX]; /* the client's IP address */
    char method[8];
    char path[RECD_AUDIT_PATH_MAX + 1]; /* the request path, never its query (a link's signature) */
    int status;                         /* the HTTP status answered; 0 for none */
};

/**
 * What the API notes of a request for the audit record (api.h, recd_response.audit), when asked
 * to (recd_request.audit); whoever runs the API adds the when, where from and what.
 */
struct recd_audit_note {
    enum recd_audit_event event; /* RECD_AUDIT_NONE: nothing to record */
    enum recd_audit_cred cred;
    enum recd_audit_result result;
    char account_sid[RECD_SID_LEN + 1];
    char principal[RECD_SID_LEN + 1];
    char recording_sid[RECD_SID_LEN + 1];
};

/** The JSON names of the enums above, for readers and tests. */
const char *recd_audit_event_name(enum recd_audit_event e);
const char *recd_audit_cred_name(enum recd_audit_cred c);

/** Appends `e` as one JSON line (with its '\n') to `out`. */
void recd_audit_format(const struct recd_audit_entry *e, struct recd_buf *out);

/**
 * Reads one line p[0…n) (without its '\n') of an audit file into *e. 0, or -1 when it is not a
 * record this format writes (a line cut by a crash, a foreign line): a reader skips it.
 */
int recd_audit_parse(const char *p, size_t n, struct recd_audit_entry *e);

/** The longest name of an audit file. */
#define RECD_AUDIT_FILE_NAME_MAX 64

/**
 * 1 when `name` is one the writer gives an audit file ("audit-TIME-PID.jsonl": letters, digits,
 * '-' and '.' between; no '/' and no ".."), so that a backup may copy it and a restore may write it under
 * audit/.
 */
int recd_audit_file_name_ok(const char *name);

struct recd_audit;
struct recd_audit_buf;

struct recd_audit_opts {
    const char *data_dir; /* the records go to DATA/audit/ */
    int64_t rotate_bytes; /* a file is closed and a new one begun past this size; 0 = 64 MiB */
    int keep_days;        /* files last written longer ago are removed; 0 = kept forever */
    int flush_ms;         /* the writer's tick; 0 = 100 */
    int no_sync;          /* 1: no fdatasync after each batch (--audit-sync off): a power loss may
                             then take what the page cache held; kill -9 takes nothing either way */
};

/**
 * Creates DATA/audit/ if needed, removes files past keep_days, opens this process's file and
 * starts the writer thread. 0, or RECD_E_IO (logged) when the folder or file cannot be made.
 */
int recd_audit_open(const struct recd_audit_opts *o, struct recd_audit **out);

/** Writes every buffer's lines, stops the writer, syncs and closes the file. NULL is a no-op. */
void recd_audit_close(struct recd_audit *a);

/** A buffer for one thread's records (an HTTP worker's). NULL when out of memory. */
struct recd_audit_buf *recd_audit_buf_new(struct recd_audit *a);

/** Hands the buffer's last lines to the writer and frees it. NULL is a no-op. */
void recd_audit_buf_free(struct recd_audit_buf *b);

/**
 * Records `e` through the thread's buffer: formatted now, written at the writer's next tick.
 * Never blocks on the disk. A buffer the writer cannot empty (the disk fails) is bounded: past
 * 4 MiB further records are dropped and counted, and the writer logs how many.
 */
void recd_audit_add(struct recd_audit_buf *b, const struct recd_audit_entry *e);

/** Lines written and dropped since the start, for tests and logs. */
void recd_audit_counts(struct recd_audit *a, uint64_t *written, uint64_t *dropped);

/** fdatasync calls the writer made since the start (one per batch written, unless no_sync), for tests. */
uint64_t recd_audit_syncs(struct recd_audit *a);

/**
 * `recd audit`: prints to `out` (a FILE*) every record in DATA/audit/ of `account_sid` (NULL =
 * every account) at or after `since_us`, as JSON lines, file by file in the order they were
 * begun. *skipped gets the lines that were not records. 0, or RECD_E_IO when the folder cannot
 * be read (no folder: nothing recorded yet, 0).
 */
int recd_audit_print(const char *data_dir, const char *account_sid, int64_t since_us, void *out,
                     int64_t *skipped);

#endif
