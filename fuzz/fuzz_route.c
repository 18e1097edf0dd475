/* The router's path matching, on any bytes as a request path. */
#include "api/route.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_route r;
    if (recd_route_match((const char *)data, size, &r) == 0) {
        /* A match only ever holds well-formed sids and a base inside the input. */
        if (!recd_sid_valid(r.account_sid, strlen(r.account_sid), "AC", 1))
            __builtin_trap();
        if (r.base.p != (const char *)data || r.base.n > size)
            __builtin_trap();
    }
    return 0;
}
