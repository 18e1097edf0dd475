#include "core/error.h"
#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One slot of any kind: what recd_page_finish swaps items through. */
union page_item {
    struct recd_recording r;
    struct recd_transcription t;
    struct recd_call c;
};

static size_t item_size(enum recd_page_kind kind)
{
    switch (kind) {
    case RECD_PAGE_RECORDINGS: return sizeof(struct recd_recording);
    case RECD_PAGE_CALLS: return sizeof(struct recd_call);
    default: return sizeof(struct recd_transcription);
    }
}

void recd_list_query_init(struct recd_list_query *q, const char *account_sid)
{
    memset(q, 0, sizeof *q);
    q->account_sid = account_sid;
    q->created_ge_us = q->start_ge_us = q->end_ge_us = INT64_MIN;
    q->created_lt_us = q->start_lt_us = q->end_lt_us = INT64_MAX;
    q->limit = RECD_LIST_LIMIT_MAX;
}

void recd_page_init(struct recd_page *pg)
{
    memset(pg, 0, sizeof *pg);
    recd_buf_init(&pg->text, 0);
}

void recd_page_free(struct recd_page *pg)
{
    free(pg->items);
    free(pg->text_off);
    recd_buf_free(&pg->text);
    recd_page_init(pg);
}

int recd_page_start(struct recd_page *pg, enum recd_page_kind kind, int slots)
{
    size_t need = (size_t)slots * item_size(kind);
    if (slots < 0 || slots > RECD_LIST_LIMIT_MAX + 1)
        return RECD_E_INTERNAL;
    /* Kept between fills: a worker lists pages of one size over and over. */
    if (need > pg->cap_bytes) {
        void *p = realloc(pg->items, need);
        if (!p)
            return RECD_E_INTERNAL;
        pg->items = p;
        pg->cap_bytes = need;
    }
    if (kind == RECD_PAGE_TRANSCRIPTIONS && (size_t)slots > pg->text_cap) {
        size_t *o = realloc(pg->text_off, (size_t)slots * sizeof *o);
        if (!o)
            return RECD_E_INTERNAL;
        pg->text_off = o;
        pg->text_cap = (size_t)slots;
    }
    pg->kind = kind;
    pg->count = 0;
    pg->has_more = 0;
    memset(&pg->first, 0, sizeof pg->first);
    memset(&pg->last, 0, sizeof pg->last);
    recd_buf_reset(&pg->text);
    return 0;
}

void *recd_page_slot(struct recd_page *pg, int i)
{
    size_t sz = item_size(pg->kind);
    void *p = (char *)pg->items + (size_t)i * sz;
    memset(p, 0, sz);
    return p;
}

void recd_page_set_text(struct recd_page *pg, int i, const char *p, size_t n)
{
    struct recd_transcription *t = &pg->transcriptions[i];
    /* Offsets now, pointers in recd_page_finish: the buffer may move while it grows. */
    pg->text_off[i] = pg->text.len;
    t->text_null = p == NULL;
    t->text_len = p ? n : 0;
    if (p)
        recd_buf_add(&pg->text, p, n);
}

static void anchor_of(const struct recd_page *pg, int i, struct recd_page_anchor *a)
{
    if (pg->kind == RECD_PAGE_RECORDINGS) {
        a->us = pg->recordings[i].created_us;
        memcpy(a->sid, pg->recordings[i].sid, sizeof a->sid);
    } else if (pg->kind == RECD_PAGE_CALLS) {
        a->us = pg->calls[i].created_us;
        memcpy(a->sid, pg->calls[i].sid, sizeof a->sid);
    } else {
        a->us = pg->transcriptions[i].created_us;
        memcpy(a->sid, pg->transcriptions[i].sid, sizeof a->sid);
    }
}

void recd_page_finish(struct recd_page *pg, int fetched, int limit, enum recd_anchor_dir dir)
{
    size_t sz = item_size(pg->kind);
    /* The rows come nearest the anchor first, so the look-ahead row is always the last one
     * fetched, in either direction: dropping it is a matter of the count alone. */
    pg->has_more = fetched > limit;
    pg->count = pg->has_more ? limit : fetched;
    if (dir == RECD_ANCHOR_BEFORE) {
        /* Fetched oldest first; shown newest first, like every other page. */
        char tmp[sizeof(union page_item)];
        for (int i = 0, j = pg->count - 1; i < j; i++, j--) {
            char *a = (char *)pg->items + (size_t)i * sz, *b = (char *)pg->items + (size_t)j * sz;
            memcpy(tmp, a, sz);
            memcpy(a, b, sz);
            memcpy(b, tmp, sz);
            if (pg->kind == RECD_PAGE_TRANSCRIPTIONS) {
                size_t o = pg->text_off[i];
                pg->text_off[i] = pg->text_off[j];
                pg->text_off[j] = o;
            }
        }
    }
    if (pg->kind == RECD_PAGE_TRANSCRIPTIONS)
        for (int i = 0; i < pg->count; i++)
            pg->transcriptions[i].text = pg->text.p ? pg->text.p + pg->text_off[i] : "";
    if (pg->count) {
        anchor_of(pg, 0, &pg->first);
        anchor_of(pg, pg->count - 1, &pg->last);
    }
}

const void *recd_page_item(const struct recd_page *pg, int i)
{
    return (const char *)pg->items + (size_t)i * item_size(pg->kind);
}
