#include "core/json.h"
#include "stt/stt_internal.h"

#include <string.h>

/*
 * What an external engine answers, read with the project's JSON reader (core/json.c): the whole
 * document is checked, and only the top-level "text" member is kept.
 */

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

int recd_stt_json_text(const char *p, size_t n, size_t max_text, struct recd_buf *text)
{
    struct recd_json j;
    recd_json_init(&j);
    recd_buf_reset(text);
    /* The document is one level deeper than the values inside it. */
    if (recd_json_parse(&j, p, n, RECD_STT_JSON_DEPTH + 1) != 0 || recd_json_type(&j, 0) != RECD_JSON_OBJECT)
        goto bad;
    long t = recd_json_member(&j, 0, "text");
    if (t < 0 || recd_json_string(&j, (size_t)t, text, max_text) < 0)
        goto bad;
    recd_json_free(&j);
    /* Trim: engines pad the text with a leading space (Whisper does). */
    size_t s = 0, e = text->len;
    while (s < e && is_space(text->p[s]))
        s++;
    while (e > s && is_space(text->p[e - 1]))
        e--;
    if (s)
        memmove(text->p, text->p + s, e - s);
    text->len = e - s;
    recd_buf_add(text, "", 0);
    return 0;
bad:
    recd_json_free(&j);
    recd_buf_reset(text);
    recd_buf_add(text, "", 0);
    return -1;
}
