#ifndef RECD_MEDIA_BLOB_S3_H
#define RECD_MEDIA_BLOB_S3_H

#include "media/blob.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The blob store on an S3-compatible bucket (contract §9), behind blob.h like the filesystem
 * one. Objects are named PREFIX + key ("RE….wav", "RE….mp3", …); requests are signed with AWS
 * Signature V4 by libcurl (CURLOPT_AWS_SIGV4), path-style (endpoint/bucket/key) unless the
 * location asks for virtual-hosted style. docs/scale-out.md has the whole design.
 *
 * A location is "s3://BUCKET[/PREFIX]?endpoint=URL&region=R[&style=path|virtual]": endpoint
 * defaults to https://s3.REGION.amazonaws.com and region to us-east-1. Credentials are never part
 * of it: they come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or
 * from a file in the AWS shared-credentials format, and are never logged.
 */

#define RECD_S3_BUCKET_MAX   63
#define RECD_S3_PREFIX_MAX   256
#define RECD_S3_REGION_MAX   32
#define RECD_S3_ENDPOINT_MAX 256
#define RECD_S3_KEY_ID_MAX   128
#define RECD_S3_SECRET_MAX   128
#define RECD_S3_TOKEN_MAX    2048

/** Objects at or above this size are uploaded in parts of RECD_S3_PART_SIZE (multipart upload);
 * smaller ones in one PUT. S3 wants parts of at least 5 MiB but the last. */
#define RECD_S3_MULTIPART_MIN (INT64_C(16) << 20)
#define RECD_S3_PART_SIZE     (INT64_C(8) << 20)

/** A parsed media location and the credentials to use with it. */
struct recd_s3_config {
    char bucket[RECD_S3_BUCKET_MAX + 1];
    char prefix[RECD_S3_PREFIX_MAX + 1]; /* "" or ending in '/' */
    char region[RECD_S3_REGION_MAX + 1];
    char endpoint[RECD_S3_ENDPOINT_MAX + 1]; /* scheme://host[:port], no trailing slash */
    int virtual_host;                        /* 1: https://BUCKET.host/key; 0: https://host/BUCKET/key */
    char key_id[RECD_S3_KEY_ID_MAX + 1];
    char secret[RECD_S3_SECRET_MAX + 1];
    char token[RECD_S3_TOKEN_MAX + 1]; /* "" = none (x-amz-security-token otherwise) */
};

/** 1 when `location` names an S3 bucket ("s3://…"). */
int recd_s3_is_location(const char *location);

/**
 * Parses an "s3://…" location into *cfg (credentials untouched). 0, or -1 with a one-line reason
 * in `why` (the location itself has no secret in it, so it may be quoted).
 */
int recd_s3_parse_location(const char *location, struct recd_s3_config *cfg, char *why, size_t why_n);

/**
 * Fills the credentials of *cfg: from the file `file` when not NULL (AWS shared-credentials
 * format: its [default] section, or its only keys, aws_access_key_id, aws_secret_access_key and
 * optionally aws_session_token), else from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN. 0, or -1 with a one-line reason in `why` that never contains a secret.
 */
int recd_s3_load_credentials(struct recd_s3_config *cfg, const char *file, char *why, size_t why_n);

/**
 * Opens the blob store on the bucket of `cfg` (copied). No request is made yet: an unreachable
 * bucket shows on the first operation, as RECD_E_UNAVAILABLE. `local_dir` is a folder on this
 * machine (the data folder) for the repair guard's lock file and the temporary files that ranges
 * and objects are read into. One handle per thread (it owns one libcurl handle, whose connection
 * is reused from request to request).
 */
int recd_blob_s3_open(const struct recd_s3_config *cfg, const char *local_dir, struct recd_blob **out);

/* --- Parsers of S3's answers (outside input: bounded, fuzzed, never trusted). ------------------ */

/** The longest answer body recd reads; a longer one is an error. */
#define RECD_S3_BODY_MAX         (4 << 20)
#define RECD_S3_CODE_MAX         64
#define RECD_S3_MSG_MAX          256
#define RECD_S3_UPLOAD_ID_MAX    1024
#define RECD_S3_TOKEN_ANSWER_MAX 1024

/** An error answer: <Error><Code>…</Code><Message>…</Message></Error>. 0 when the body is one
 * (code and msg filled, printable ASCII, cut to fit), -1 otherwise. */
int recd_s3_parse_error(const char *xml, size_t n, char code[RECD_S3_CODE_MAX + 1],
                        char msg[RECD_S3_MSG_MAX + 1]);

/** InitiateMultipartUploadResult's UploadId: 0 with `id` set (printable ASCII, no spaces), or -1. */
int recd_s3_parse_upload_id(const char *xml, size_t n, char id[RECD_S3_UPLOAD_ID_MAX + 1]);

/** CompleteMultipartUploadResult (S3 may answer 200 with an <Error> body instead): 1 when the body
 * is the result, 0 when it is an error (code, msg filled), -1 when it is neither. */
int recd_s3_parse_complete(const char *xml, size_t n, char code[RECD_S3_CODE_MAX + 1],
                           char msg[RECD_S3_MSG_MAX + 1]);

/** One entry of a listing: an object (key, size) or an upload in progress (key, upload id). */
typedef int (*recd_s3_entry_cb)(void *ctx, const char *key, int64_t size, const char *upload_id,
                                int64_t initiated_s);

/**
 * A ListObjectsV2 answer (ListBucketResult): `cb` for each Contents (key, size; upload_id NULL,
 * initiated_s -1); *truncated and `next` (NextContinuationToken, "" when none). Or a
 * ListMultipartUploadsResult: `cb` for each Upload (key, size -1, upload id, initiated in seconds
 * since the epoch); *truncated, `next` (NextKeyMarker) and `next2` (NextUploadIdMarker).
 * Returns 0, -1 when the body is neither (or malformed, or its values are out of bounds), or what
 * a callback returned when it was not 0.
 */
int recd_s3_parse_list(const char *xml, size_t n, recd_s3_entry_cb cb, void *ctx, int *truncated,
                       char next[RECD_S3_TOKEN_ANSWER_MAX + 1], char next2[RECD_S3_UPLOAD_ID_MAX + 1]);

/** A Content-Range answer "bytes FIRST-LAST/SIZE": 0 with the three set, or -1. */
int recd_s3_parse_content_range(const char *v, size_t n, int64_t *first, int64_t *last, int64_t *size);

#endif
