/*
 * The URLs the webhook client requests come from TwiML (action, <Redirect>, <Play>) and from
 * servers' Location headers: outside input. This target feeds the input's first line as a URL to
 * recd_webhook_request_url (which cuts the fragment and the userinfo itself, after libcurl's parser
 * has accepted the URL) and, resolved against a fixed base, through recd_webhook_resolve_url, and
 * checks what must hold of an accepted URL:
 *
 *  - the request URL has no fragment, no space or control byte, starts with the input's scheme
 *    and is itself accepted, unchanged, when fed back;
 *  - the signed URL is the request URL without its userinfo, and has no '@' before its path;
 *  - a GET's parameters end the query;
 *  - a resolved URL is accepted as a request URL.
 *
 * The rest of the input, after the first newline, is the value of one form parameter, which is
 * encoded and signed.
 */
#include "voice/webhook.h"

#include "core/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void check_request(const char *url)
{
    struct recd_form f;
    recd_form_init(&f);
    recd_form_add(&f, "CallSid", "CA0");
    struct recd_buf out, sig, again;
    recd_buf_init(&out, 0);
    recd_buf_init(&sig, 0);
    recd_buf_init(&again, 0);

    int r = recd_webhook_request_url(url, 0, &f, &out, &sig);
    if (r != 0 && r != RECD_E_BAD_INPUT)
        __builtin_trap();
    if (r == 0) {
        if (out.len > RECD_WEBHOOK_MAX_URL || sig.len > out.len || memchr(out.p, '#', out.len) ||
            (strncasecmp(out.p, "http://", 7) && strncasecmp(out.p, "https://", 8)) ||
            strncmp(out.p, url, (size_t)(strstr(url, "://") - url) + 3))
            __builtin_trap();
        for (size_t i = 0; i < out.len; i++)
            if ((unsigned char)out.p[i] <= ' ' || out.p[i] == 0x7f)
                __builtin_trap();
        const char *auth = strstr(sig.p, "://") + 3;
        size_t auth_len = strcspn(auth, "/?");
        if (memchr(auth, '@', auth_len) || auth_len == 0)
            __builtin_trap();
        /* Fed back, a request URL is taken as it is. */
        if (recd_webhook_request_url(out.p, 0, NULL, &again, NULL) != 0 || strcmp(again.p, out.p))
            __builtin_trap();
        /* A GET ends with its parameters (or is refused as too long). */
        r = recd_webhook_request_url(url, 1, &f, &again, NULL);
        if (r == 0) {
            size_t n = strlen("CallSid=CA0");
            if (again.len < n + 1 || strcmp(again.p + again.len - n, "CallSid=CA0") ||
                (again.p[again.len - n - 1] != '?' && again.p[again.len - n - 1] != '&'))
                __builtin_trap();
        } else if (r != RECD_E_BAD_INPUT) {
            __builtin_trap();
        }
    }
    recd_buf_free(&out);
    recd_buf_free(&sig);
    recd_buf_free(&again);
    recd_form_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * RECD_WEBHOOK_MAX_URL)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = strchr(s, '\n');
    const char *value = "";
    if (nl) {
        *nl = '\0';
        value = nl + 1;
    }
    check_request(s);

    char out[RECD_WEBHOOK_MAX_URL + 1];
    int r = recd_webhook_resolve_url("https://user:pw@app.example.com:8443/voice/a/b.xml?x=1#f", s, out,
                                     sizeof out);
    if (r == 0) {
        struct recd_buf b;
        recd_buf_init(&b, 0);
        if (recd_webhook_request_url(out, 0, NULL, &b, NULL) != 0)
            __builtin_trap();
        recd_buf_free(&b);
    } else if (r != RECD_E_BAD_INPUT) {
        __builtin_trap();
    }

    struct recd_form f;
    recd_form_init(&f);
    recd_form_add(&f, "Digits", value);
    recd_form_add(&f, value[0] ? value : "x", "1");
    struct recd_buf enc;
    recd_buf_init(&enc, 0);
    recd_form_encode(&f, &enc);
    for (size_t i = 0; i < enc.len; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~%=&", enc.p[i]))
            __builtin_trap();
    char sig[RECD_WEBHOOK_SIG_LEN + 1];
    if (recd_webhook_sign("token", 5, s, &f, sig) != 0 || strlen(sig) != RECD_WEBHOOK_SIG_LEN)
        __builtin_trap();
    recd_buf_free(&enc);
    recd_form_free(&f);
    free(s);
    return 0;
}
