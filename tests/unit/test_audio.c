/* voice/audio: decoding WAV and MP3 to 8 kHz mono, the beep, silence and the silence test. */
#include "unit.h"

#include "tone.h"

#include "core/buf.h"
#include "core/error.h"
#include "media/transcode.h"
#include "voice/audio.h"

#include <sndfile.h>
#include <sys/mman.h>
#include <unistd.h>

/* A file made with libsndfile in memory: `frames` frames of `freq` Hz on every channel. */
static unsigned char *make_file(int format, int rate, int channels, size_t frames, double freq, size_t *len)
{
    int fd = memfd_create("test-audio", MFD_CLOEXEC);
    assert_true(fd >= 0);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open_fd(fd, SFM_WRITE, &info, 0);
    assert_non_null(sf);
    int16_t *mono = malloc(frames * sizeof *mono + 1);
    float *inter = malloc(frames * (size_t)channels * sizeof *inter + 1);
    tone_fill(mono, frames, freq, 10000, (unsigned)rate, 0);
    /* Floats in [-1, 1): libsndfile scales them to any integer format, and stores them as they
     * are in a float one. */
    for (size_t i = 0; i < frames; i++)
        for (int c = 0; c < channels; c++)
            inter[i * (size_t)channels + (size_t)c] = (float)mono[i] / 32768.0f;
    assert_int_equal(sf_writef_float(sf, inter, (sf_count_t)frames), (sf_count_t)frames);
    sf_close(sf);
    free(mono);
    free(inter);
    off_t n = lseek(fd, 0, SEEK_END);
    unsigned char *p = malloc((size_t)n);
    assert_int_equal(pread(fd, p, (size_t)n, 0), n);
    close(fd);
    *len = (size_t)n;
    return p;
}

static void decode_wav_8k_is_exact(void **state)
{
    (void)state;
    size_t len;
    unsigned char *f = make_file(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 8000, 440, &len);
    struct recd_pcm pcm;
    assert_int_equal(recd_audio_decode(f, len, "audio/wav", &pcm), 0);
    assert_int_equal(pcm.n, 8000);
    int16_t want[8000];
    tone_fill(want, 8000, 440, 10000, 8000, 0);
    assert_memory_equal(pcm.samples, want, sizeof want);
    recd_pcm_free(&pcm);
    assert_null(pcm.samples);
    free(f);
}

static void decode_wav_resamples_and_mixes(void **state)
{
    (void)state;
    static const int formats[] = {SF_FORMAT_WAV | SF_FORMAT_FLOAT, SF_FORMAT_WAV | SF_FORMAT_PCM_24,
                                  SF_FORMAT_AIFF | SF_FORMAT_PCM_16, SF_FORMAT_FLAC | SF_FORMAT_PCM_16};
    static const double freqs[] = {500, 1000, 1500, 2000};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        size_t len;
        /* 1.5 s of 1 kHz in stereo at 44.1 kHz. */
        unsigned char *f = make_file(formats[i], 44100, 2, 66150, 1000, &len);
        struct recd_pcm pcm;
        assert_int_equal(recd_audio_decode(f, len, NULL, &pcm), 0);
        assert_true(pcm.n >= 11990 && pcm.n <= 12010);
        /* Away from the edges, the tone is whole: 1 kHz at the level it was written. */
        assert_int_equal(strongest(pcm.samples + 800, 8000, freqs, 4, 8000), 1);
        double a = goertzel(pcm.samples + 800, 8000, 1000, 8000);
        assert_true(a > 9500 && a < 10500);
        assert_true(goertzel(pcm.samples + 800, 8000, 2000, 8000) < 50);
        recd_pcm_free(&pcm);
        free(f);
    }
}

static void decode_mp3(void **state)
{
    (void)state;
    /* An MP3 as a web server would serve one: made by LAME from a 16 kHz WAV of 697 Hz. */
    size_t len;
    unsigned char *wav = make_file(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 32000, 697, &len);
    int fd = memfd_create("test-mp3", MFD_CLOEXEC);
    assert_int_equal(write(fd, wav, len), (ssize_t)len);
    struct recd_buf mp3;
    recd_buf_init(&mp3, 0);
    assert_int_equal(recd_mp3_encode(fd, &mp3), 0);
    close(fd);
    static const double freqs[] = {697, 770, 852, 941, 1209};
    struct recd_pcm pcm;
    /* By its bytes (a frame sync) whatever the type says, and with the type alone. */
    assert_int_equal(recd_audio_decode(mp3.p, mp3.len, "application/octet-stream", &pcm), 0);
    assert_true(pcm.n >= 15800 && pcm.n <= 17500);
    assert_int_equal(strongest(pcm.samples + 2000, 8000, freqs, 5, 8000), 0);
    assert_true(goertzel(pcm.samples + 2000, 8000, 697, 8000) > 8000);
    recd_pcm_free(&pcm);
    /* With an ID3v2 tag in front. */
    struct recd_buf tagged;
    recd_buf_init(&tagged, 0);
    static const unsigned char id3[10] = {'I', 'D', '3', 3, 0, 0, 0, 0, 0, 10};
    recd_buf_add(&tagged, (const char *)id3, sizeof id3);
    recd_buf_add(&tagged, "0123456789", 10);
    recd_buf_add(&tagged, mp3.p, mp3.len);
    assert_int_equal(recd_audio_decode(tagged.p, tagged.len, "audio/mpeg", &pcm), 0);
    assert_int_equal(strongest(pcm.samples + 2000, 8000, freqs, 5, 8000), 0);
    recd_pcm_free(&pcm);
    recd_buf_free(&tagged);
    recd_buf_free(&mp3);
    free(wav);
}

static void decode_refuses_garbage(void **state)
{
    (void)state;
    struct recd_pcm pcm;
    unsigned char junk[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    assert_int_equal(recd_audio_decode(junk, sizeof junk, "audio/wav", &pcm), RECD_E_BAD_INPUT);
    assert_null(pcm.samples);
    assert_int_equal(recd_audio_decode(junk, sizeof junk, "audio/mpeg", &pcm), RECD_E_BAD_INPUT);
    assert_int_equal(recd_audio_decode(junk, 0, NULL, &pcm), RECD_E_BAD_INPUT);
    assert_int_equal(recd_audio_decode("ID3", 3, NULL, &pcm), RECD_E_BAD_INPUT);
    assert_int_equal(recd_audio_decode("<html>not found</html>", 22, "text/html", &pcm), RECD_E_BAD_INPUT);
    /* A WAV cut inside its header. */
    size_t len;
    unsigned char *f = make_file(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 800, 440, &len);
    assert_int_equal(recd_audio_decode(f, 30, NULL, &pcm), RECD_E_BAD_INPUT);
    /* A header and no samples. */
    unsigned char *e = make_file(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 0, 440, &len);
    assert_int_equal(recd_audio_decode(e, len, NULL, &pcm), RECD_E_BAD_INPUT);
    free(f);
    free(e);
}

static void decode_caps_length(void **state)
{
    (void)state;
    size_t len;
    /* 11 minutes at 2 kHz: small as a file, over the 10-minute cap once decoded. */
    unsigned char *f = make_file(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 2000, 1, 2000 * 660, 300, &len);
    struct recd_pcm pcm;
    assert_int_equal(recd_audio_decode(f, len, NULL, &pcm), RECD_E_TOO_LARGE);
    assert_null(pcm.samples);
    free(f);
    /* 9 minutes is fine, and comes out at 8 kHz. */
    f = make_file(SF_FORMAT_WAV | SF_FORMAT_PCM_16, 2000, 1, 2000 * 540, 300, &len);
    assert_int_equal(recd_audio_decode(f, len, NULL, &pcm), 0);
    assert_true(pcm.n >= 8000 * 540 - 10 && pcm.n <= 8000 * 540 + 10);
    recd_pcm_free(&pcm);
    free(f);
}

static void beep_is_1khz(void **state)
{
    (void)state;
    struct recd_pcm b;
    static const double freqs[] = {440, 1000, 1400, 2000};
    assert_int_equal(recd_audio_beep(&b), 0);
    assert_int_equal(b.n, 4000);
    assert_int_equal(strongest(b.samples, b.n, freqs, 4, 8000), 1);
    assert_true(goertzel(b.samples, b.n, 1000, 8000) > 9000);
    assert_true(abs(b.samples[0]) < 100 && abs(b.samples[b.n - 1]) < 100); /* ramps: no click */
    assert_false(recd_audio_is_silent(b.samples, b.n));
    recd_pcm_free(&b);
}

static void silence_is_zeros(void **state)
{
    (void)state;
    struct recd_pcm s;
    assert_int_equal(recd_audio_silence(250, &s), 0);
    assert_int_equal(s.n, 2000);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.samples[i], 0);
    assert_true(recd_audio_is_silent(s.samples, s.n));
    recd_pcm_free(&s);
    assert_int_equal(recd_audio_silence(0, &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(recd_audio_silence(601000, &s), RECD_E_TOO_LARGE);
}

static void silence_threshold(void **state)
{
    (void)state;
    int16_t buf[8000];
    /* Line noise: uniform, RMS about 87, under the threshold everywhere. */
    unsigned x = 7;
    for (size_t i = 0; i < 8000; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (int16_t)((int)((x >> 16) % 301) - 150);
    }
    assert_true(recd_audio_is_silent(buf, 8000));
    assert_true(recd_audio_is_silent(buf, 0));
    /* Soft speech level (-40 dBFS, RMS about 330): sound. */
    tone_fill(buf, 8000, 300, 466, 8000, 0);
    assert_false(recd_audio_is_silent(buf, 8000));
    /* One 20 ms word in a second of noise is sound, and the span finds it. */
    for (size_t i = 0; i < 8000; i++)
        buf[i] = (int16_t)(i % 3);
    tone_fill(buf + 4000, 160, 500, 3000, 8000, 0);
    assert_false(recd_audio_is_silent(buf, 8000));
    size_t a, z;
    recd_audio_sound_span(buf, 8000, &a, &z);
    assert_int_equal(a, 4000);
    assert_int_equal(z, 4160);
    memset(buf, 0, sizeof buf);
    recd_audio_sound_span(buf, 8000, &a, &z);
    assert_int_equal(a, 0);
    assert_int_equal(z, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_wav_8k_is_exact),
        cmocka_unit_test(decode_wav_resamples_and_mixes),
        cmocka_unit_test(decode_mp3),
        cmocka_unit_test(decode_refuses_garbage),
        cmocka_unit_test(decode_caps_length),
        cmocka_unit_test(beep_is_1khz),
        cmocka_unit_test(silence_is_zeros),
        cmocka_unit_test(silence_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
