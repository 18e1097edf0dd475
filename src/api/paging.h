#ifndef RECD_API_PAGING_H
#define RECD_API_PAGING_H

#include "api/route.h"
#include "core/buf.h"
#include "core/query.h"
#include "store/store.h"

#include <stdint.h>

/*
 * Lists: PageSize, Page, PageToken and the filters of recording lists (contract §2) and call
 * lists (§7), parsed into a store query, and the envelope URIs that carry them forward.
 *
 * A PageToken is "PA" (the page after) or "PB" (the page before) followed by the unpadded
 * base64url of the anchor item's creation time (8 bytes, big-endian µs) and the 16 bytes of its
 * sid's hex digits: 34 characters, URL-safe, opaque to clients, and enough to resume the walk by
 * value through the list index whatever was added or deleted meanwhile.
 */

#define RECD_PAGE_SIZE_DEFAULT 50
#define RECD_PAGE_SIZE_MAX     1000
#define RECD_PAGE_TOKEN_LEN    34

struct recd_list_params {
    int page_size;
    int64_t page;
    int has_token;
    int empty; /* the filters cannot match anything (a path CallSid and a different query CallSid) */
    struct recd_list_query q;
    /* The filters exactly as given, for the envelope URIs (recd_list_uri names them in a table). */
    const struct recd_str *call_sid, *conference_sid, *date_eq, *date_lt, *date_gt, *include_deleted;
    const struct recd_str *to, *from, *status, *start_eq, *start_lt, *start_gt, *end_eq, *end_lt, *end_gt;
    const struct recd_str *token;
    char call_buf[RECD_SID_LEN + 1]; /* the query's CallSid, NUL-terminated for the store */
    char conf_buf[RECD_SID_LEN + 1];
    char to_buf[RECD_ADDR_MAX + 1]; /* To, From and Status likewise */
    char from_buf[RECD_ADDR_MAX + 1];
    char status_buf[RECD_STATUS_MAX + 1];
};

/**
 * Reads the list parameters of `qs` for the list at `rt`, whose account is `rt->account_sid`.
 * Returns 0, or RECD_E_PAGE_SIZE / RECD_E_PAGE_TOKEN / RECD_E_BAD_PARAM with `*bad` naming the
 * parameter. Unknown parameters are ignored.
 */
int recd_list_params_parse(const struct recd_query *qs, const struct recd_route *rt,
                           struct recd_list_params *lp, const char **bad);

/** Encodes a token for the page after (dir 'A') or before ('B') the item (us, sid). `out` needs 35 bytes. */
void recd_page_token_encode(char out[RECD_PAGE_TOKEN_LEN + 1], char dir, int64_t us, const char *sid);

/** Decodes a token of a list whose items' sids begin with `prefix`; fills the anchor fields of `q`. 0 or
 * RECD_E_PAGE_TOKEN. */
int recd_page_token_decode(const char *s, size_t n, const char prefix[2], struct recd_list_query *q);

/**
 * Appends a list URI: `base` + `ext` + "?" + the filters of `lp` + PageSize + Page (+ PageToken
 * when `token` is not NULL). Keys and values are percent-encoded, so the libraries can follow
 * the URI as given.
 */
void recd_list_uri(struct recd_buf *b, struct recd_str base, const char *ext,
                   const struct recd_list_params *lp, int64_t page, const char *token);

#endif
