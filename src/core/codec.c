#include "core/codec.h"

#include <stdint.h>

static int b64_val(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Decodes groups of 4 characters (the last one may be short: 2 or 3 characters). */
static int decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *n, int url)
{
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        size_t left = len - i;
        size_t take = left < 4 ? left : 4;
        if (take == 1)
            return -1;
        int v[4] = {0, 0, 0, 0};
        size_t got = 0;
        for (size_t k = 0; k < take; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (!url && c == '=') {
                /* Padding only at the very end, 1 or 2 characters of it. */
                if (i + 4 != len || k < 2)
                    return -1;
                for (size_t j = k; j < 4; j++)
                    if (in[i + j] != '=')
                        return -1;
                break;
            }
            int x = b64_val(c, url);
            if (x < 0)
                return -1;
            v[got++] = x;
        }
        if (!url && take < 4)
            return -1; /* standard base64 is always padded to 4 */
        if (got < 2)
            return -1;
        size_t bytes = got - 1;
        if (o + bytes > cap)
            return -1;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Refuse non-canonical encodings: the bits below the last byte must be zero. */
        if ((got == 2 && (v[1] & 15)) || (got == 3 && (v[2] & 3)))
            return -1;
        out[o++] = (unsigned char)(w >> 16);
        if (bytes > 1)
            out[o++] = (unsigned char)(w >> 8);
        if (bytes > 2)
            out[o++] = (unsigned char)w;
        i += take;
    }
    *n = o;
    return 0;
}

int recd_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *n)
{
    return decode(in, len, out, cap, n, 0);
}

int recd_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *n)
{
    return decode(in, len, out, cap, n, 1);
}

size_t recd_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            w |= in[i + 2];
        out[o++] = a[w >> 18 & 63];
        out[o++] = a[w >> 12 & 63];
        if (i + 1 < len)
            out[o++] = a[w >> 6 & 63];
        if (i + 2 < len)
            out[o++] = a[w & 63];
    }
    out[o] = '\0';
    return o;
}

int recd_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long recd_pct_decode(const char *in, size_t len, char *out, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int h = recd_hex_digit(in[i + 1]), l = recd_hex_digit(in[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h << 4 | l);
            if (c == '\0')
                return -1;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        } else if (c == '\0') {
            return -1;
        }
        out[o++] = c;
    }
    return (long)o;
}
