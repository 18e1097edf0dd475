/*
 * SIP requests as the endpoint reads them before anything else: libre's message decoder, then
 * recd's choice of the number called (Request-URI user part, else To's, %-unescaped), and its
 * reading of Require, Session-Expires and Min-SE (RFC 4028).
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
    struct recd_sip_timer t;
    if (recd_sip_request_timer(data, size, 2, &t) == 0) {
        if (t.status != 0 && t.status != 400 && t.status != 420 && t.status != 422)
            abort();
        if (t.status == 0 && t.interval && (t.interval < 2 || t.interval > 86400))
            abort();
        if (t.status == 422 && t.min_se < 2)
            abort();
        /* What goes into a reply is whole header lines: every CR before an LF, nothing else. */
        size_t n = strnlen(t.headers, sizeof t.headers);
        if (n == sizeof t.headers)
            abort();
        for (size_t i = 0; i < n; i++)
            if ((t.headers[i] == '\r') != (i + 1 < n && t.headers[i + 1] == '\n') ||
                (t.headers[i] == '\n' && (i == 0 || t.headers[i - 1] != '\r')))
                abort();
    }
    return 0;
}
