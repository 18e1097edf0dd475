/* Range, If-None-Match, If-Range and If-Modified-Since headers. */
#include "api/conditional.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size + 1);
    if (!h)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    static const int64_t sizes[] = {0, 1, 100, 32044, INT64_C(1) << 40};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t start = -1, len = -1;
        if (recd_http_range(h, sizes[i], &start, &len) == RECD_RANGE_OK &&
            (start < 0 || len < 1 || start + len > sizes[i]))
            __builtin_trap(); /* a 206 must lie inside the file */
    }
    recd_http_etag_match_weak(h, "\"0123456789abcdef0123456789abcdef-mp3\"");
    recd_http_if_range(h, "\"0123456789abcdef0123456789abcdef\"", 1247795569);
    recd_http_not_modified_since(h, 1247795569);
    free(h);
    return 0;
}
