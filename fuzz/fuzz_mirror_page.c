/* What a Twilio-compatible source answers `recd mirror`: its JSON list pages. The first byte picks
 * the kind (recordings or transcriptions); the rest is the page. */
#include "core/utf8.h"
#include "service/mirror.h"

#include <stdint.h>
#include <string.h>

#define LIST "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static struct recd_mirror_page pg;
    static int ready;
    if (!ready) {
        recd_mirror_page_init(&pg);
        ready = 1;
    }
    enum recd_mirror_kind kind = data[0] & 1 ? RECD_MIRROR_TRANSCRIPTIONS : RECD_MIRROR_RECORDINGS;
    char why[128];
    int rc = recd_mirror_page_read((const char *)data + 1, size - 1, kind, LIST, &pg, why, sizeof why);
    if (rc < 0)
        return 0;
    /* A next page is only ever on the same list, so the credentials go nowhere else. */
    if (pg.next[0] && (strncmp(pg.next, LIST, strlen(LIST)) != 0 ||
                       (pg.next[strlen(LIST)] != '\0' && pg.next[strlen(LIST)] != '?')))
        __builtin_trap();
    if (pg.count > 1000)
        __builtin_trap();
    for (int i = 0; i < pg.count; i++) {
        if (kind == RECD_MIRROR_RECORDINGS) {
            const struct recd_mirror_rec *r = &pg.recs[i];
            if (r->bad[0])
                continue;
            if (!recd_sid_valid(r->sid, strlen(r->sid), "RE", 1) || r->created_us <= 0 || r->channels < 0 ||
                r->channels > 2 ||
                (r->call_sid[0] && !recd_sid_valid(r->call_sid, strlen(r->call_sid), "CA", 1)))
                __builtin_trap();
        } else {
            const struct recd_mirror_tr *m = &pg.trs[i];
            if (m->bad[0])
                continue;
            const struct recd_transcription *t = &m->t;
            if (!recd_sid_valid(t->sid, strlen(t->sid), "TR", 1) || (t->text == NULL) != (t->text_null != 0))
                __builtin_trap();
            if (t->text && (t->text_len > RECD_TEXT_MAX || !recd_utf8_valid(t->text, t->text_len) ||
                            memchr(t->text, '\0', t->text_len) || t->text[t->text_len] != '\0'))
                __builtin_trap();
        }
    }
    return 0;
}
