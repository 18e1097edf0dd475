/* Query strings and the list parameters read from them (PageSize, Page, PageToken, filters). */
#include "api/paging.h"
#include "api/route.h"
#include "core/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct recd_query q;
    static const char *paths[] = {
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings.json",
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls/CA0123456789abcdef0123456789abcdef/"
        "Recordings",
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Transcriptions.xml",
    };
    if (recd_query_parse(&q, (const char *)data, size) < 0)
        return 0;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct recd_route rt;
        struct recd_list_params lp;
        const char *bad;
        if (recd_route_match(paths[i], strlen(paths[i]), &rt) < 0)
            __builtin_trap();
        if (recd_list_params_parse(&q, &rt, &lp, &bad) == 0) {
            if (lp.page_size < 1 || lp.page_size > 1000)
                __builtin_trap();
            struct recd_buf b;
            recd_buf_init(&b, 0);
            recd_list_uri(&b, rt.base, ".json", &lp, lp.page, "PA0123");
            recd_buf_free(&b);
        }
    }
    return 0;
}
