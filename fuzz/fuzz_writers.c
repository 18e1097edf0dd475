/* The JSON and XML writers on arbitrary strings: the output must be a well-formed string literal
 * (JSON) or contain no raw markup characters (XML). */
#include "core/buf.h"

#include <stdint.h>
#include <string.h>

static void check_json(const char *s, size_t n)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        __builtin_trap();
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            __builtin_trap();
        if (c == '"')
            __builtin_trap(); /* every quote inside is escaped, so skipped below */
        if (c == '\\') {
            i++;
            if (i + 1 >= n || !strchr("\"\\nrtu", s[i]))
                __builtin_trap();
        }
    }
}

static void check_xml(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '<' || c == '>' || c == '"' || c == '\'' ||
            (c < 0x20 && c != '\n' && c != '\r' && c != '\t'))
            __builtin_trap();
        if (c == '&' && strncmp(s + i, "&amp;", 5) && strncmp(s + i, "&lt;", 4) &&
            strncmp(s + i, "&gt;", 4) && strncmp(s + i, "&quot;", 6) && strncmp(s + i, "&apos;", 6))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_buf b;
    recd_buf_init(&b, 0);
    struct recd_str in = {(const char *)data, size};
    recd_buf_json_str(&b, in);
    check_json(b.p, b.len);
    recd_buf_reset(&b);
    recd_buf_xml_text(&b, in);
    check_xml(b.p, b.len);
    recd_buf_reset(&b);
    recd_buf_url_enc(&b, in);
    for (size_t i = 0; i < b.len; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~%", b.p[i]))
            __builtin_trap();
    recd_buf_free(&b);
    return 0;
}
