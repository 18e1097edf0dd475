/* Date parsing: list filters (YYYY-MM-DD, RFC 3339), the CLI's RFC 2822, and HTTP-dates. */
#include "api/conditional.h"
#include "core/time.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t us, secs;
    int is_day;
    if (recd_time_parse_filter((const char *)data, size, &us, &is_day) == 0 && is_day) {
        /* A day parses to its midnight, which formats back to the same date. */
        char out[32];
        recd_time_rfc2822(us, out);
        if (strstr(out, "00:00:00") == NULL)
            __builtin_trap();
    }
    recd_time_parse_any((const char *)data, size, &us);
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    recd_http_date_parse(s, &secs);
    free(s);
    return 0;
}
