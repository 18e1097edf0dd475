/* PageToken decoding: any accepted token re-encodes to itself. */
#include "api/paging.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_list_query q;
    memset(&q, 0, sizeof q);
    if (recd_page_token_decode((const char *)data, size, "RE", &q) == 0) {
        char again[RECD_PAGE_TOKEN_LEN + 1];
        recd_page_token_encode(again, q.anchor_dir == RECD_ANCHOR_AFTER ? 'A' : 'B', q.anchor_us,
                               q.anchor_sid);
        if (size != RECD_PAGE_TOKEN_LEN || memcmp(again, data, size) != 0)
            __builtin_trap();
    }
    return 0;
}
