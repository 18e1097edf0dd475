#include "core/cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int recd_cidr_parse(const char *s, size_t n, struct recd_cidr *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        const char *d = slash + 1;
        /* Digits only: strtol would take a sign or leading spaces. */
        if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 3)
            return -1;
        prefix = strtol(d, NULL, 10);
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        if (prefix > 32)
            return -1;
        out->family = 4;
        out->prefix = (uint8_t)(prefix < 0 ? 32 : prefix);
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        if (prefix > 128)
            return -1;
        out->family = 6;
        out->prefix = (uint8_t)(prefix < 0 ? 128 : prefix);
    } else {
        return -1;
    }
    return 0;
}

int recd_cidr_list_parse(const char *s, struct recd_cidr_list *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(s, "any") == 0) {
        out->any = 1;
        return 0;
    }
    if (strcmp(s, "none") == 0)
        return 0;
    for (const char *p = s;;) {
        size_t n = strcspn(p, ",");
        if (out->n == RECD_CIDR_LIST_MAX || recd_cidr_parse(p, n, &out->v[out->n]) < 0)
            return -1;
        out->n++;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

/* 1 when the first `bits` bits of a and b agree. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return 0;
    if (!rest)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int recd_cidr_list_match(const struct recd_cidr_list *l, const unsigned char *addr, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (l->any)
        return 1;
    if (len != 4 && len != 16)
        return 0;
    /* An IPv4-mapped address is both: the IPv4 address it carries, and itself. */
    const unsigned char *v4 = len == 4 ? addr : memcmp(addr, mapped, 12) == 0 ? addr + 12 : NULL;
    for (unsigned i = 0; i < l->n; i++) {
        const struct recd_cidr *c = &l->v[i];
        if (c->family == 4 && v4 && prefix_eq(c->addr, v4, c->prefix))
            return 1;
        if (c->family == 6 && len == 16 && prefix_eq(c->addr, addr, c->prefix))
            return 1;
    }
    return 0;
}
