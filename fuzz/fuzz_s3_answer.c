/* What an S3 server answers: error bodies, multipart upload ids and completions, both listings,
 * and Content-Range. The first byte picks the parser; the rest is the answer. */
#include "media/blob_s3.h"

#include <stdint.h>
#include <string.h>

/* Accepted values are bounded, NUL-terminated and printable: what recd may log or send back. */
static void check_printable(const char *s, size_t cap, int spaces)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 + !spaces || (unsigned char)s[i] > 0x7e)
            __builtin_trap();
}

static int entry(void *ctx, const char *key, int64_t size, const char *upload_id, int64_t initiated_s)
{
    (void)initiated_s;
    check_printable(key, 1025, 0);
    if (upload_id)
        check_printable(upload_id, RECD_S3_UPLOAD_ID_MAX + 1, 0);
    if (!upload_id && size < 0)
        __builtin_trap();
    return ++*(int *)ctx > 5000 ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    char code[RECD_S3_CODE_MAX + 1], msg[RECD_S3_MSG_MAX + 1], id[RECD_S3_UPLOAD_ID_MAX + 1];
    char next[RECD_S3_TOKEN_ANSWER_MAX + 1], next2[RECD_S3_UPLOAD_ID_MAX + 1];
    int truncated, count = 0;
    int64_t a, z, s;
    switch (data[0] % 5) {
    case 0:
        if (recd_s3_parse_error(p, n, code, msg) == 0) {
            check_printable(code, sizeof code, 1);
            check_printable(msg, sizeof msg, 1);
        }
        break;
    case 1:
        if (recd_s3_parse_upload_id(p, n, id) == 0 && !id[0])
            __builtin_trap();
        if (id[0])
            check_printable(id, sizeof id, 0);
        break;
    case 2:
        if (recd_s3_parse_complete(p, n, code, msg) == 0 && !code[0])
            __builtin_trap();
        break;
    case 3:
        if (recd_s3_parse_list(p, n, entry, &count, &truncated, next, next2) == 0) {
            check_printable(next, sizeof next, 0);
            check_printable(next2, sizeof next2, 0);
        }
        break;
    case 4:
        if (recd_s3_parse_content_range(p, n, &a, &z, &s) == 0 && !(a >= 0 && a <= z && z < s))
            __builtin_trap();
        break;
    }
    return 0;
}
