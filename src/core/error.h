#ifndef RECD_CORE_ERROR_H
#define RECD_CORE_ERROR_H

/*
 * Every error recd can report, in one table: name, HTTP status, Twilio code, message.
 * The enum, the lookups and the HTTP error bodies are all derived from this list, so an
 * error added here is complete everywhere. Messages may contain one "%s" that the caller fills
 * with a detail (a path, a parameter name).
 *
 * What functions return. Every function returns 0 (or a count, a length, a descriptor) on
 * success and a negative RECD_E_* value on failure, with two exceptions, each of which its
 * contract states as "0 or -1":
 *
 *  - A parser or validator of outside text (a date, a Range or If-* header, base64, a percent
 *    escape, a page token's fields) returns -1 for "not valid", logs nothing and changes no
 *    output. It cannot know what the text was for; its caller does, and maps -1 to the error the
 *    client must see (BAD_PARAM for a filter, PAGE_TOKEN for a token, UNAUTHORIZED for a
 *    credential), or to "ignore the header" where HTTP says so. Parsers built from smaller
 *    parsers pass -1 up unchanged.
 *  - A system-call helper (core/file.h's recd_write_all, recd_read_exact, recd_fsync, and
 *    static ones that open a file or directory and return its descriptor) returns -1 with
 *    errno set, like the calls it wraps, so that its caller can log strerror(errno) with the
 *    step it was doing; recd_err_from_errno() then gives the RECD_E_* value.
 *
 * Predicates (recd_sid_valid, recd_utf8_valid) return 1 or 0, and callbacks whose signature a
 * library fixes (libsndfile's virtual I/O) follow that library.
 */
#define RECD_ERROR_MAP(X)                                                                                    \
    X(NOT_FOUND, 404, 20404, "The requested resource %s was not found")                                      \
    X(UNAUTHORIZED, 401, 20003, "Authenticate")                                                              \
    X(FORBIDDEN, 403, 20403, "Forbidden")                                                                    \
    X(METHOD, 405, 20004, "Method not allowed")                                                              \
    X(CHANNELS, 400, 16113, "RequestedChannels=2 is not available: the recording has one channel%s")         \
    X(RANGE, 416, 20416, "Requested range not satisfiable%s")                                                \
    X(BAD_SIGNATURE, 401, 20003, "The signed link is invalid or has expired%s")                              \
    X(PAGE_SIZE, 400, 20007, "PageSize must be a whole number from 1 to 1000%s")                             \
    X(PAGE_TOKEN, 400, 21481, "Invalid PageToken%s")                                                         \
    X(BAD_PARAM, 400, 20001, "Invalid parameter: %s")                                                        \
    X(URI_TOO_LONG, 414, 20414, "Request URI too long%s")                                                    \
    X(TOO_LARGE, 413, 20413, "Request body too large%s")                                                     \
    X(HEADERS_TOO_LARGE, 431, 20431, "Request header fields too large%s")                                    \
    X(RATE_LIMITED, 429, 20429, "Too many requests%s")                                                       \
    X(INTERNAL, 500, 20500, "Internal server error%s")                                                       \
    X(UNAVAILABLE, 503, 20503, "Service unavailable%s")                                                      \
    X(EXISTS, 409, 20409, "Resource already exists: %s")                                                     \
    X(BAD_INPUT, 400, 20001, "Invalid input: %s")                                                            \
    X(NO_SPACE, 500, 20500, "No space left on the data volume%s")                                            \
    X(IO, 500, 20500, "Internal server error%s")                                                             \
    X(IN_PROGRESS, 400, 20009, "Cannot delete %s while it is in progress")                                   \
    X(VERSION, 505, 20505, "HTTP version not supported%s")

enum recd_err {
    RECD_OK = 0,
#define RECD_ERR_ENUM(name, status, code, msg) RECD_E_##name,
    RECD_E_FIRST_ = -1000,
    RECD_ERROR_MAP(RECD_ERR_ENUM)
#undef RECD_ERR_ENUM
        RECD_E_LAST_
};

/** RECD_E_NO_SPACE for ENOSPC and EDQUOT, RECD_E_IO for any other errno value. */
int recd_err_from_errno(int err);

/** The HTTP status of error `e` (a negative RECD_E_* value); 500 for an unknown value. */
int recd_err_status(int e);

/** The Twilio error code of `e`; 20500 for an unknown value. */
int recd_err_code(int e);

/** The message template of `e` (may contain one %s); static storage. */
const char *recd_err_template(int e);

/** The symbolic name of `e` ("NOT_FOUND"), for logs and tests; static storage. */
const char *recd_err_name(int e);

#endif
