#ifndef RECD_SERVICE_SERVICE_H
#define RECD_SERVICE_SERVICE_H

/* recd_secret_hash and recd_secret_check moved to core; included for callers that used them here. */
#include "core/secret.h"
#include "media/blob.h"
#include "media/wav.h"
#include "store/store.h"

#include <stddef.h>

/*
 * The operations that span the metadata store and the blob store, in the order that makes them
 * durable (contract §5). The CLI and the HTTP API both go through here, so the write order is
 * written down once.
 */

/** A data folder opened: the store and the blob store. One per thread (the store handle is). */
struct recd_ctx {
    struct recd_store *store;
    struct recd_blob *blob;
    unsigned char seal_key[32]; /* data/seal.key: seals the secrets the server must sign with */
};

/** Creates `dir` if needed (0700) and opens `dir/recd.db` and `dir/media`. 0 or RECD_E_*. */
int recd_ctx_open(const char *dir, struct recd_ctx *ctx);

/** As recd_ctx_open, with the metadata in `store` (a PostgreSQL URL or a SQLite path, see
 * recd_store_open) instead; NULL or "" = `dir/recd.db`. Media and the seal key stay in `dir`. */
int recd_ctx_open_store(const char *dir, const char *store, struct recd_ctx *ctx);
void recd_ctx_close(struct recd_ctx *ctx);

/**
 * Chooses where every context this process opens keeps its media (contract §9): NULL or "" = the
 * data folder's media/ (the default); "s3://BUCKET[/PREFIX]?endpoint=URL&region=R" = that bucket
 * (media/blob_s3.h), with credentials from `credentials_file` (the AWS shared-credentials format)
 * or, when NULL, from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Called once, before any context
 * is opened. 0, or RECD_E_BAD_INPUT with a one-line reason in `why` (never a secret).
 */
int recd_ctx_media_set(const char *media, const char *credentials_file, char *why, size_t why_n);

/** 1 when the contexts this process opens keep their media in S3 (recd_ctx_media_set), else 0. */
int recd_ctx_media_is_s3(void);

/**
 * A function recd_ctx_open_store calls with every context it opens, before returning it: `recd
 * serve` meters the storage of every thread through it. NULL (the default) for none. Set it
 * before any thread opens a context.
 */
void recd_ctx_set_open_hook(void (*hook)(struct recd_ctx *ctx, void *arg), void *arg);

/**
 * Creates an account (a subaccount of `parent_sid` when not NULL; the parent must exist and be a
 * top-level account, else RECD_E_BAD_INPUT). Fills *out and writes the clear auth token (32 hex
 * and a NUL) to `token`, which is shown once and stored only hashed.
 */
int recd_account_create(struct recd_ctx *ctx, const char *name, const char *parent_sid,
                        struct recd_account *out, char token[33]);

/** Creates an API key of `account_sid`; the clear secret (32 hex) goes to `secret`. */
int recd_key_create(struct recd_ctx *ctx, const char *account_sid, const char *name, struct recd_key *out,
                    char secret[33]);

struct recd_import_opts {
    const char *account_sid;
    const char *call_sid;           /* NULL = none */
    const char *conference_sid;     /* NULL = none */
    const char *sid;                /* NULL = draw one; only with a single file */
    int64_t created_us;             /* 0 = now */
    int64_t start_us;               /* 0 = same as created */
    const char *source;             /* NULL = "RecordVerb" */
    const char *transcription_text; /* NULL = none; else a completed transcription is attached */
    int batch;                      /* files per transaction; 0 = 64 */
    int64_t updated_us;             /* 0 = same as created */
    /* Transcriptions to keep as they were elsewhere (`recd mirror`): sid, dates, status
     * (completed or failed), type, duration and text are stored as given, account and recording
     * are this import's. Only with `sid`, not with transcription_text. Committed with the row. */
    const struct recd_transcription *transcriptions;
    int ntranscriptions;
};

/**
 * Imports `n` WAV files. Every file and option is checked first; if any is bad, nothing is
 * stored, RECD_E_BAD_INPUT (or RECD_E_EXISTS, RECD_E_NOT_FOUND for the account) is returned and
 * `why` gets a one-line reason. Then, batch by batch, the media is written durably and the
 * batch's rows are committed in one transaction; `done` is called for each recording once its
 * batch has committed (and only then may the caller acknowledge it).
 */
int recd_import(struct recd_ctx *ctx, const struct recd_import_opts *o, char *const paths[], int n,
                recd_recording_cb done, void *done_ctx, char *why, size_t why_n);

/**
 * Deletes a recording: the metadata commits as "deleted" first, then the media and its derived
 * files are unlinked, so that no crash leaves metadata pointing at missing media.
 * RECD_E_NOT_FOUND when absent or already deleted.
 */
int recd_recording_delete(struct recd_store *st, struct recd_blob *bl, const char *sid);

/** Purges the metadata of recordings deleted more than 40 days before `now_us`. */
int recd_purge(struct recd_ctx *ctx, int64_t now_us, int64_t *n);

#define RECD_RETENTION_US (INT64_C(40) * 86400 * 1000000)

struct recd_fsck_report {
    int64_t recordings; /* live recordings checked */
    int64_t damaged;    /* metadata whose media is missing or altered */
    int64_t orphans;    /* media with no live recording */
    int64_t leftovers;  /* temporary files of interrupted writes */
    int64_t derived;    /* derived files (waveforms) that differ from what their recording gives */
    int64_t repaired;   /* files removed by --repair */
};

/**
 * Checks that store and media agree, printing one line per finding to `out`. With `repair`,
 * orphans and leftovers are removed (under the exclusive lock, so no import is in flight).
 * Returns 0 (see the report; damaged > 0 is the caller's exit 1) or RECD_E_* when it could not run.
 */
int recd_fsck(struct recd_ctx *ctx, int repair, void *out /* FILE* */, struct recd_fsck_report *rep);

/** 0 when s[0…n) is an absolute http or https URL with a host, of printable ASCII and at most
 * RECD_URL_MAX bytes: what a number's webhook URLs must be. Else -1. */
int recd_url_check(const char *s, size_t n);

/** 0 when s[0…n) can be a number's phone_number: 1 to RECD_ADDR_MAX characters of digits,
 * letters and + - . _ * # (an E.164 number, or a SIP user part). Else -1. */
int recd_phone_number_check(const char *s, size_t n);

struct recd_number_opts {
    const char *account_sid;
    const char *phone_number;
    const char *friendly_name;          /* NULL = the phone number */
    const char *voice_url;              /* required */
    const char *voice_method;           /* NULL = POST; GET or POST, any case */
    const char *voice_fallback_url;     /* NULL = none */
    const char *voice_fallback_method;  /* NULL = POST */
    const char *status_callback;        /* NULL = none */
    const char *status_callback_method; /* NULL = POST */
};

/** Checks `o` without the store: 0, or RECD_E_BAD_INPUT with a one-line reason in `why`. */
int recd_number_opts_check(const struct recd_number_opts *o, char *why, size_t why_n);

/**
 * Checks and stores a number (`recd number add`). Bad input is RECD_E_BAD_INPUT, an unknown account
 * RECD_E_NOT_FOUND, a phone number already in use RECD_E_EXISTS, each with a one-line reason in
 * `why`; nothing is stored then. On success *out is the stored number.
 */
int recd_number_add(struct recd_ctx *ctx, const struct recd_number_opts *o, struct recd_number *out,
                    char *why, size_t why_n);

/**
 * Takes (RECD_BLOB_WRITING, RECD_BLOB_REPAIRING, waiting for it) or releases (RECD_BLOB_RELEASE)
 * the media repair guard: the blob store's own (the processes of this machine) and then the
 * store's (every machine sharing the store, where it has one). Writers of media whose row has not
 * committed yet hold it shared; `fsck --repair` holds it exclusive. 0 or RECD_E_*.
 */
int recd_media_guard(struct recd_store *st, struct recd_blob *bl, enum recd_blob_guard how);

/** Room for the longest media key: a sid and ".peaks65536.json", and a NUL. */
#define RECD_MEDIA_KEY_MAX 64

/** Blob key of a recording's media: sid + suffix (".wav", ".mp3", ".mono.wav", ".mono.mp3",
 * ".peaks256.dat", …). */
void recd_media_key(char out[RECD_MEDIA_KEY_MAX], const char *sid, const char *suffix);

/**
 * Opens one of a recording's media files: the stored WAV (".wav"), or a file derived from it
 * (".mp3", ".mono.wav", ".mono.mp3", and its waveform peaks ".peaks<N>.dat" and ".json" as
 * recd_peaks_suffix makes them), which is made on first request, stored durably beside the
 * WAV, and kept. Both peaks formats of one SamplesPerPixel are made together, from one pass.
 * When several threads of one process ask for a file that does not exist yet, one derives it
 * and the others wait for that result. *fd (the caller closes it) and *size on success;
 * RECD_E_BAD_INPUT if a mono variant is asked of a mono recording; RECD_E_INTERNAL when the
 * file cannot be produced (nothing partial is ever left under the key).
 */
int recd_media_open(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                    const char *suffix, int *fd, int64_t *size);

/** As recd_media_open, but only the size (*size) of the file, derived first if need be: what a
 * conditional or Range request needs before it reads anything. The stored WAV's size comes from
 * its row (r->media_size), and a derived file's, once seen, from memory (derived.c says why that
 * holds across nodes), without asking the media backend. */
int recd_media_stat(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                    const char *suffix, int64_t *size);

/** As recd_media_stat, but the size the media store holds now, never the row's or one remembered:
 * for when recd_media_open_range() found the file shorter than the size a range was planned
 * from (a file damaged or replaced behind recd's back). The size it finds is remembered. */
int recd_media_restat(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                      const char *suffix, int64_t *size);

/** Opens bytes [off, off + len) of a file recd_media_stat() has found (blob.h, open_range): from
 * an object store, only that range is fetched. A derived file found missing is made again.
 * RECD_E_RANGE when the file is shorter than off + len (its remembered size is then forgotten). */
int recd_media_open_range(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                          const char *suffix, int64_t off, int64_t len, int *fd, int64_t *fd_off, int *whole);

#endif
