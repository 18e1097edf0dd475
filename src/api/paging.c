#include "api/paging.h"

#include "core/codec.h"
#include "core/error.h"
#include "core/time.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A strict non-negative decimal (no sign, no spaces, at most 18 digits). */
static int parse_uint(const struct recd_str *s, int64_t *v)
{
    if (s->n == 0 || s->n > 18)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i] < '0' || s->p[i] > '9')
            return -1;
        x = x * 10 + (s->p[i] - '0');
    }
    *v = x;
    return 0;
}

static void copy_sid(char dst[RECD_SID_LEN + 1], const char *src)
{
    memcpy(dst, src, RECD_SID_LEN);
    dst[RECD_SID_LEN] = '\0';
}

void recd_page_token_encode(char out[RECD_PAGE_TOKEN_LEN + 1], char dir, int64_t us, const char *sid)
{
    unsigned char raw[24];
    uint64_t u = (uint64_t)us;
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)(u >> (56 - 8 * i));
    for (int i = 0; i < 16; i++) {
        unsigned char hi = (unsigned char)sid[2 + 2 * i], lo = (unsigned char)sid[3 + 2 * i];
        raw[8 + i] = (unsigned char)(((hi <= '9' ? hi - '0' : hi - 'a' + 10) << 4) |
                                     (lo <= '9' ? lo - '0' : lo - 'a' + 10));
    }
    out[0] = 'P';
    out[1] = dir;
    recd_b64url_encode(raw, sizeof raw, out + 2);
}

int recd_page_token_decode(const char *s, size_t n, const char prefix[2], struct recd_list_query *q)
{
    unsigned char raw[24];
    size_t got;
    if (n != RECD_PAGE_TOKEN_LEN || s[0] != 'P' || (s[1] != 'A' && s[1] != 'B'))
        return RECD_E_PAGE_TOKEN;
    if (recd_b64url_decode(s + 2, n - 2, raw, sizeof raw, &got) < 0 || got != sizeof raw)
        return RECD_E_PAGE_TOKEN;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | raw[i];
    q->anchor_dir = s[1] == 'A' ? RECD_ANCHOR_AFTER : RECD_ANCHOR_BEFORE;
    q->anchor_us = (int64_t)u;
    /* The sid's prefix is not in the token: it is the same for every item of a list. */
    q->anchor_sid[0] = prefix[0];
    q->anchor_sid[1] = prefix[1];
    recd_hex(q->anchor_sid + 2, raw + 8, 16);
    return 0;
}

/* Narrows [*ge, *lt) by date filter `v` with operator `op` ('=', '<' or '>': contract §2). */
static int date_filter(const struct recd_str *v, int op, int64_t *ge, int64_t *lt)
{
    int64_t us;
    int is_day;
    if (recd_time_parse_filter(v->p, v->n, &us, &is_day) < 0)
        return RECD_E_BAD_PARAM;
    /* A timestamp given for "on the day" means the GMT day that contains it. */
    int64_t day = us - ((us % RECD_US_PER_DAY) + RECD_US_PER_DAY) % RECD_US_PER_DAY;
    int64_t lo, hi;
    switch (op) {
    case '=':
        lo = day;
        hi = day + RECD_US_PER_DAY;
        break;
    case '>':
        lo = us;
        hi = INT64_MAX;
        break;
    default: /* '<': on or before: through the end of day D, or up to and including instant T */
        lo = INT64_MIN;
        hi = is_day ? us + RECD_US_PER_DAY : us + 1;
        break;
    }
    if (lo > *ge)
        *ge = lo;
    if (hi < *lt)
        *lt = hi;
    return 0;
}

/* The three filters of one date (X, X< and X>) into [*ge, *lt). */
static int date_filters(const struct recd_query *qs, const char *const keys[3],
                        const struct recd_str *given[3], int64_t *ge, int64_t *lt, const char **bad)
{
    static const char ops[3] = {'=', '<', '>'};
    for (int i = 0; i < 3; i++) {
        *bad = keys[i];
        if ((given[i] = recd_query_get(qs, keys[i])) && date_filter(given[i], ops[i], ge, lt) < 0)
            return RECD_E_BAD_PARAM;
    }
    return 0;
}

/* A text filter into `buf` (NUL-terminated for the store); longer than `cap` - 1 is refused. */
static int text_filter(const struct recd_str *v, char *buf, size_t cap, const char **out)
{
    if (v->n >= cap)
        return RECD_E_BAD_PARAM;
    memcpy(buf, v->p, v->n);
    buf[v->n] = '\0';
    *out = buf;
    return 0;
}

/* The call lists' filters (contract §7): To, From, Status and the StartTime and EndTime families,
 * which read like DateCreated's. A time filter leaves out calls that have no such time yet. */
static int parse_call_filters(const struct recd_query *qs, struct recd_list_params *lp, const char **bad)
{
    static const char *const start_keys[3] = {"StartTime", "StartTime<", "StartTime>"};
    static const char *const end_keys[3] = {"EndTime", "EndTime<", "EndTime>"};
    struct recd_list_query *q = &lp->q;
    const struct recd_str *start[3], *end[3];
    *bad = "To";
    if ((lp->to = recd_query_get(qs, "To")) && text_filter(lp->to, lp->to_buf, sizeof lp->to_buf, &q->to) < 0)
        return RECD_E_BAD_PARAM;
    *bad = "From";
    if ((lp->from = recd_query_get(qs, "From")) &&
        text_filter(lp->from, lp->from_buf, sizeof lp->from_buf, &q->from) < 0)
        return RECD_E_BAD_PARAM;
    *bad = "Status";
    if ((lp->status = recd_query_get(qs, "Status")) &&
        (text_filter(lp->status, lp->status_buf, sizeof lp->status_buf, &q->status) < 0 ||
         !recd_call_status_valid(lp->status_buf)))
        return RECD_E_BAD_PARAM;
    if (date_filters(qs, start_keys, start, &q->start_ge_us, &q->start_lt_us, bad) < 0 ||
        date_filters(qs, end_keys, end, &q->end_ge_us, &q->end_lt_us, bad) < 0)
        return RECD_E_BAD_PARAM;
    lp->start_eq = start[0], lp->start_lt = start[1], lp->start_gt = start[2];
    lp->end_eq = end[0], lp->end_lt = end[1], lp->end_gt = end[2];
    if (q->start_ge_us >= q->start_lt_us || q->end_ge_us >= q->end_lt_us)
        lp->empty = 1;
    return 0;
}

/* The recording lists' filters (contract §2): CallSid, ConferenceSid, the DateCreated family and
 * IncludeSoftDeleted, narrowed with what the path already fixes. */
static int parse_filters(const struct recd_query *qs, struct recd_list_params *lp, const char **bad)
{
    struct recd_list_query *q = &lp->q;
    *bad = "CallSid";
    if ((lp->call_sid = recd_query_get(qs, "CallSid"))) {
        if (!recd_sid_valid(lp->call_sid->p, lp->call_sid->n, "CA", 1))
            return RECD_E_BAD_PARAM;
        copy_sid(lp->call_buf, lp->call_sid->p);
        if (q->call_sid && strcmp(q->call_sid, lp->call_buf) != 0)
            lp->empty = 1;
        q->call_sid = lp->call_buf;
    }
    *bad = "ConferenceSid";
    if ((lp->conference_sid = recd_query_get(qs, "ConferenceSid"))) {
        if (!recd_sid_valid(lp->conference_sid->p, lp->conference_sid->n, "CF", 1))
            return RECD_E_BAD_PARAM;
        copy_sid(lp->conf_buf, lp->conference_sid->p);
        if (q->conference_sid && strcmp(q->conference_sid, lp->conf_buf) != 0)
            lp->empty = 1;
        q->conference_sid = lp->conf_buf;
    }
    static const char *const date_keys[3] = {"DateCreated", "DateCreated<", "DateCreated>"};
    const struct recd_str *date[3];
    if (date_filters(qs, date_keys, date, &q->created_ge_us, &q->created_lt_us, bad) < 0)
        return RECD_E_BAD_PARAM;
    lp->date_eq = date[0], lp->date_lt = date[1], lp->date_gt = date[2];
    *bad = "IncludeSoftDeleted";
    if ((lp->include_deleted = recd_query_get(qs, "IncludeSoftDeleted"))) {
        if (lp->include_deleted->n == 4 && strncasecmp(lp->include_deleted->p, "true", 4) == 0)
            q->include_deleted = 1;
        else if (!(lp->include_deleted->n == 5 && strncasecmp(lp->include_deleted->p, "false", 5) == 0))
            return RECD_E_BAD_PARAM;
    }
    if (q->created_ge_us >= q->created_lt_us)
        lp->empty = 1;
    return 0;
}

int recd_list_params_parse(const struct recd_query *qs, const struct recd_route *rt,
                           struct recd_list_params *lp, const char **bad)
{
    memset(lp, 0, sizeof *lp);
    struct recd_list_query *q = &lp->q;
    recd_list_query_init(q, rt->account_sid);
    lp->page_size = RECD_PAGE_SIZE_DEFAULT;

    const struct recd_str *v;
    int64_t x;
    *bad = "PageSize";
    if ((v = recd_query_get(qs, "PageSize"))) {
        /* Digits only; a number too long to parse is over the maximum too. */
        x = 0;
        for (size_t i = 0; i < v->n; i++)
            if (v->p[i] < '0' || v->p[i] > '9')
                return RECD_E_PAGE_SIZE;
        if (v->n == 0 || v->n > 18 || parse_uint(v, &x) < 0 || x < 1 || x > RECD_PAGE_SIZE_MAX)
            return RECD_E_PAGE_SIZE;
        lp->page_size = (int)x;
    }
    *bad = "Page";
    if ((v = recd_query_get(qs, "Page"))) {
        if (parse_uint(v, &x) < 0 || x > INT64_C(1000000000))
            return RECD_E_BAD_PARAM;
        lp->page = x;
    }
    int recordings = rt->kind == RECD_R_RECORDINGS || rt->kind == RECD_R_CALL_RECORDINGS ||
                     rt->kind == RECD_R_CONF_RECORDINGS;
    int calls = rt->kind == RECD_R_CALLS;
    *bad = "PageToken";
    if ((v = recd_query_get(qs, "PageToken"))) {
        if (recd_page_token_decode(v->p, v->n, recordings ? "RE" : calls ? "CA" : "TR", q) < 0)
            return RECD_E_PAGE_TOKEN;
        lp->has_token = 1;
        lp->token = v;
    } else {
        q->offset = lp->page * lp->page_size;
    }

    if (rt->call_sid[0])
        q->call_sid = rt->call_sid;
    if (rt->conference_sid[0])
        q->conference_sid = rt->conference_sid;
    if (rt->recording_sid[0])
        q->recording_sid = rt->recording_sid;

    /* Each list has its own filters; the transcription lists accept none. */
    return recordings ? parse_filters(qs, lp, bad) : calls ? parse_call_filters(qs, lp, bad) : 0;
}

static void add_param(struct recd_buf *b, int *first, const char *key, struct recd_str val)
{
    recd_buf_addc(b, *first ? '?' : '&');
    *first = 0;
    recd_buf_url_enc(b, recd_str_c(key));
    recd_buf_addc(b, '=');
    recd_buf_url_enc(b, val);
}

void recd_list_uri(struct recd_buf *b, struct recd_str base, const char *ext,
                   const struct recd_list_params *lp, int64_t page, const char *token)
{
    int first = 1;
    char num[24];
    recd_buf_addstr(b, base);
    recd_buf_adds(b, ext);
    /* Every filter a list may carry, in the order the URIs give them. */
#define P(key, field)                                                                                        \
    {                                                                                                        \
        key, offsetof(struct recd_list_params, field)                                                        \
    }
    static const struct {
        const char *key;
        size_t off;
    } filters[] = {
        P("CallSid", call_sid),
        P("ConferenceSid", conference_sid),
        P("DateCreated", date_eq),
        P("DateCreated<", date_lt),
        P("DateCreated>", date_gt),
        P("IncludeSoftDeleted", include_deleted),
        P("To", to),
        P("From", from),
        P("Status", status),
        P("StartTime", start_eq),
        P("StartTime<", start_lt),
        P("StartTime>", start_gt),
        P("EndTime", end_eq),
        P("EndTime<", end_lt),
        P("EndTime>", end_gt),
    };
#undef P
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        const struct recd_str *v = *(const struct recd_str *const *)((const char *)lp + filters[i].off);
        if (v)
            add_param(b, &first, filters[i].key, *v);
    }
    snprintf(num, sizeof num, "%d", lp->page_size);
    add_param(b, &first, "PageSize", recd_str_c(num));
    snprintf(num, sizeof num, "%lld", (long long)page);
    add_param(b, &first, "Page", recd_str_c(num));
    if (token)
        add_param(b, &first, "PageToken", recd_str_c(token));
}
