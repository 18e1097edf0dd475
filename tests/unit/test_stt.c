/*
 * Unit tests of src/stt: the response parser of the external engine, resampling, reading stored
 * WAVs, and the built-in engine on Debian's pocketsphinx-testdata (real speech with reference
 * transcripts). The external engine's wire format is tested against a real HTTP server in
 * tests/e2e/test_transcription.py.
 */
#include "unit.h"

#include "core/error.h"
#include "stt/stt.h"
#include "stt/stt_internal.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#define TESTDATA "/usr/share/pocketsphinx/test/data"

static int json(const char *s, size_t max, struct recd_buf *t)
{
    return recd_stt_json_text(s, strlen(s), max, t);
}

static void test_json_text(void **state)
{
    (void)state;
    struct recd_buf t;
    recd_buf_init(&t, 0);
    assert_int_equal(json("{\"text\": \" Hello world.\"}", 100, &t), 0);
    assert_buf(&t, "Hello world.");
    /* Other members, nested values and escapes are read past; a nested "text" is not the text. */
    assert_int_equal(json(" {\"task\":\"transcribe\",\"segments\":[{\"text\":\"x\",\"p\":-1.5e3}],"
                          "\"text\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\\n\",\"ok\":true,\"n\":null}\n",
                          100, &t),
                     0);
    assert_buf(&t, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\"");
    assert_int_equal(json("{\"text\":\"\"}", 100, &t), 0);
    assert_buf(&t, "");

    const char *bad[] = {
        "",
        "[]",
        "\"text\"",
        "{}",                        /* no text */
        "{\"text\": 5}",             /* not a string */
        "{\"text\": \"a\"} x",       /* trailing garbage */
        "{\"text\": \"a\",}",        /* trailing comma */
        "{\"text\": \"a\\u0000b\"}", /* NUL */
        "{\"text\": \"\\ud800\"}",   /* lone surrogate */
        "{\"text\": \"\xff\"}",      /* not UTF-8 */
        "{\"text\": \"a\nb\"}",      /* raw control character */
        "{\"text\": \"a\", \"x\": 01}",
        "{\"text\": \"a\", \"x\": tru}",
        "<html>Internal Server Error</html>",
        "{\"text\": \"abcdefghijk\"}", /* longer than the limit below */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (json(bad[i], 10, &t) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(t.len, 0);
    }
    /* Nesting is bounded. */
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, ",\"text\":\"x\"}");
    assert_int_equal(json(deep, 10, &t), -1);
    recd_buf_free(&t);
}

static void test_resample(void **state)
{
    (void)state;
    /* A 1 kHz tone at 8 kHz is a 1 kHz tone at 16 kHz: count the zero crossings. */
    int16_t in[8000];
    for (int i = 0; i < 8000; i++)
        in[i] = (int16_t)(10000 * sin(2 * M_PI * 1000 * i / 8000.0));
    int16_t *out;
    size_t n;
    assert_int_equal(recd_stt_resample(in, 8000, 8000, 16000, &out, &n), 0);
    assert_true(n >= 15990 && n <= 16010);
    int crossings = 0;
    for (size_t i = 1000; i < 15000; i++)
        if ((out[i - 1] < 0) != (out[i] < 0))
            crossings++;
    /* 14000 samples at 16 kHz = 0.875 s of 1 kHz: 1750 crossings. */
    assert_true(crossings >= 1745 && crossings <= 1755);

    /* The same input gives the same samples, every time: no dither (libsoxr's, seeded from the
     * clock, made every call differ; an engine then heard different words in the same audio). */
    for (int k = 0; k < 3; k++) {
        int16_t *again;
        size_t an;
        assert_int_equal(recd_stt_resample(in, 8000, 8000, 16000, &again, &an), 0);
        assert_int_equal(an, n);
        assert_memory_equal(again, out, n * sizeof *out);
        free(again);
    }
    free(out);
}

/* Reads a file of Debian's test data into PCM through the WAV reader. */
static void read_testdata(const char *name, struct recd_stt_pcm *pcm)
{
    char path[256];
    snprintf(path, sizeof path, TESTDATA "/%s", name);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char why[160];
    int rc = recd_stt_read_wav(fd, 0, pcm, why, sizeof why);
    if (rc < 0)
        fail_msg("%s: %s", name, why);
    close(fd);
}

static void test_read_wav(void **state)
{
    (void)state;
    struct recd_stt_pcm pcm;
    read_testdata("cards/001.wav", &pcm);
    assert_int_equal(pcm.rate, 16000);
    assert_int_equal(pcm.n, 17526);
    assert_int_equal(pcm.duration_ms, 1095);
    free(pcm.samples);

    /* The limit is checked before reading; a file that is not a WAV is refused. */
    int fd = open(TESTDATA "/cards/001.wav", O_RDONLY);
    char why[160];
    assert_int_equal(recd_stt_read_wav(fd, 1000, &pcm, why, sizeof why), RECD_E_TOO_LARGE);
    assert_non_null(strstr(why, "limit is 1 s"));
    close(fd);
    fd = open(TESTDATA "/cards/cards.gram", O_RDONLY);
    assert_int_equal(recd_stt_read_wav(fd, 0, &pcm, why, sizeof why), RECD_E_BAD_INPUT);
    close(fd);
}

static struct recd_stt_engine *open_sphinx(void)
{
    struct recd_stt_config c = {0};
    struct recd_stt_engine *e;
    char why[256];
    int rc = recd_stt_open(&c, &e, why, sizeof why);
    if (rc < 0)
        fail_msg("open: %s", why);
    assert_string_equal(e->ops->name, "pocketsphinx");
    return e;
}

static int ticks;
static int count_tick(void *arg)
{
    (void)arg;
    ticks++;
    return 0;
}
static int stop_tick(void *arg)
{
    (void)arg;
    return RECD_E_NOT_FOUND;
}

static void test_sphinx(void **state)
{
    (void)state;
    struct recd_stt_engine *e = open_sphinx();
    struct recd_stt_pcm pcm;
    struct recd_stt_result r;
    char why[256];
    recd_stt_result_init(&r);

    /* pocketsphinx_continuous says "he was not an illness those young man" for this file. */
    read_testdata("librivox/sense_and_sensibility_01_austen_64kb-0880.wav", &pcm);
    ticks = 0;
    assert_int_equal(
        e->ops->transcribe(e, pcm.samples, pcm.n, pcm.rate, count_tick, NULL, &r, why, sizeof why), 0);
    assert_buf(&r.text, "he was not an illness those young man");
    assert_true(r.confidence > 0 && r.confidence <= 1);
    assert_true(ticks >= 1);

    /* Other speech in between changes nothing: each recording starts from the same state. */
    struct recd_stt_pcm other;
    read_testdata("librivox/sense_and_sensibility_01_austen_64kb-0920.wav", &other);
    assert_int_equal(
        e->ops->transcribe(e, other.samples, other.n, other.rate, NULL, NULL, &r, why, sizeof why), 0);
    assert_int_equal(e->ops->transcribe(e, pcm.samples, pcm.n, pcm.rate, NULL, NULL, &r, why, sizeof why), 0);
    assert_buf(&r.text, "he was not an illness those young man");
    free(other.samples);

    /* The same speech at telephone rate goes through the resampler: wrong words (the 16 kHz model
     * on upsampled 8 kHz audio is near chance, docs/transcription.md), but the same wrong words
     * every time, in every run. */
    int16_t *low;
    size_t ln;
    assert_int_equal(recd_stt_resample(pcm.samples, pcm.n, 16000, 8000, &low, &ln), 0);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(e->ops->transcribe(e, low, ln, 8000, NULL, NULL, &r, why, sizeof why), 0);
        assert_buf(&r.text, "he was not a build russia and iran");
    }

    /* A tick that says stop stops it, with its code. */
    assert_int_equal(
        e->ops->transcribe(e, pcm.samples, pcm.n, pcm.rate, stop_tick, NULL, &r, why, sizeof why),
        RECD_E_NOT_FOUND);

    /* Silence gives no words, and no error. */
    int16_t *silence = calloc(16000 * 3, sizeof *silence);
    assert_int_equal(e->ops->transcribe(e, silence, 16000 * 3, 16000, NULL, NULL, &r, why, sizeof why), 0);
    assert_buf(&r.text, "");
    free(silence);
    free(low);
    free(pcm.samples);
    e->ops->close(e);

    recd_stt_result_free(&r);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct recd_stt_engine *e;
    char why[256];
    struct recd_stt_config c = {.model_dir = "/nonexistent"};
    assert_int_equal(recd_stt_open(&c, &e, why, sizeof why), RECD_E_NOT_FOUND);
    assert_non_null(strstr(why, "pocketsphinx-en-us"));
    assert_null(e);
    const char *urls[] = {"ftp://x/", "http://", "http:///x", "http://a b/", "localhost:8080"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        c = (struct recd_stt_config){.url = urls[i]};
        if (recd_stt_open(&c, &e, why, sizeof why) != RECD_E_BAD_INPUT)
            fail_msg("accepted %s", urls[i]);
    }
    c = (struct recd_stt_config){.url = "http://127.0.0.1:1/", .model = "m", .key = "sk-1"};
    assert_int_equal(recd_stt_open(&c, &e, why, sizeof why), 0);
    assert_string_equal(e->ops->name, "openai");
    /* Nothing listens on port 1: worth retrying later, not a refusal. */
    int16_t pcm[800] = {0};
    struct recd_stt_result r;
    recd_stt_result_init(&r);
    assert_int_equal(e->ops->transcribe(e, pcm, 800, 8000, NULL, NULL, &r, why, sizeof why),
                     RECD_E_UNAVAILABLE);
    assert_non_null(strstr(why, "unreachable"));
    recd_stt_result_free(&r);
    e->ops->close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_text), cmocka_unit_test(test_resample),    cmocka_unit_test(test_read_wav),
        cmocka_unit_test(test_sphinx),    cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
