/* The checks of `recd number add` (src/service/numbers.c) on any bytes: the URL and phone number
 * checks alone, and the whole option check with the input split at newlines into a number and
 * the three URLs. */
#include "service/service.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    if (recd_url_check(s, size) == 0) {
        /* Accepted: bounded, absolute http(s), printable ASCII. */
        if (size > RECD_URL_MAX || (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0))
            __builtin_trap();
        for (size_t i = 0; i < size; i++)
            if (data[i] <= 0x20 || data[i] >= 0x7f)
                __builtin_trap();
    }
    if (recd_phone_number_check(s, size) == 0 && (size == 0 || size > RECD_ADDR_MAX || memchr(s, 0, size)))
        __builtin_trap();

    /* NUL-terminated pieces, as the command line hands them over. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *part[4] = {NULL, NULL, NULL, NULL};
    char *p = copy;
    for (int i = 0; i < 4 && p; i++) {
        part[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    struct recd_number_opts o = {.account_sid = "AC0123456789abcdef0123456789abcdef",
                                 .phone_number = part[0],
                                 .voice_url = part[1],
                                 .voice_fallback_url = part[2],
                                 .status_callback = part[3],
                                 .voice_method = size & 1 ? "get" : NULL};
    char why[200];
    int rc = recd_number_opts_check(&o, why, sizeof why);
    if (rc != 0 && !why[0])
        __builtin_trap(); /* a refusal always says why */
    if (rc == 0 && (!part[1] || recd_url_check(part[1], strlen(part[1])) != 0))
        __builtin_trap();
    free(copy);
    return 0;
}
