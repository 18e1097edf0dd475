/*
 * The request reader (src/http/h1.c on http_parser) on any bytes, delivered in reads of a size
 * the first input byte chooses: every request it hands over must lie inside the buffer, with
 * NUL-terminated header values, a body within its limit, and a response head that fits.
 */
#include "http/h1.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_request(const struct recd_h1 *h)
{
    const char *lo = h->buf, *hi = h->buf + RECD_H1_BUF_SIZE;
    if (h->target.p && (h->target.p < lo || h->target.p + h->target.n > hi))
        __builtin_trap();
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct recd_h1_field *f = &h->fields[i];
        if (f->name < lo || f->value < lo || f->value + f->value_len >= hi ||
            f->value[f->value_len] != '\0' || f->name[f->name_len] != '\0')
            __builtin_trap();
    }
    if (h->body.len > RECD_H1_FORM_LIMIT || (!h->form && h->body.len))
        __builtin_trap();
    (void)recd_h1_header(h, "Authorization");
    (void)recd_h1_header(h, "Range");
    struct recd_response rs;
    recd_response_init(&rs);
    rs.status = 200;
    char head[RECD_H1_RESPONSE_HEAD_MAX];
    if (!recd_h1_response_head(head, sizeof head, &rs, h->body_bytes, h->keep_alive, h->http10,
                               "Mon, 07 Dec 2026 12:00:00 GMT"))
        __builtin_trap();
    recd_response_free(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] * 64 + 1; /* 1 … 16,321 bytes a read */
    data++;
    size--;
    struct recd_h1 h;
    recd_h1_init(&h);
    h.buf = malloc(RECD_H1_BUF_SIZE);
    if (!h.buf)
        abort();
    size_t off = 0;
    for (int rounds = 0; rounds < 100000; rounds++) {
        enum recd_h1_result r = recd_h1_parse(&h);
        if (r == RECD_H1_REFUSE)
            break;
        if (r == RECD_H1_REQUEST) {
            check_request(&h);
            if (!h.keep_alive)
                break;
            recd_h1_next(&h);
            continue;
        }
        if (off == size)
            break;
        size_t room = RECD_H1_BUF_SIZE - h.len;
        if (room == 0)
            __builtin_trap(); /* h1.h promises room whenever it asks for more */
        size_t k = size - off < step ? size - off : step;
        if (k > room)
            k = room;
        memcpy(h.buf + h.len, data + off, k);
        h.len += k;
        off += k;
    }
    free(h.buf);
    recd_h1_free(&h);
    return 0;
}
