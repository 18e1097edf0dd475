/* Signed-link parameters: Expires, KeySid and Signature, split from the input at newlines. */
#include "api/sign.h"
#include "core/error.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *part[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        part[i] = p;
        len[i] = nl ? (size_t)(nl - p) : (size_t)(end - p);
        p = nl ? nl + 1 : end;
    }
    int64_t expires;
    char key[35];
    if (recd_sign_parse(part[0], len[0], part[1], len[1], part[2], len[2], &expires, key) == 0) {
        const char path[] = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/"
                            "RE0123456789abcdef0123456789abcdef.mp3";
        int rc = recd_sign_verify("0123456789abcdef0123456789abcdef", 32, "GET", path, sizeof path - 1,
                                  expires, part[2], len[2], 1767225600);
        if (rc != 0 && rc != RECD_E_UNAUTHORIZED)
            __builtin_trap();
    }
    return 0;
}
