#ifndef RECD_API_LIMITER_H
#define RECD_API_LIMITER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Rate limiting of failed Basic auth per client address: a token bucket per address that only
 * failures drain. A client whose bucket is empty gets 429 on every request that carries
 * credentials, before they are checked, until a token has come back; clients that send right
 * credentials never drain their bucket and are never slowed. The table is fixed-size (no
 * allocation per client); when it is full, the entry that has been quiet longest is reused.
 * Thread-safe.
 */

struct recd_limiter;

/** A limiter allowing `per_minute` failures a minute per address, in bursts of as many. NULL if per_minute is
 * 0. */
struct recd_limiter *recd_limiter_new(unsigned per_minute);
void recd_limiter_free(struct recd_limiter *l);

/** Seconds until `addr` may try again (0: now). `addr` is the client's address bytes (4 or 16). */
int64_t recd_limiter_wait(struct recd_limiter *l, const void *addr, size_t n, int64_t now_us);

/** Records one failed attempt from `addr`. */
void recd_limiter_fail(struct recd_limiter *l, const void *addr, size_t n, int64_t now_us);

#endif
