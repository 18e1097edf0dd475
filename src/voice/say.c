#include "voice/say.h"

#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"

#include <ctype.h>
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Two locks with different jobs. `engine_lock` (process-wide) serialises everything that
 * touches espeak-ng's global state: start, stop, voice selection and synthesis. Each cache has
 * its own lock, held only to look up, copy or insert, never while speaking, so hits are served
 * while another thread synthesises.
 */

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static int engine_rate;

/* Where the synthesis callback appends; set under engine_lock for one synthesis. */
struct speech {
    int16_t *p;
    size_t n, cap, max;
    int too_large, oom;
};
static struct speech *speech_target;

struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* LRU list, most recent first */
    uint64_t hash;
    char *key;
    size_t key_len;
    struct recd_pcm pcm;
};

#define BUCKETS 1024

struct recd_say {
    pthread_mutex_t lock;
    size_t cap, used;
    struct entry *buckets[BUCKETS];
    struct entry *head, *tail;
    uint64_t hits, misses;
};

/* Twilio's languages and the espeak-ng language that speaks each best. Anything not listed is
 * passed on as it is (espeak-ng matches "de-at" to "de"). */
static const struct {
    const char *twilio, *espeak;
} languages[] = {
    {"en", "en-us"},    {"en-us", "en-us"}, {"en-ca", "en-us"},  {"en-gb", "en-gb"},  {"en-au", "en-gb"},
    {"en-in", "en-gb"}, {"en-ie", "en-gb"}, {"en-nz", "en-gb"},  {"en-za", "en-gb"},  {"en-gb-wls", "en-gb"},
    {"es", "es"},       {"es-es", "es"},    {"es-mx", "es-419"}, {"es-us", "es-419"}, {"fr", "fr-fr"},
    {"fr-fr", "fr-fr"}, {"fr-ca", "fr-fr"}, {"de", "de"},        {"de-de", "de"},     {"it-it", "it"},
    {"ja-jp", "ja"},    {"ko-kr", "ko"},    {"zh-cn", "cmn"},    {"cmn-cn", "cmn"},   {"zh-tw", "cmn"},
    {"zh-hk", "yue"},   {"yue-hk", "yue"},  {"pt-br", "pt-br"},  {"pt-pt", "pt"},     {"nl-nl", "nl"},
    {"nl-be", "nl"},    {"pl-pl", "pl"},    {"ru-ru", "ru"},     {"sv-se", "sv"},     {"da-dk", "da"},
    {"nb-no", "nb"},    {"no-no", "nb"},    {"fi-fi", "fi"},     {"ca-es", "ca"},     {"arb", "ar"},
    {"ar-ae", "ar"},    {"cy-gb", "cy"},    {"is-is", "is"},     {"ro-ro", "ro"},     {"tr-tr", "tr"},
    {"hi-in", "hi"},
};

/* Amazon Polly's voices as Twilio names them (Polly.<Name>, optionally -Neural or
 * -Generative): their language and gender (1 male, 2 female). */
static const struct {
    const char *name, *lang;
    int gender;
} polly[] = {
    {"Joanna", "en-US", 2},    {"Salli", "en-US", 2},     {"Kimberly", "en-US", 2},
    {"Kendra", "en-US", 2},    {"Ivy", "en-US", 2},       {"Ruth", "en-US", 2},
    {"Danielle", "en-US", 2},  {"Matthew", "en-US", 1},   {"Justin", "en-US", 1},
    {"Joey", "en-US", 1},      {"Kevin", "en-US", 1},     {"Stephen", "en-US", 1},
    {"Gregory", "en-US", 1},   {"Amy", "en-GB", 2},       {"Emma", "en-GB", 2},
    {"Brian", "en-GB", 1},     {"Arthur", "en-GB", 1},    {"Nicole", "en-AU", 2},
    {"Olivia", "en-AU", 2},    {"Russell", "en-AU", 1},   {"Aditi", "en-IN", 2},
    {"Raveena", "en-IN", 2},   {"Kajal", "en-IN", 2},     {"Geraint", "en-GB-WLS", 1},
    {"Gwyneth", "cy-GB", 2},   {"Conchita", "es-ES", 2},  {"Lucia", "es-ES", 2},
    {"Enrique", "es-ES", 1},   {"Sergio", "es-ES", 1},    {"Mia", "es-MX", 2},
    {"Andres", "es-MX", 1},    {"Lupe", "es-US", 2},      {"Penelope", "es-US", 2},
    {"Miguel", "es-US", 1},    {"Pedro", "es-US", 1},     {"Celine", "fr-FR", 2},
    {"Lea", "fr-FR", 2},       {"Mathieu", "fr-FR", 1},   {"Remi", "fr-FR", 1},
    {"Chantal", "fr-CA", 2},   {"Gabrielle", "fr-CA", 2}, {"Liam", "fr-CA", 1},
    {"Marlene", "de-DE", 2},   {"Vicki", "de-DE", 2},     {"Hans", "de-DE", 1},
    {"Daniel", "de-DE", 1},    {"Carla", "it-IT", 2},     {"Bianca", "it-IT", 2},
    {"Giorgio", "it-IT", 1},   {"Adriano", "it-IT", 1},   {"Mizuki", "ja-JP", 2},
    {"Kazuha", "ja-JP", 2},    {"Tomoko", "ja-JP", 2},    {"Takumi", "ja-JP", 1},
    {"Seoyeon", "ko-KR", 2},   {"Vitoria", "pt-BR", 2},   {"Camila", "pt-BR", 2},
    {"Ricardo", "pt-BR", 1},   {"Thiago", "pt-BR", 1},    {"Ines", "pt-PT", 2},
    {"Cristiano", "pt-PT", 1}, {"Lotte", "nl-NL", 2},     {"Laura", "nl-NL", 2},
    {"Ruben", "nl-NL", 1},     {"Ewa", "pl-PL", 2},       {"Maja", "pl-PL", 2},
    {"Ola", "pl-PL", 2},       {"Jacek", "pl-PL", 1},     {"Jan", "pl-PL", 1},
    {"Tatyana", "ru-RU", 2},   {"Maxim", "ru-RU", 1},     {"Astrid", "sv-SE", 2},
    {"Elin", "sv-SE", 2},      {"Naja", "da-DK", 2},      {"Sofie", "da-DK", 2},
    {"Mads", "da-DK", 1},      {"Liv", "nb-NO", 2},       {"Ida", "nb-NO", 2},
    {"Dora", "is-IS", 2},      {"Karl", "is-IS", 1},      {"Carmen", "ro-RO", 2},
    {"Filiz", "tr-TR", 2},     {"Burcu", "tr-TR", 2},     {"Zhiyu", "cmn-CN", 2},
    {"Zeina", "arb", 2},       {"Hannah", "de-AT", 2},    {"Suvi", "fi-FI", 2},
    {"Arlet", "ca-ES", 2},
};

/* Copies a language tag in lowercase if it looks like one (letters, digits and '-'), else "". */
static void tag_lower(const char *in, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    out[0] = '\0';
    if (!in || n == 0 || n >= cap)
        return;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!isalnum(c) && c != '-') {
            out[0] = '\0';
            return;
        }
        out[i] = (char)tolower(c);
    }
    out[i] = '\0';
}

void recd_say_map(const char *voice, const char *language, char *lang, size_t cap, int *gender)
{
    char tag[32], google[16];
    const char *src = language && *language ? language : "en-US";
    *gender = 1; /* Twilio's default voice is "man" */
    if (voice && *voice) {
        if (strcasecmp(voice, "woman") == 0 || strcasecmp(voice, "alice") == 0) {
            *gender = 2;
        } else if (strncasecmp(voice, "Polly.", 6) == 0) {
            const char *name = voice + 6;
            size_t n = strcspn(name, "-");
            *gender = 0;
            for (size_t i = 0; i < sizeof polly / sizeof polly[0]; i++)
                if (strlen(polly[i].name) == n && strncasecmp(polly[i].name, name, n) == 0) {
                    src = polly[i].lang;
                    *gender = polly[i].gender;
                    break;
                }
        } else if (strncasecmp(voice, "Google.", 7) == 0) {
            /* "Google.en-US-Standard-C": the language is the first two parts of the name. */
            const char *name = voice + 7, *dash = strchr(name, '-');
            size_t n = dash ? (size_t)(dash - name) + 1 + strcspn(dash + 1, "-") : 0;
            *gender = 0;
            if (n > 0 && n < sizeof google) {
                memcpy(google, name, n);
                google[n] = '\0';
                src = google;
            }
        }
    }
    tag_lower(src, strlen(src), tag, sizeof tag);
    if (!tag[0])
        snprintf(tag, sizeof tag, "en-us");
    for (size_t i = 0; i < sizeof languages / sizeof languages[0]; i++)
        if (strcmp(languages[i].twilio, tag) == 0) {
            snprintf(lang, cap, "%s", languages[i].espeak);
            return;
        }
    snprintf(lang, cap, "%s", tag);
}

/* espeak-ng hands over audio in blocks as it speaks; NULL ends a synthesis. */
static int on_synth(short *wav, int n, espeak_EVENT *events)
{
    (void)events;
    struct speech *sp = speech_target;
    if (!wav || n <= 0 || !sp)
        return 0;
    if (sp->n + (size_t)n > sp->max) {
        sp->too_large = 1;
        return 1; /* abort */
    }
    if (sp->n + (size_t)n > sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 65536;
        while (cap < sp->n + (size_t)n)
            cap *= 2;
        int16_t *p = realloc(sp->p, cap * sizeof *p);
        if (!p) {
            sp->oom = 1;
            return 1;
        }
        sp->p = p;
        sp->cap = cap;
    }
    memcpy(sp->p + sp->n, wav, (size_t)n * sizeof *wav);
    sp->n += (size_t)n;
    return 0;
}

/* espeak-ng starts once per process and is never stopped: espeak_ng_Terminate can hang waiting
 * for the queue thread espeak_ng_Initialize starts (seen with 1.51 in synchronous mode), and
 * the little it holds stays reachable, so nothing leaks. */
static void engine_init(void)
{
    espeak_ng_InitializePath(NULL);
    espeak_ng_STATUS st = espeak_ng_Initialize(NULL);
    if (st == ENS_OK)
        st = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
    if (st != ENS_OK) {
        recd_log_error("say: cannot start espeak-ng (status %d); is espeak-ng-data installed?", (int)st);
        return;
    }
    espeak_SetSynthCallback(on_synth);
    engine_rate = espeak_ng_GetSampleRate();
}

static int engine_start(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, engine_init);
    pthread_mutex_lock(&engine_lock);
    int ok = engine_rate > 0;
    pthread_mutex_unlock(&engine_lock);
    return ok ? 0 : RECD_E_INTERNAL;
}

/* Speaks `text` (NUL-terminated) at espeak-ng's own rate, then converts it to 8 kHz. */
static int synthesise(const char *text, size_t len, const char *voice, const char *language,
                      struct recd_pcm *out)
{
    char lang[32];
    int gender, rc = 0;
    struct speech sp = {0};
    recd_say_map(voice, language, lang, sizeof lang, &gender);
    pthread_mutex_lock(&engine_lock);
    sp.max = (size_t)engine_rate * (RECD_AUDIO_MAX_SAMPLES / RECD_AUDIO_RATE);
    espeak_VOICE spec = {0};
    spec.languages = lang;
    spec.gender = (unsigned char)gender;
    if (espeak_ng_SetVoiceByProperties(&spec) != ENS_OK) {
        espeak_VOICE fallback = {0};
        fallback.languages = "en-us";
        fallback.gender = (unsigned char)gender;
        espeak_ng_SetVoiceByProperties(&fallback);
    }
    speech_target = &sp;
    espeak_ng_STATUS st =
        espeak_ng_Synthesize(text, len + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL);
    speech_target = NULL;
    int rate = engine_rate;
    pthread_mutex_unlock(&engine_lock);
    if (sp.too_large)
        rc = RECD_E_TOO_LARGE;
    else if (sp.oom || (st != ENS_OK && st != ENS_SPEECH_STOPPED))
        rc = RECD_E_INTERNAL;
    else if (sp.n > 0)
        rc = recd_audio_resample(sp.p, sp.n, (unsigned)rate, out);
    free(sp.p);
    return rc;
}

int recd_say_open(size_t cache_bytes, struct recd_say **out)
{
    *out = NULL;
    int rc = engine_start();
    if (rc < 0)
        return rc;
    struct recd_say *s = calloc(1, sizeof *s);
    if (!s)
        return RECD_E_INTERNAL;
    pthread_mutex_init(&s->lock, NULL);
    s->cap = cache_bytes;
    *out = s;
    return 0;
}

static void entry_free(struct entry *e)
{
    free(e->key);
    recd_pcm_free(&e->pcm);
    free(e);
}

void recd_say_close(struct recd_say *s)
{
    if (!s)
        return;
    for (struct entry *e = s->head, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211u;
    }
    return h;
}

static size_t entry_bytes(const struct entry *e)
{
    return e->key_len + e->pcm.n * sizeof(int16_t) + sizeof *e;
}

static void lru_unlink(struct recd_say *s, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct recd_say *s, struct entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

static struct entry *lookup(struct recd_say *s, uint64_t h, const char *key, size_t key_len)
{
    for (struct entry *e = s->buckets[h % BUCKETS]; e; e = e->hnext)
        if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            return e;
    return NULL;
}

static void evict(struct recd_say *s, struct entry *e)
{
    struct entry **pp = &s->buckets[e->hash % BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(s, e);
    s->used -= entry_bytes(e);
    entry_free(e);
}

static int pcm_copy(const struct recd_pcm *src, struct recd_pcm *dst)
{
    memset(dst, 0, sizeof *dst);
    if (src->n == 0)
        return 0;
    dst->samples = malloc(src->n * sizeof *dst->samples);
    if (!dst->samples)
        return RECD_E_INTERNAL;
    memcpy(dst->samples, src->samples, src->n * sizeof *dst->samples);
    dst->n = src->n;
    return 0;
}

/* Keeps a copy of `pcm` under `key`, evicting the least recently used entries to make room.
 * Audio larger than the whole cache is not kept. Called with the cache lock held. */
static void insert(struct recd_say *s, uint64_t h, const char *key, size_t key_len,
                   const struct recd_pcm *pcm)
{
    if (lookup(s, h, key, key_len))
        return; /* another thread spoke the same text meanwhile */
    struct entry *e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->hash = h;
    e->key_len = key_len;
    e->key = malloc(key_len);
    if (!e->key || pcm_copy(pcm, &e->pcm) < 0 || entry_bytes(e) > s->cap) {
        entry_free(e);
        return;
    }
    memcpy(e->key, key, key_len);
    while (s->tail && s->used + entry_bytes(e) > s->cap)
        evict(s, s->tail);
    e->hnext = s->buckets[h % BUCKETS];
    s->buckets[h % BUCKETS] = e;
    lru_push_front(s, e);
    s->used += entry_bytes(e);
}

int recd_say_render(struct recd_say *s, const char *text, const char *voice, const char *language,
                    struct recd_pcm *out)
{
    memset(out, 0, sizeof *out);
    size_t tl = strlen(text), vl = voice ? strlen(voice) : 0, ll = language ? strlen(language) : 0;
    if (tl > RECD_SAY_TEXT_MAX || !recd_utf8_valid(text, tl) || vl > 64 || ll > 64)
        return RECD_E_BAD_INPUT;
    if (tl == 0)
        return 0;
    /* The key: voice, language and text, each ended by a NUL (none of them holds one). */
    size_t key_len = vl + ll + tl + 3;
    char *key = malloc(key_len);
    if (!key)
        return RECD_E_INTERNAL;
    memcpy(key, voice ? voice : "", vl + 1);
    memcpy(key + vl + 1, language ? language : "", ll + 1);
    memcpy(key + vl + ll + 2, text, tl + 1);
    uint64_t h = fnv1a(key, key_len);

    pthread_mutex_lock(&s->lock);
    struct entry *e = lookup(s, h, key, key_len);
    int rc = 0;
    if (e) {
        lru_unlink(s, e);
        lru_push_front(s, e);
        s->hits++;
        rc = pcm_copy(&e->pcm, out);
        pthread_mutex_unlock(&s->lock);
        free(key);
        return rc;
    }
    s->misses++;
    pthread_mutex_unlock(&s->lock);

    rc = synthesise(text, tl, voice, language, out);
    if (rc == 0 && s->cap > 0) {
        pthread_mutex_lock(&s->lock);
        insert(s, h, key, key_len, out);
        pthread_mutex_unlock(&s->lock);
    }
    free(key);
    return rc;
}

void recd_say_stats(struct recd_say *s, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&s->lock);
    *hits = s->hits;
    *misses = s->misses;
    pthread_mutex_unlock(&s->lock);
}
