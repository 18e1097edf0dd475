#include "core/sid.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int recd_random(void *out, size_t nbytes)
{
    unsigned char *p = out;
    while (nbytes) {
        ssize_t r = getrandom(p, nbytes, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return RECD_E_INTERNAL;
        }
        p += r;
        nbytes -= (size_t)r;
    }
    return 0;
}

void recd_hex(char *out, const unsigned char *in, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int recd_sid_new(char out[RECD_SID_LEN + 1], const char prefix[2])
{
    unsigned char r[16];
    if (recd_random(r, sizeof r) < 0)
        return RECD_E_INTERNAL;
    out[0] = prefix[0];
    out[1] = prefix[1];
    recd_hex(out + 2, r, sizeof r);
    return 0;
}

int recd_sid_valid(const char *s, size_t n, const char prefix[2], int strict)
{
    if (n != RECD_SID_LEN || s[0] != prefix[0] || s[1] != prefix[1])
        return 0;
    for (size_t i = 2; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
            continue;
        if (!strict && c >= 'A' && c <= 'F')
            continue;
        return 0;
    }
    return 1;
}
