#ifndef RECD_CORE_CIDR_H
#define RECD_CORE_CIDR_H

#include <stddef.h>
#include <stdint.h>

/*
 * Address ranges an operator names on the command line ("127.0.0.0/8,::1"), and the test of a
 * client's address against them. Who may read /metrics is one such list (src/ops).
 */

struct recd_cidr {
    uint8_t addr[16]; /* network address; IPv4 in the first 4 bytes */
    uint8_t family;   /* 4 or 6 */
    uint8_t prefix;   /* prefix length */
};

#define RECD_CIDR_LIST_MAX 32

struct recd_cidr_list {
    struct recd_cidr v[RECD_CIDR_LIST_MAX];
    unsigned n;
    int any; /* "any": every address matches */
};

/** Parses "ADDR/PREFIX" or "ADDR" (one host). 0 or -1 (not valid). */
int recd_cidr_parse(const char *s, size_t n, struct recd_cidr *out);

/**
 * Parses a comma-separated list of CIDRs, or the word "any" (every address) or "none" (no
 * address). 0, or -1 when an item is not valid or there are more than RECD_CIDR_LIST_MAX.
 */
int recd_cidr_list_parse(const char *s, struct recd_cidr_list *out);

/**
 * 1 when the address (`len` 4 or 16 bytes, network order) falls in one of the list's ranges.
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is also tested as the IPv4 address it carries.
 */
int recd_cidr_list_match(const struct recd_cidr_list *l, const unsigned char *addr, size_t len);

#endif
