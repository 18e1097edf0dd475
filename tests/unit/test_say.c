/* voice/say: <Say> with espeak-ng: real speech at 8 kHz, the voice map, the cache. */
#include "unit.h"

#include "core/error.h"
#include "voice/say.h"

#include <pthread.h>

static void map_voices(void **state)
{
    (void)state;
    char lang[32];
    int g;
    recd_say_map(NULL, NULL, lang, sizeof lang, &g);
    assert_string_equal(lang, "en-us");
    assert_int_equal(g, 1);
    recd_say_map("woman", "en-GB", lang, sizeof lang, &g);
    assert_string_equal(lang, "en-gb");
    assert_int_equal(g, 2);
    recd_say_map("alice", "fr-CA", lang, sizeof lang, &g);
    assert_string_equal(lang, "fr-fr");
    assert_int_equal(g, 2);
    recd_say_map("man", "zh-HK", lang, sizeof lang, &g);
    assert_string_equal(lang, "yue");
    /* Polly voices speak their own language, whatever the attribute says. */
    recd_say_map("Polly.Brian-Neural", "en-US", lang, sizeof lang, &g);
    assert_string_equal(lang, "en-gb");
    assert_int_equal(g, 1);
    recd_say_map("Polly.Celine", NULL, lang, sizeof lang, &g);
    assert_string_equal(lang, "fr-fr");
    assert_int_equal(g, 2);
    recd_say_map("Google.de-DE-Standard-A", "en-US", lang, sizeof lang, &g);
    assert_string_equal(lang, "de");
    /* Unknown: a Polly name recd does not know keeps the attribute; a strange tag is refused. */
    recd_say_map("Polly.Nobody", "it-IT", lang, sizeof lang, &g);
    assert_string_equal(lang, "it");
    recd_say_map("man", "../../etc", lang, sizeof lang, &g);
    assert_string_equal(lang, "en-us");
    recd_say_map("man", "de-AT", lang, sizeof lang, &g);
    assert_string_equal(lang, "de-at");
}

/* Speech has sound, but also pauses between words: most 20 ms windows are loud. */
static void assert_speech(const struct recd_pcm *p, size_t min_samples)
{
    assert_true(p->n >= min_samples);
    assert_false(recd_audio_is_silent(p->samples, p->n));
    size_t loud = 0, windows = 0;
    for (size_t at = 0; at + RECD_AUDIO_WINDOW <= p->n; at += RECD_AUDIO_WINDOW, windows++)
        loud += !recd_audio_is_silent(p->samples + at, RECD_AUDIO_WINDOW);
    assert_true(loud * 3 > windows);
}

static void speaks_and_caches(void **state)
{
    (void)state;
    struct recd_say *s;
    struct recd_pcm a, b, c;
    uint64_t hits, misses;
    assert_int_equal(recd_say_open(1 << 20, &s), 0);
    assert_int_equal(recd_say_render(s, "Please leave a message after the beep.", "alice", "en-US", &a), 0);
    assert_speech(&a, 8000); /* over a second */
    assert_true(a.n < 8000 * 10);
    assert_int_equal(recd_say_render(s, "Please leave a message after the beep.", "alice", "en-US", &b), 0);
    recd_say_stats(s, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.samples, b.samples, a.n * sizeof *a.samples);
    assert_true(a.samples != b.samples); /* each caller owns its copy */
    /* Another voice is another entry, and sounds different. */
    assert_int_equal(recd_say_render(s, "Please leave a message after the beep.", "man", "en-US", &c), 0);
    recd_say_stats(s, &hits, &misses);
    assert_int_equal(misses, 2);
    assert_speech(&c, 8000);
    assert_true(c.n != a.n || memcmp(a.samples, c.samples, a.n * sizeof *a.samples) != 0);
    recd_pcm_free(&a);
    recd_pcm_free(&b);
    recd_pcm_free(&c);
    /* Other languages speak. */
    assert_int_equal(recd_say_render(s, "Bonjour, laissez un message.", "Polly.Celine", NULL, &a), 0);
    assert_speech(&a, 4000);
    recd_pcm_free(&a);
    assert_int_equal(recd_say_render(s, "Hallo <b>Welt</b> & mehr", "man", "de-DE", &a), 0);
    assert_speech(&a, 4000);
    recd_pcm_free(&a);
    recd_say_close(s);
}

static void bounded_cache(void **state)
{
    (void)state;
    struct recd_say *s;
    struct recd_pcm a;
    uint64_t hits, misses;
    /* Room for two words (about 6 KB each) or one phrase (15 KB): the phrase evicts both. */
    assert_int_equal(recd_say_open(20000, &s), 0);
    assert_int_equal(recd_say_render(s, "one", NULL, NULL, &a), 0);
    recd_pcm_free(&a);
    assert_int_equal(recd_say_render(s, "two", NULL, NULL, &a), 0);
    recd_pcm_free(&a);
    assert_int_equal(recd_say_render(s, "two", NULL, NULL, &a), 0);
    recd_pcm_free(&a);
    assert_int_equal(recd_say_render(s, "three four five", NULL, NULL, &a), 0);
    recd_pcm_free(&a);
    assert_int_equal(recd_say_render(s, "one", NULL, NULL, &a), 0);
    recd_pcm_free(&a);
    recd_say_stats(s, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 4);
    recd_say_close(s);
}

static void refuses_bad_text(void **state)
{
    (void)state;
    struct recd_say *s;
    struct recd_pcm a;
    assert_int_equal(recd_say_open(0, &s), 0);
    assert_int_equal(recd_say_render(s, "bad \xff\xfe utf-8", NULL, NULL, &a), RECD_E_BAD_INPUT);
    assert_null(a.samples);
    char *big = malloc(RECD_SAY_TEXT_MAX + 2);
    memset(big, 'a', RECD_SAY_TEXT_MAX + 1);
    big[RECD_SAY_TEXT_MAX + 1] = '\0';
    assert_int_equal(recd_say_render(s, big, NULL, NULL, &a), RECD_E_BAD_INPUT);
    free(big);
    assert_int_equal(recd_say_render(s, "", NULL, NULL, &a), 0);
    assert_int_equal(a.n, 0);
    /* An unknown language still speaks (espeak-ng's nearest, or English). */
    assert_int_equal(recd_say_render(s, "hello", "man", "xx-YY", &a), 0);
    assert_speech(&a, 1600);
    recd_pcm_free(&a);
    recd_say_close(s);
}

struct worker {
    struct recd_say *s;
    int i, rc;
    size_t n;
};

static void *speak_thread(void *arg)
{
    struct worker *w = arg;
    static const char *const texts[] = {"first caller", "second caller", "first caller", "fourth"};
    for (int k = 0; k < 3 && w->rc == 0; k++) {
        struct recd_pcm p;
        w->rc = recd_say_render(w->s, texts[(w->i + k) % 4], w->i % 2 ? "woman" : "man", "en-US", &p);
        w->n += p.n;
        recd_pcm_free(&p);
    }
    return NULL;
}

static void threads_share(void **state)
{
    (void)state;
    struct recd_say *s, *s2;
    assert_int_equal(recd_say_open(1 << 20, &s), 0);
    assert_int_equal(recd_say_open(1 << 20, &s2), 0); /* a second cache on the same engine */
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){i % 2 ? s : s2, i, 0, 0};
        pthread_create(&t[i], NULL, speak_thread, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
        assert_true(w[i].n > 8000);
    }
    recd_say_close(s2);
    recd_say_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(map_voices),    cmocka_unit_test(speaks_and_caches),
        cmocka_unit_test(bounded_cache), cmocka_unit_test(refuses_bad_text),
        cmocka_unit_test(threads_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
