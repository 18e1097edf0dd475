/* A tally file in the data folder (core/tally.h), read at every /metrics scrape: recd writes it,
 * but anyone with the folder could, so its reader is bounded and strict. */
#include "core/tally.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_tally_field f[] = {{"copied", 0, 0}, {"failed", 0, 0}, {"last_success", 0, 0}};
    if (recd_tally_parse((const char *)data, size, f, 3) < 0) {
        /* A refused file reads as zeros. */
        for (int i = 0; i < 3; i++)
            if (f[i].value != 0)
                __builtin_trap();
    }
    return 0;
}
