#include "service/service.h"

#include "core/error.h"
#include "core/sid.h"
#include "core/time.h"
#include "core/utf8.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Numbers (contract §7): what `recd number add` checks before a number is stored. A number's
 * URLs are fetched by the server later, on every call, so they are checked now: absolute http or
 * https with a host, printable ASCII (anything else percent-encoded), bounded.
 */

int recd_url_check(const char *s, size_t n)
{
    size_t skip;
    if (n == 0 || n > RECD_URL_MAX)
        return -1;
    if (n > 7 && strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (n > 8 && strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return -1;
    /* The authority runs to the first '/', '?' or '#'; its host (after any user info, before any
     * port) must not be empty. */
    size_t end = skip;
    while (end < n && s[end] != '/' && s[end] != '?' && s[end] != '#')
        end++;
    size_t host = skip;
    for (size_t i = skip; i < end; i++)
        if (s[i] == '@')
            host = i + 1;
    return host < end && s[host] != ':' ? 0 : -1;
}

int recd_phone_number_check(const char *s, size_t n)
{
    if (n == 0 || n > RECD_ADDR_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr("+-._*#", c)) ||
            c == '\0')
            return -1;
    }
    return 0;
}

/* Copies `s` into a field of `cap` bytes; the caller has bounded it. */
static void put(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

static int method_of(const char *m, const char **out)
{
    if (!m || strcasecmp(m, "POST") == 0)
        *out = "POST";
    else if (strcasecmp(m, "GET") == 0)
        *out = "GET";
    else
        return -1;
    return 0;
}

int recd_number_opts_check(const struct recd_number_opts *o, char *why, size_t why_n)
{
    const char *m;
    why[0] = '\0';
    if (!o->account_sid || !recd_sid_valid(o->account_sid, strlen(o->account_sid), "AC", 1)) {
        snprintf(why, why_n, "--account is not an account sid");
        return RECD_E_BAD_INPUT;
    }
    if (!o->phone_number || recd_phone_number_check(o->phone_number, strlen(o->phone_number)) < 0) {
        snprintf(why, why_n, "--number must be 1 to %d characters of digits, letters, + - . _ * #",
                 RECD_ADDR_MAX);
        return RECD_E_BAD_INPUT;
    }
    static const char *const url_names[3] = {"--voice-url", "--voice-fallback-url", "--status-callback"};
    const char *urls[3] = {o->voice_url, o->voice_fallback_url, o->status_callback};
    for (int i = 0; i < 3; i++) {
        if ((i == 0 || urls[i]) && (!urls[i] || recd_url_check(urls[i], strlen(urls[i])) < 0)) {
            snprintf(why, why_n, "%s must be an absolute http or https URL of at most %d bytes", url_names[i],
                     RECD_URL_MAX);
            return RECD_E_BAD_INPUT;
        }
    }
    if (method_of(o->voice_method, &m) < 0 || method_of(o->voice_fallback_method, &m) < 0 ||
        method_of(o->status_callback_method, &m) < 0) {
        snprintf(why, why_n, "a method must be GET or POST");
        return RECD_E_BAD_INPUT;
    }
    /* Stored as text: strictly UTF-8 (the store refuses anything else). */
    if (o->friendly_name && (strlen(o->friendly_name) > RECD_NAME_MAX ||
                             !recd_utf8_valid(o->friendly_name, strlen(o->friendly_name)))) {
        snprintf(why, why_n, "--name must be UTF-8 of at most %d bytes", RECD_NAME_MAX);
        return RECD_E_BAD_INPUT;
    }
    return 0;
}

int recd_number_add(struct recd_ctx *ctx, const struct recd_number_opts *o, struct recd_number *out,
                    char *why, size_t why_n)
{
    struct recd_store *st = ctx->store;
    const char *vm = "POST", *fm = "POST", *sm = "POST";
    memset(out, 0, sizeof *out);
    int rc = recd_number_opts_check(o, why, why_n);
    if (rc < 0)
        return rc;
    method_of(o->voice_method, &vm);
    method_of(o->voice_fallback_method, &fm);
    method_of(o->status_callback_method, &sm);
    const char *name = o->friendly_name ? o->friendly_name : o->phone_number;
    struct recd_account acc;
    rc = st->ops->account_get(st, o->account_sid, &acc);
    if (rc < 0) {
        if (rc == RECD_E_NOT_FOUND)
            snprintf(why, why_n, "no account %s", o->account_sid);
        return rc;
    }
    if (recd_sid_new(out->sid, "PN") < 0)
        return RECD_E_INTERNAL;
    put(out->account_sid, sizeof out->account_sid, o->account_sid);
    put(out->phone_number, sizeof out->phone_number, o->phone_number);
    put(out->friendly_name, sizeof out->friendly_name, name);
    put(out->voice_url, sizeof out->voice_url, o->voice_url);
    put(out->voice_method, sizeof out->voice_method, vm);
    put(out->voice_fallback_url, sizeof out->voice_fallback_url, o->voice_fallback_url);
    put(out->voice_fallback_method, sizeof out->voice_fallback_method, fm);
    put(out->status_callback, sizeof out->status_callback, o->status_callback);
    put(out->status_callback_method, sizeof out->status_callback_method, sm);
    out->created_us = out->updated_us = recd_now_us();
    rc = st->ops->number_insert(st, out);
    if (rc == RECD_E_EXISTS)
        snprintf(why, why_n, "the number %s is already in use", o->phone_number);
    return rc;
}
