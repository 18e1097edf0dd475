#ifndef RECD_HTTP_H1_H
#define RECD_HTTP_H1_H

#include "api/api.h"
#include "core/buf.h"

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One connection's HTTP/1.1 request reader, on Node's http_parser (Debian's libhttp-parser):
 * the parser finds the request line, the headers and the body framing; this module keeps the
 * pieces it reports, applies recd's limits and refusals, and hands over one complete request at
 * a time. It does no I/O: the server appends what it reads to the buffer and calls
 * recd_h1_parse, so the fuzzer and the unit tests drive exactly the code the server runs.
 *
 * The buffer is the connection's: a request's target and header values point into it and stay
 * valid until recd_h1_next. Bodies are never kept in it: an
 * application/x-www-form-urlencoded body is copied out (bounded), any other body is counted
 * and dropped as it is parsed.
 */

#define RECD_H1_HEAD_LIMIT  (16 * 1024)   /* request line and headers; past it 431 (414 in the line) */
#define RECD_H1_BUF_SIZE    (32 * 1024)   /* the head limit and room to read bodies through */
#define RECD_H1_MAX_HEADERS 100           /* more header fields: 431 */
#define RECD_H1_BODY_LIMIT  (1024 * 1024) /* a declared body over it: 413, before it is read */
#define RECD_H1_FORM_LIMIT  (64 * 1024)   /* a form body over it: 413 */

enum recd_h1_result {
    RECD_H1_MORE = 0, /* needs more bytes: read and call again */
    RECD_H1_REQUEST,  /* a request is ready to answer */
    RECD_H1_REFUSE,   /* answer `err` and close: nothing more on this connection can be framed */
};

struct recd_h1_field {
    const char *name, *value; /* NUL-terminated, inside the buffer */
    uint32_t name_len, value_len;
};

struct recd_h1 {
    char *buf;  /* RECD_H1_BUF_SIZE bytes, or NULL while the connection has nothing buffered */
    size_t len; /* bytes in buf */
    size_t pos; /* bytes of buf the parser has seen */

    /* The request being read; valid from RECD_H1_REQUEST until recd_h1_next. */
    int started;        /* a byte of this request has been parsed */
    int head_done;      /* its head is complete */
    int err;            /* with RECD_H1_REFUSE: the RECD_E_* to answer */
    const char *why;    /* with RECD_H1_REFUSE: the detail for the error body, or NULL */
    const char *method; /* the method as sent (not NUL-terminated) */
    size_t method_len;
    enum recd_method m;
    struct recd_str target; /* the raw request target, inside the buffer */
    struct recd_h1_field fields[RECD_H1_MAX_HEADERS];
    unsigned nfields;
    int keep_alive;       /* the connection may carry another request after this one */
    int early;            /* answered before its (chunked) body, which is never read */
    int expect_continue;  /* the client waits for 100 Continue before sending the body */
    int form;             /* the body is a form, collected into `body` */
    struct recd_buf body; /* the form body (owned) */
    uint64_t body_bytes;  /* body bytes seen, kept or not */
    int http10;           /* an HTTP/1.0 request: its keep-alive must be confirmed */

    /* Parser bookkeeping. */
    http_parser p;
    size_t head_end;       /* offset just past the head, once head_done */
    int substituted;       /* the method was unknown to http_parser: see h1.c */
    int msg_done;          /* the parser reached the end of the message */
    int in_value;          /* the last header piece was a value */
    const char *piece_end; /* where the last name or value piece ended: a gap means obs-fold */
    int bad_name, folded, te_count, too_many;
};

/** Prepares `h` for a new connection (no buffer yet). */
void recd_h1_init(struct recd_h1 *h);

/** Frees what `h` owns except its buffer, which the caller gives back itself. */
void recd_h1_free(struct recd_h1 *h);

/**
 * Parses the bytes in h->buf past h->pos. RECD_H1_MORE: read more into buf + len (there is
 * always room: at least RECD_H1_BUF_SIZE - RECD_H1_HEAD_LIMIT bytes); RECD_H1_REQUEST: answer
 * the request described by h, then call recd_h1_next; RECD_H1_REFUSE: answer h->err (its
 * target, if known, says JSON or XML) and close the connection.
 */
enum recd_h1_result recd_h1_parse(struct recd_h1 *h);

/** After a request was answered: drops its bytes and keeps the next request's, if any. */
void recd_h1_next(struct recd_h1 *h);

/** A header of the current request by name (case-insensitive), or NULL. */
const char *recd_h1_header(const struct recd_h1 *h, const char *name);

/** 1 when `target`'s path ends in ".json": its errors are JSON (contract §3). */
int recd_h1_wants_json(struct recd_str target);

/**
 * Writes the response head for `rs` into out[cap]: status line, Date (`date`, an IMF-fixdate),
 * the entity and CORS headers, Content-Length `length` (none for 1xx, 204 and 304) and the
 * Connection header `keep_alive` and `http10` call for. Returns its length, or 0 when it would
 * not fit (it always does in RECD_H1_RESPONSE_HEAD_MAX).
 */
#define RECD_H1_RESPONSE_HEAD_MAX 1536
size_t recd_h1_response_head(char *out, size_t cap, const struct recd_response *rs, uint64_t length,
                             int keep_alive, int http10, const char *date);

#endif
