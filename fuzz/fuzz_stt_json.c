/* What an external speech engine answers: the JSON reader that finds its "text". */
#include "core/utf8.h"
#include "stt/stt_internal.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_buf t;
    recd_buf_init(&t, 0);
    int rc = recd_stt_json_text((const char *)data, size, 256, &t);
    /* Accepted text is bounded, valid UTF-8 without NUL, and trimmed; refused leaves it empty. */
    if (rc == 0 && (t.len > 256 || !recd_utf8_valid(t.p, t.len) || memchr(t.p, '\0', t.len) ||
                    (t.len && (t.p[0] == ' ' || t.p[t.len - 1] == ' '))))
        __builtin_trap();
    if (rc < 0 && t.len != 0)
        __builtin_trap();
    recd_buf_free(&t);
    return 0;
}
