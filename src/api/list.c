#include "api/api_internal.h"
#include "api/paging.h"
#include "core/error.h"

#include <string.h>

/*
 * Lists (contract §2): one engine for every list resource. The store fills a page (items in
 * display order, whether more lie beyond, the anchors of its ends); the envelope's values are
 * worked out from it once, in envelope_of, and rendered as JSON or legacy XML from one table of
 * envelope fields. A new list resource is a struct recd_list_kind: a field table and two store
 * operations.
 */

static int recordings_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg)
{
    return st->ops->recording_page(st, q, pg);
}

static int recordings_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n)
{
    return st->ops->recording_count(st, q, n);
}

static int transcriptions_page(struct recd_store *st, const struct recd_list_query *q, struct recd_page *pg)
{
    return st->ops->transcription_page(st, q, pg);
}

static int transcriptions_count(struct recd_store *st, const struct recd_list_query *q, int64_t *n)
{
    return st->ops->transcription_count(st, q, n);
}

const struct recd_list_kind recd_list_recordings = {&recd_res_recording, "recordings", "Recordings",
                                                    recordings_page, recordings_count};
const struct recd_list_kind recd_list_transcriptions = {
    &recd_res_transcription, "transcriptions", "Transcriptions", transcriptions_page, transcriptions_count};
/* recd runs no add-ons: the list exists, so that clients walking it work, and is empty. */
const struct recd_list_kind recd_list_add_on_results = {NULL, "add_on_results", "AddOnResults", NULL, NULL};

/* The envelope's values, in the order of env_fields. */
enum env_value {
    ENV_FIRST_URI,
    ENV_END,
    ENV_PREV_URI,
    ENV_URI,
    ENV_PAGE_SIZE,
    ENV_START,
    ENV_NEXT_URI,
    ENV_PAGE,
    ENV_NUMPAGES,
    ENV_TOTAL,
    ENV_LAST_URI,
    ENV_COUNT
};

/* One row per envelope property: its JSON key (NULL: XML only), its XML attribute, and whether it
 * is a URI. JSON keys come in the order Twilio sends them. */
static const struct env_field {
    const char *json, *xml;
    int uri;
} env_fields[ENV_COUNT] = {
    [ENV_FIRST_URI] = {"first_page_uri", "firstpageuri", 1},
    [ENV_END] = {"end", "end", 0},
    [ENV_PREV_URI] = {"previous_page_uri", "previouspageuri", 1},
    [ENV_URI] = {"uri", "uri", 1},
    [ENV_PAGE_SIZE] = {"page_size", "pagesize", 0},
    [ENV_START] = {"start", "start", 0},
    [ENV_NEXT_URI] = {"next_page_uri", "nextpageuri", 1},
    [ENV_PAGE] = {"page", "page", 0},
    [ENV_NUMPAGES] = {NULL, "numpages", 0},
    [ENV_TOTAL] = {NULL, "total", 0},
    [ENV_LAST_URI] = {NULL, "lastpageuri", 1},
};

/* The legacy XML envelope's attribute order. */
static const unsigned char env_xml_order[] = {ENV_PAGE,     ENV_NUMPAGES, ENV_PAGE_SIZE, ENV_TOTAL,
                                              ENV_START,    ENV_END,      ENV_URI,       ENV_FIRST_URI,
                                              ENV_PREV_URI, ENV_NEXT_URI, ENV_LAST_URI};

/* A list URI: absent (null in JSON, "" in XML) or the list at `page`, with a token or none. */
struct env_uri {
    int present;
    int64_t page;
    const char *token;
};

struct envelope {
    int64_t num[ENV_COUNT];
    struct env_uri uri[ENV_COUNT];
    char cur_tok[RECD_PAGE_TOKEN_LEN + 1], prev_tok[RECD_PAGE_TOKEN_LEN + 1],
        next_tok[RECD_PAGE_TOKEN_LEN + 1];
};

static void set_uri(struct envelope *e, enum env_value v, int64_t page, const char *token)
{
    e->uri[v] = (struct env_uri){1, page, token};
}

/*
 * Every direction rule of paging, in one place. Walking forward (or by legacy offset), the page
 * after exists when the store saw more, and the page before whenever this is not page 0.
 * Walking backward, `has_more` speaks of the pages before; the page after exists whenever this
 * page has items (the walk came from there). A backward walk cannot go below page 0.
 */
static void envelope_of(const struct recd_list_params *lp, const struct recd_page *pg, int64_t total,
                        struct envelope *e)
{
    int before = lp->q.anchor_dir == RECD_ANCHOR_BEFORE;
    int64_t page = lp->page;
    int has_next = before ? pg->count > 0 : pg->has_more;
    int has_prev = before ? pg->has_more && page > 0 : page > 0;
    memset(e, 0, sizeof *e);
    e->num[ENV_PAGE] = page;
    e->num[ENV_PAGE_SIZE] = lp->page_size;
    e->num[ENV_START] = page * lp->page_size;
    e->num[ENV_END] = pg->count ? e->num[ENV_START] + pg->count - 1 : e->num[ENV_START];
    e->num[ENV_TOTAL] = total;
    e->num[ENV_NUMPAGES] = total ? (total + lp->page_size - 1) / lp->page_size : 1;
    if (lp->has_token) {
        memcpy(e->cur_tok, lp->token->p, RECD_PAGE_TOKEN_LEN);
        e->cur_tok[RECD_PAGE_TOKEN_LEN] = '\0';
    }
    set_uri(e, ENV_URI, page, lp->has_token ? e->cur_tok : NULL);
    set_uri(e, ENV_FIRST_URI, 0, NULL);
    set_uri(e, ENV_LAST_URI, e->num[ENV_NUMPAGES] - 1, NULL);
    if (has_prev) {
        /* An empty page has no first item to anchor on: the legacy offset finds the page. */
        if (pg->count)
            recd_page_token_encode(e->prev_tok, 'B', pg->first.us, pg->first.sid);
        set_uri(e, ENV_PREV_URI, page - 1, pg->count ? e->prev_tok : NULL);
    }
    if (has_next) {
        recd_page_token_encode(e->next_tok, 'A', pg->last.us, pg->last.sid);
        set_uri(e, ENV_NEXT_URI, page + 1, e->next_tok);
    }
}

static void render_items(struct call *c, const struct recd_list_kind *kind, const struct recd_page *pg)
{
    struct recd_buf *b = &c->rs->body;
    for (int i = 0; i < pg->count; i++) {
        const void *item = recd_page_item(pg, i);
        if (!c->json) {
            recd_render_xml(b, kind->res, item, &c->rc);
            continue;
        }
        if (i)
            recd_buf_addc(b, ',');
        recd_render_json(b, kind->res, item, &c->rc);
    }
}

static void render_json(struct call *c, const struct recd_list_kind *kind, const struct recd_list_params *lp,
                        const struct recd_page *pg, const struct envelope *e)
{
    struct recd_buf *b = &c->rs->body;
    recd_buf_adds(b, "{\"");
    recd_buf_adds(b, kind->json_key);
    recd_buf_adds(b, "\":[");
    render_items(c, kind, pg);
    recd_buf_addc(b, ']');
    for (int v = 0; v < ENV_COUNT; v++) {
        const struct env_field *f = &env_fields[v];
        if (!f->json)
            continue;
        recd_buf_adds(b, ",\"");
        recd_buf_adds(b, f->json);
        recd_buf_adds(b, "\":");
        if (!f->uri) {
            recd_buf_addi(b, e->num[v]);
        } else if (!e->uri[v].present) {
            recd_buf_adds(b, "null");
        } else {
            /* Percent-encoded throughout, so nothing in it needs JSON escaping. */
            recd_buf_addc(b, '"');
            recd_list_uri(b, c->rt.base, ".json", lp, e->uri[v].page, e->uri[v].token);
            recd_buf_addc(b, '"');
        }
    }
    recd_buf_addc(b, '}');
}

static void render_xml(struct call *c, const struct recd_list_kind *kind, const struct recd_list_params *lp,
                       const struct recd_page *pg, const struct envelope *e)
{
    struct recd_buf *b = &c->rs->body, u;
    recd_buf_init(&u, 256);
    recd_buf_adds(b, RECD_XML_DECL "<TwilioResponse><");
    recd_buf_adds(b, kind->xml_elem);
    for (size_t i = 0; i < sizeof env_xml_order; i++) {
        int v = env_xml_order[i];
        recd_buf_addc(b, ' ');
        recd_buf_adds(b, env_fields[v].xml);
        recd_buf_adds(b, "=\"");
        if (!env_fields[v].uri) {
            recd_buf_addi(b, e->num[v]);
        } else if (e->uri[v].present) {
            /* The legacy envelope's URIs have no extension; '&' between parameters is escaped. */
            recd_buf_reset(&u);
            recd_list_uri(&u, c->rt.base, "", lp, e->uri[v].page, e->uri[v].token);
            recd_buf_xml_text(b, (struct recd_str){u.p, u.len});
        }
        recd_buf_addc(b, '"');
    }
    recd_buf_free(&u);
    recd_buf_addc(b, '>');
    render_items(c, kind, pg);
    recd_buf_adds(b, "</");
    recd_buf_adds(b, kind->xml_elem);
    recd_buf_adds(b, "></TwilioResponse>");
}

/* A list under one recording exists only while the recording does. 0, or the error set. */
static int parent_recording_live(struct call *c)
{
    struct recd_recording r;
    if (!c->rt.recording_sid[0])
        return 0;
    int rc = c->st->ops->recording_get(c->st, c->rt.recording_sid, &r);
    if (rc == 0 && (strcmp(r.account_sid, c->rt.account_sid) != 0 || r.deleted_us))
        rc = RECD_E_NOT_FOUND;
    if (rc < 0)
        recd_call_fail(c, rc, "");
    return rc;
}

void recd_list_serve(struct call *c, const struct recd_list_kind *kind)
{
    struct recd_account acc;
    struct recd_list_params lp;
    const char *bad = NULL;
    if (recd_call_authorize(c, &acc) < 0)
        return;
    int rc = recd_list_params_parse(&c->qs, &c->rt, &lp, &bad);
    if (rc < 0) {
        recd_call_fail(c, rc, rc == RECD_E_BAD_PARAM ? bad : "");
        return;
    }
    struct recd_api_cache *cache;
    if (recd_call_from_cache(c, &cache) || parent_recording_live(c) < 0)
        return;

    struct recd_page pg;
    recd_page_init(&pg);
    lp.q.limit = lp.page_size;
    int64_t total = 0;
    if (kind->page && !lp.empty) {
        rc = kind->page(c->st, &lp.q, &pg);
        /* Only the legacy XML envelope has a total; JSON clients page without one. */
        if (rc == 0 && !c->json)
            rc = kind->count(c->st, &lp.q, &total);
        if (rc < 0) {
            recd_page_free(&pg);
            recd_call_fail(c, rc, NULL);
            return;
        }
    }
    struct envelope e;
    envelope_of(&lp, &pg, total, &e);
    recd_buf_reserve(&c->rs->body, 2048 + (size_t)pg.count * 1024);
    if (c->json) {
        recd_call_ok(c, RECD_CT_JSON);
        render_json(c, kind, &lp, &pg, &e);
    } else {
        recd_call_ok(c, RECD_CT_XML);
        render_xml(c, kind, &lp, &pg, &e);
    }
    recd_page_free(&pg);
    recd_call_cache_fill(c, cache);
}
