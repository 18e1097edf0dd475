#include "api/route.h"

#include "core/error.h"

#include <string.h>

#define PREFIX "/2010-04-01/Accounts/"

struct seg {
    const char *p;
    size_t n;
};

static int is(struct seg s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int take_sid(struct seg s, const char prefix[2], char out[RECD_SID_LEN + 1])
{
    if (!recd_sid_valid(s.p, s.n, prefix, 1))
        return 0;
    memcpy(out, s.p, RECD_SID_LEN);
    out[RECD_SID_LEN] = '\0';
    return 1;
}

static enum recd_ext ext_of(const char *p, size_t n)
{
    static const struct {
        const char *s;
        enum recd_ext e;
    } map[] = {{".json", RECD_EXT_JSON},
               {".xml", RECD_EXT_XML},
               {".wav", RECD_EXT_WAV},
               {".mp3", RECD_EXT_MP3},
               {".txt", RECD_EXT_TXT}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t l = strlen(map[i].s);
        if (n == l && memcmp(p, map[i].s, l) == 0)
            return map[i].e;
    }
    return (enum recd_ext) - 1;
}

/* Which extensions each kind of resource has (contract §1, "Representations"). */
static int ext_allowed(enum recd_route_kind k, int recording_instance, enum recd_ext e)
{
    if (recording_instance)
        return e == RECD_EXT_NONE || e == RECD_EXT_JSON || e == RECD_EXT_XML || e == RECD_EXT_WAV ||
               e == RECD_EXT_MP3;
    if (k == RECD_R_REC_TRANSCRIPTION || k == RECD_R_TRANSCRIPTION)
        return e == RECD_EXT_NONE || e == RECD_EXT_JSON || e == RECD_EXT_XML || e == RECD_EXT_TXT;
    return e == RECD_EXT_NONE || e == RECD_EXT_JSON || e == RECD_EXT_XML;
}

int recd_route_match(const char *path, size_t n, struct recd_route *r)
{
    memset(r, 0, sizeof *r);
    size_t plen = sizeof PREFIX - 1;

    /* The extension belongs to the last segment: split it off first, whatever the rest of the
     * path, so that a 404 for any path ending in .json is JSON (contract §3). */
    const char *end = path + n;
    const char *last = path + n;
    while (last > path && last[-1] != '/')
        last--;
    /* Twilio.CURRENT (the call's current recording, for POST only) has a dot of its own. */
    size_t skip = (size_t)(end - last) >= 14 && memcmp(last, "Twilio.CURRENT", 14) == 0 ? 14 : 0;
    const char *dot = memchr(last + skip, '.', (size_t)(end - last) - skip);
    if (dot) {
        int e = (int)ext_of(dot, (size_t)(end - dot));
        if (e < 0)
            return RECD_E_NOT_FOUND;
        r->ext = (enum recd_ext)e;
        end = dot;
    }
    r->base = (struct recd_str){path, (size_t)(end - path)};
    if (n <= plen || memcmp(path, PREFIX, plen) != 0)
        return RECD_E_NOT_FOUND;

    struct seg s[6];
    int ns = 0;
    const char *p = path + plen;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *e = slash ? slash : end;
        if (ns == 6 || e == p)
            return RECD_E_NOT_FOUND; /* too deep, or an empty segment ("//", trailing '/') */
        s[ns++] = (struct seg){p, (size_t)(e - p)};
        p = e + 1;
        if (!slash)
            break;
    }
    if (ns < 2 || !take_sid(s[0], "AC", r->account_sid))
        return RECD_E_NOT_FOUND;

    enum recd_route_kind k = RECD_R_NONE;
    if (is(s[1], "Recordings")) {
        if (ns == 2)
            k = RECD_R_RECORDINGS;
        else if (take_sid(s[2], "RE", r->recording_sid)) {
            if (ns == 3)
                k = RECD_R_RECORDING;
            else if (ns == 4 && is(s[3], "Transcriptions"))
                k = RECD_R_REC_TRANSCRIPTIONS;
            else if (ns == 4 && is(s[3], "AddOnResults"))
                k = RECD_R_REC_ADDONS;
            else if (ns == 5 && is(s[3], "Transcriptions") && take_sid(s[4], "TR", r->transcription_sid))
                k = RECD_R_REC_TRANSCRIPTION;
        }
    } else if (is(s[1], "Calls")) {
        if (ns == 2)
            k = RECD_R_CALLS;
        else if (!take_sid(s[2], "CA", r->call_sid))
            k = RECD_R_NONE;
        else if (ns == 3)
            k = RECD_R_CALL;
        else if (ns == 4 && is(s[3], "Recordings"))
            k = RECD_R_CALL_RECORDINGS;
        else if (ns == 5 && is(s[3], "Recordings") && take_sid(s[4], "RE", r->recording_sid))
            k = RECD_R_CALL_RECORDING;
        else if (ns == 5 && is(s[3], "Recordings") && is(s[4], "Twilio.CURRENT"))
            k = RECD_R_CALL_RECORDING; /* recording_sid stays "": only POST takes it */
    } else if (is(s[1], "Conferences") && ns >= 4 && take_sid(s[2], "CF", r->conference_sid) &&
               is(s[3], "Recordings")) {
        if (ns == 4)
            k = RECD_R_CONF_RECORDINGS;
        else if (ns == 5 && take_sid(s[4], "RE", r->recording_sid))
            k = RECD_R_CONF_RECORDING;
    } else if (is(s[1], "Transcriptions")) {
        if (ns == 2)
            k = RECD_R_TRANSCRIPTIONS;
        else if (ns == 3 && take_sid(s[2], "TR", r->transcription_sid))
            k = RECD_R_TRANSCRIPTION;
    }
    if (k == RECD_R_NONE)
        return RECD_E_NOT_FOUND;
    r->kind = k;
    r->is_recording_instance =
        k == RECD_R_RECORDING || k == RECD_R_CALL_RECORDING || k == RECD_R_CONF_RECORDING;
    r->is_list = k == RECD_R_RECORDINGS || k == RECD_R_REC_TRANSCRIPTIONS || k == RECD_R_REC_ADDONS ||
                 k == RECD_R_CALL_RECORDINGS || k == RECD_R_CONF_RECORDINGS || k == RECD_R_TRANSCRIPTIONS ||
                 k == RECD_R_CALLS;
    if (!ext_allowed(k, r->is_recording_instance, r->ext))
        return RECD_E_NOT_FOUND;
    return 0;
}

/* Every path of every kind in every representation, as the metrics' route label spells it. */
#define ROUTE_EXTS(path)                                                                                     \
    {                                                                                                        \
        path, path ".json", path ".xml", path ".wav", path ".mp3", path ".txt"                               \
    }
#define ACCT "/2010-04-01/Accounts/{AccountSid}"
static const char *const templates[][6] = {
    [RECD_R_NONE] = {NULL, NULL, NULL, NULL, NULL, NULL},
    [RECD_R_RECORDINGS] = ROUTE_EXTS(ACCT "/Recordings"),
    [RECD_R_RECORDING] = ROUTE_EXTS(ACCT "/Recordings/{RecordingSid}"),
    [RECD_R_REC_TRANSCRIPTIONS] = ROUTE_EXTS(ACCT "/Recordings/{RecordingSid}/Transcriptions"),
    [RECD_R_REC_TRANSCRIPTION] =
        ROUTE_EXTS(ACCT "/Recordings/{RecordingSid}/Transcriptions/{TranscriptionSid}"),
    [RECD_R_REC_ADDONS] = ROUTE_EXTS(ACCT "/Recordings/{RecordingSid}/AddOnResults"),
    [RECD_R_CALL_RECORDINGS] = ROUTE_EXTS(ACCT "/Calls/{CallSid}/Recordings"),
    [RECD_R_CALL_RECORDING] = ROUTE_EXTS(ACCT "/Calls/{CallSid}/Recordings/{RecordingSid}"),
    [RECD_R_CONF_RECORDINGS] = ROUTE_EXTS(ACCT "/Conferences/{ConferenceSid}/Recordings"),
    [RECD_R_CONF_RECORDING] = ROUTE_EXTS(ACCT "/Conferences/{ConferenceSid}/Recordings/{RecordingSid}"),
    [RECD_R_TRANSCRIPTIONS] = ROUTE_EXTS(ACCT "/Transcriptions"),
    [RECD_R_TRANSCRIPTION] = ROUTE_EXTS(ACCT "/Transcriptions/{TranscriptionSid}"),
    [RECD_R_CALLS] = ROUTE_EXTS(ACCT "/Calls"),
    [RECD_R_CALL] = ROUTE_EXTS(ACCT "/Calls/{CallSid}"),
};

const char *recd_route_template(const struct recd_route *r)
{
    if ((unsigned)r->kind >= sizeof templates / sizeof templates[0] || (unsigned)r->ext > RECD_EXT_TXT)
        return NULL;
    return templates[r->kind][r->ext];
}
