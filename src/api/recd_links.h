#ifndef RECD_API_RECD_LINKS_H
#define RECD_API_RECD_LINKS_H

#include "core/buf.h"
#include "store/store.h"

#include <stdint.h>

/*
 * Signed media links to a recording (api/sign.h has the scheme): what `recd sign` prints and
 * what POST /recd/Accounts/AC…/Recordings/RE…/Links answers, made by one function so that both
 * give the same link.
 */

/** The life of a link when none is asked for (seconds); the longest is RECD_SIGN_MAX_TTL. */
#define RECD_LINK_TTL_DEFAULT 3600

struct recd_link_opts {
    const char *account_sid; /* the recording's account: its auth token signs */
    const char *recording_sid;
    const char *format;     /* "wav" or "mp3" */
    int requested_channels; /* 0: none; 1 or 2: RequestedChannels, added to the link unsigned */
    int64_t ttl_s;          /* 1 … RECD_SIGN_MAX_TTL */
};

/**
 * Makes a signed link to the media of `o->recording_sid`: checks that the recording exists, is
 * `o->account_sid`'s and is not deleted, opens the account's sealed auth token with `seal_key`,
 * and appends to `url` the link `base_url` + "/2010-04-01/Accounts/AC…/Recordings/RE….wav|mp3"
 * + "?Expires=…&KeySid=AC…&Signature=…" (+ "&RequestedChannels=N"), expiring at `now_s` +
 * `o->ttl_s`, which goes to *expires. Returns 0; RECD_E_BAD_INPUT for a format, channel count
 * or TTL out of range; RECD_E_NOT_FOUND when there is no such recording of that account;
 * RECD_E_CHANNELS when 2 channels are asked of a mono recording; RECD_E_INTERNAL when the
 * token does not open (another data folder's seal.key); a store error otherwise. Nothing is
 * appended on failure, and the secret is wiped before returning.
 */
int recd_link_make(struct recd_store *st, const unsigned char *seal_key, const char *base_url,
                   const struct recd_link_opts *o, int64_t now_s, struct recd_buf *url, int64_t *expires);

#endif
