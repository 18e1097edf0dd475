#ifndef RECD_CORE_BUF_H
#define RECD_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

/** A borrowed run of bytes; never owns its memory. */
struct recd_str {
    const char *p;
    size_t n;
};

#define RECD_STR(lit) ((struct recd_str){(lit), sizeof(lit) - 1})

/** A NUL-terminated string viewed as a slice. */
struct recd_str recd_str_c(const char *s);

/** 1 when `a` equals the C string `lit`, else 0. */
int recd_str_eq(struct recd_str a, const char *lit);

/**
 * A growable byte buffer that owns its memory. Always NUL-terminated after the first append,
 * so `p` can be handed to C APIs. Growth aborts the process on allocation failure: every
 * buffer recd fills is bounded by a request limit (a page is at most 1000 items), so running
 * out here means the machine is out of memory, not that a client asked for too much.
 */
struct recd_buf {
    char *p;
    size_t len;
    size_t cap;
};

void recd_buf_init(struct recd_buf *b, size_t cap);
void recd_buf_free(struct recd_buf *b);
/** Forgets the contents, keeps the memory. */
void recd_buf_reset(struct recd_buf *b);
/** Hands the memory to the caller (free() it) and leaves `b` empty. */
char *recd_buf_steal(struct recd_buf *b, size_t *len);
/** Grows the buffer so that `more` bytes and a NUL fit after `len` (the slow path of reserve). */
void recd_buf_grow(struct recd_buf *b, size_t more);

/* The appends are inline: rendering a page calls them thousands of times, and the fast path is a
 * compare and a copy. */
static inline void recd_buf_reserve(struct recd_buf *b, size_t more)
{
    if (b->len + more + 1 > b->cap)
        recd_buf_grow(b, more);
}

static inline void recd_buf_add(struct recd_buf *b, const void *p, size_t n)
{
    recd_buf_reserve(b, n);
    if (n)
        __builtin_memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void recd_buf_addc(struct recd_buf *b, char c)
{
    recd_buf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static inline void recd_buf_adds(struct recd_buf *b, const char *s)
{
    recd_buf_add(b, s, __builtin_strlen(s));
}

static inline void recd_buf_addstr(struct recd_buf *b, struct recd_str s)
{
    recd_buf_add(b, s.p, s.n);
}
void recd_buf_addi(struct recd_buf *b, int64_t v);
void recd_buf_printf(struct recd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Appends `s` escaped for the inside of a JSON string, without quotes. */
void recd_buf_json_esc(struct recd_buf *b, struct recd_str s);
/** Appends `s` as a JSON string literal, quotes included, escaping as RFC 8259 requires. */
void recd_buf_json_str(struct recd_buf *b, struct recd_str s);
/** Appends `s` as XML text or attribute content, escaping & < > " ' and dropping bytes XML 1.0 forbids. */
void recd_buf_xml_text(struct recd_buf *b, struct recd_str s);
/** Appends `s` percent-encoded for a query component (unreserved characters kept). */
void recd_buf_url_enc(struct recd_buf *b, struct recd_str s);

#endif
