/*
 * SIP requests as the endpoint reads them before anything else: libre's message decoder, then
 * recd's choice of the number called (Request-URI user part, else To's, %-unescaped).
 */
#include "voice/sip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char number[64];
    memset(number, 'X', sizeof number);
    if (recd_sip_request_number(data, size, number, sizeof number) == 0) {
        /* What the handler sees is a short C string without control characters. */
        size_t n = strnlen(number, sizeof number);
        if (n == sizeof number || n == 0)
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)number[i] < 0x20 || number[i] == 0x7f)
                abort();
    }
    return 0;
}
