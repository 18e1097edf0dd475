/* Address lists of the command line (--metrics-allow): parsed, then matched against the input's
 * first bytes as an address; what parses must match its own network address. */
#include "core/cidr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct recd_cidr_list l;
    if (recd_cidr_list_parse(s, &l) == 0) {
        if (l.n > RECD_CIDR_LIST_MAX)
            __builtin_trap();
        for (unsigned i = 0; i < l.n; i++)
            if (!recd_cidr_list_match(&l, l.v[i].addr, l.v[i].family == 4 ? 4 : 16))
                __builtin_trap();
        unsigned char addr[16] = {0};
        memcpy(addr, data, size < 16 ? size : 16);
        recd_cidr_list_match(&l, addr, 4);
        recd_cidr_list_match(&l, addr, 16);
    }
    free(s);
    return 0;
}
