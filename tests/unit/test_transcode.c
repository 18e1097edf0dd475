#include "media/transcode.h"

#include "core/error.h"
#include "media/wav.h"

#include "unit.h"

#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * The WAVs are written byte by byte here, from samples the test chose, so every expectation is
 * computed from the input rather than from another encoder. The MP3s are checked by walking
 * their frame headers and LAME tag as a player would, and, where mpg123 is installed, by
 * decoding them and looking at the audio that comes out.
 */

static char tmpdir[] = "/tmp/recd-test-transcode-XXXXXX";
static int file_no;
static int have_mpg123;

/* Interleaved samples as signed integers at their own bit depth (8-bit ones too). */
struct pcm {
    int channels;
    int rate;
    int bits;
    int64_t frames;
    int32_t *s;
};

static void free_pcm(struct pcm *p)
{
    free(p->s);
    p->s = NULL;
}

/* A sine per channel at half of full scale (`hz[1]` ignored for mono). */
static struct pcm sine(int channels, int rate, int bits, double seconds, const double hz[2])
{
    struct pcm p = {channels, rate, bits, (int64_t)llround(seconds * rate), NULL};
    double amp = 0.5 * (double)((INT64_C(1) << (bits - 1)) - 1);
    p.s = malloc(sizeof *p.s * (size_t)(p.frames * channels) + 1);
    assert_non_null(p.s);
    for (int64_t i = 0; i < p.frames; i++)
        for (int c = 0; c < channels; c++)
            p.s[i * channels + c] = (int32_t)lrint(amp * sin(2 * M_PI * hz[c] * (double)i / rate));
    return p;
}

static void le(unsigned char *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t rd_le(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

/* Writes `n` bytes to a fresh file and returns it open for reading, already unlinked. */
static int bytes_fd(const void *p, size_t n)
{
    char path[sizeof tmpdir + 32];
    snprintf(path, sizeof path, "%s/%d.bin", tmpdir, file_no++);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    assert_int_equal(unlink(path), 0);
    return fd;
}

/* A canonical 44-byte-header PCM WAV of `p`, as an open descriptor. */
static int wav_fd(const struct pcm *p)
{
    int bytes = p->bits / 8;
    size_t data = (size_t)(p->frames * p->channels * bytes);
    unsigned char *b = calloc(1, 44 + data + 1);
    assert_non_null(b);
    memcpy(b, "RIFF", 4);
    le(b + 4, (uint32_t)(36 + data), 4);
    memcpy(b + 8, "WAVEfmt ", 8);
    le(b + 16, 16, 4);
    le(b + 20, 1, 2);
    le(b + 22, (uint32_t)p->channels, 2);
    le(b + 24, (uint32_t)p->rate, 4);
    le(b + 28, (uint32_t)(p->rate * p->channels * bytes), 4);
    le(b + 32, (uint32_t)(p->channels * bytes), 2);
    le(b + 34, (uint32_t)p->bits, 2);
    memcpy(b + 36, "data", 4);
    le(b + 40, (uint32_t)data, 4);
    for (int64_t i = 0; i < p->frames * p->channels; i++) {
        uint32_t v = p->bits == 8 ? (uint32_t)(p->s[i] + 128) : (uint32_t)p->s[i];
        le(b + 44 + i * bytes, v, bytes);
    }
    int fd = bytes_fd(b, 44 + data);
    free(b);
    return fd;
}

/* What one MPEG audio Layer III frame header says. */
struct frame {
    int version; /* 1 (MPEG-1), 2 (MPEG-2) or 25 (MPEG-2.5) */
    int kbps;
    int rate;
    int mono; /* channel mode 3 */
    int mode; /* 0 stereo, 1 joint stereo, 2 dual, 3 mono */
    size_t len;
    int samples; /* per frame */
};

static int parse_frame(const unsigned char *p, size_t avail, struct frame *f)
{
    static const int kbps1[16] = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, -1};
    static const int kbps2[16] = {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, -1};
    static const int rate1[4] = {44100, 48000, 32000, -1};

    if (avail < 4 || p[0] != 0xFF || (p[1] & 0xE0) != 0xE0)
        return -1;
    int v = (p[1] >> 3) & 3, layer = (p[1] >> 1) & 3, bi = p[2] >> 4, si = (p[2] >> 2) & 3;
    if (v == 1 || layer != 1 || bi == 0 || bi == 15 || si == 3)
        return -1;
    f->version = v == 3 ? 1 : v == 2 ? 2 : 25;
    f->kbps = f->version == 1 ? kbps1[bi] : kbps2[bi];
    f->rate = rate1[si] / (f->version == 1 ? 1 : f->version == 2 ? 2 : 4);
    f->mode = p[3] >> 6;
    f->mono = f->mode == 3;
    f->samples = f->version == 1 ? 1152 : 576;
    f->len = (size_t)(f->samples / 8 * f->kbps * 1000 / f->rate) + ((p[2] >> 1) & 1);
    return 0;
}

/* What a walk over a whole MP3 found. */
struct walk {
    struct frame first;
    int frames;          /* all frames, the Info frame included */
    uint32_t tag_frames; /* the Info tag's frame count */
    int delay, padding;  /* from the LAME extension of the tag */
    int64_t samples;     /* per channel, as a gapless decoder would output */
};

/*
 * Checks that `b` is nothing but back-to-back Layer III frames of one bitrate, rate and mode,
 * the first an Info (CBR) tag with a LAME extension, and fills *w.
 */
static void walk_mp3(const unsigned char *b, size_t n, struct walk *w)
{
    memset(w, 0, sizeof *w);
    assert_true(n > 4);
    assert_int_equal(parse_frame(b, n, &w->first), 0);
    int side = w->first.version == 1 ? (w->first.mono ? 17 : 32) : (w->first.mono ? 9 : 17);
    const unsigned char *tag = b + 4 + side;
    assert_true(4 + side + 144 <= (int)w->first.len);
    assert_memory_equal(tag, "Info", 4);
    assert_int_equal(rd_le(tag + 4, 4), 0x0F000000); /* big-endian flags: frames, bytes, TOC, quality */
    w->tag_frames = (uint32_t)tag[8] << 24 | (uint32_t)tag[9] << 16 | (uint32_t)tag[10] << 8 | tag[11];
    uint32_t tag_bytes = (uint32_t)tag[12] << 24 | (uint32_t)tag[13] << 16 | (uint32_t)tag[14] << 8 | tag[15];
    assert_int_equal(tag_bytes, n);
    assert_memory_equal(tag + 120, "LAME", 4);
    w->delay = tag[141] << 4 | tag[142] >> 4;
    w->padding = (tag[142] & 0x0F) << 8 | tag[143];

    size_t off = 0;
    while (off < n) {
        struct frame f;
        assert_int_equal(parse_frame(b + off, n - off, &f), 0);
        assert_int_equal(f.kbps, w->first.kbps);
        assert_int_equal(f.rate, w->first.rate);
        assert_int_equal(f.mode, w->first.mode);
        off += f.len;
        w->frames++;
    }
    assert_int_equal(off, n);
    assert_int_equal(w->tag_frames, w->frames - 1);
    w->samples = (int64_t)(w->frames - 1) * w->first.samples - w->delay - w->padding;
}

/* A decoded MP3: 16-bit interleaved samples. */
struct decoded {
    int channels;
    int rate;
    int64_t frames;
    short *s;
};

/* Decodes `mp3` with mpg123; 0, or 1 when mpg123 is not installed (the caller skips). */
static int decode(const struct recd_buf *mp3, struct decoded *d)
{
    char in[sizeof tmpdir + 32], out[sizeof tmpdir + 32], cmd[3 * sizeof tmpdir + 96];

    memset(d, 0, sizeof *d);
    if (!have_mpg123) {
        print_message("mpg123 not installed: decode check skipped\n");
        return 1;
    }
    int no = file_no++;
    snprintf(in, sizeof in, "%s/%d.mp3", tmpdir, no);
    snprintf(out, sizeof out, "%s/%d.wav", tmpdir, no);
    FILE *f = fopen(in, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(mp3->p, 1, mp3->len, f), mp3->len);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "mpg123 -q -w '%s' '%s'", out, in);
    assert_int_equal(system(cmd), 0);

    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(out, SFM_READ, &info);
    assert_non_null(sf);
    d->channels = info.channels;
    d->rate = info.samplerate;
    d->frames = info.frames;
    d->s = malloc(sizeof *d->s * (size_t)(info.frames * info.channels) + 1);
    assert_non_null(d->s);
    assert_int_equal(sf_readf_short(sf, d->s, info.frames), info.frames);
    sf_close(sf);
    unlink(in);
    unlink(out);
    return 0;
}

/* Zero crossings per second of channel `c` over the middle of the decoded audio. */
static double crossings_per_s(const struct decoded *d, int c)
{
    int64_t from = d->frames / 4, to = d->frames * 3 / 4, n = 0;
    for (int64_t i = from + 1; i < to; i++) {
        int a = d->s[(i - 1) * d->channels + c], b = d->s[i * d->channels + c];
        n += (a < 0) != (b < 0);
    }
    return (double)n * d->rate / (double)(to - from);
}

/* RMS of channel `c` over the middle, as a fraction of full scale. */
static double rms(const struct decoded *d, int c)
{
    int64_t from = d->frames / 4, to = d->frames * 3 / 4;
    double sum = 0;
    for (int64_t i = from; i < to; i++) {
        double v = d->s[i * d->channels + c] / 32768.0;
        sum += v * v;
    }
    return sqrt(sum / (double)(to - from));
}

/*
 * Encodes `p` and checks the stream: one bitrate/rate/mode throughout, the Info tag, and a
 * decoded duration within 0.2 s of the input's. Returns the walk; `mp3` holds the bytes.
 */
static void encode_and_check(const struct pcm *p, int kbps, int rate, struct recd_buf *mp3, struct walk *w,
                             struct decoded *d)
{
    int fd = wav_fd(p);
    recd_buf_init(mp3, 0);
    assert_int_equal(recd_mp3_encode(fd, mp3), 0);
    close(fd);
    walk_mp3((const unsigned char *)mp3->p, mp3->len, w);
    assert_int_equal(w->first.kbps, kbps);
    assert_int_equal(w->first.rate, rate);
    assert_int_equal(w->first.mode, p->channels == 1 ? 3 : 1);
    double seconds = (double)p->frames / p->rate;
    assert_true(fabs((double)w->samples / rate - seconds) < 0.2);
    if (decode(mp3, d) == 0) {
        assert_int_equal(d->channels, p->channels);
        assert_int_equal(d->rate, rate);
        assert_true(fabs((double)d->frames / d->rate - seconds) < 0.2);
    }
}

static void test_mp3_8k_mono(void **state)
{
    (void)state;
    const double hz[2] = {440, 0};
    struct pcm p = sine(1, 8000, 16, 3.0, hz);
    struct recd_buf mp3;
    struct walk w;
    struct decoded d;

    encode_and_check(&p, 32, 8000, &mp3, &w, &d);
    /* MPEG-2.5 Layer III, no CRC, 32 kbit/s, 8 kHz, mono: Twilio's format. */
    assert_int_equal((unsigned char)mp3.p[0], 0xFF);
    assert_int_equal((unsigned char)mp3.p[1], 0xE3);
    assert_int_equal(w.first.version, 25);
    /* Not resampled, so the LAME tag accounts for every input sample exactly. */
    assert_int_equal(w.samples, p.frames);
    /* 32 kbit/s for 3 s is 12000 bytes, plus the tag frame and LAME's delay and padding. */
    assert_int_equal(w.first.len, 288);
    assert_in_range(mp3.len, 12000, 12000 + 4 * 288);
    if (d.s != NULL) {
        assert_int_equal(d.frames, p.frames);
        double zc = crossings_per_s(&d, 0);
        assert_true(zc > 870 && zc < 890);
        double r = rms(&d, 0);
        assert_true(r > 0.5 / sqrt(2) * 0.85 && r < 0.5 / sqrt(2) * 1.15);
    }
    free(d.s);
    recd_buf_free(&mp3);
    free_pcm(&p);
}

static void test_mp3_deterministic_and_appends(void **state)
{
    (void)state;
    const double hz[2] = {300, 0};
    struct pcm p = sine(1, 8000, 16, 2.0, hz);
    int fd = wav_fd(&p);
    struct recd_buf a, b;

    recd_buf_init(&a, 0);
    recd_buf_init(&b, 0);
    recd_buf_adds(&b, "prefix");
    assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
    assert_int_equal(recd_mp3_encode(fd, &a), 0);
    assert_int_equal(recd_mp3_encode(fd, &b), 0);
    /* pread only: the descriptor's offset is where the caller left it. */
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 7);
    assert_int_equal(b.len, a.len + 6);
    assert_memory_equal(b.p, "prefix", 6);
    assert_memory_equal(b.p + 6, a.p, a.len);
    assert_int_equal(b.p[b.len], '\0');
    /* The Info tag was written over the first appended frame, not over the prefix. */
    assert_memory_equal(a.p + 4 + 9, "Info", 4);
    close(fd);
    recd_buf_free(&a);
    recd_buf_free(&b);
    free_pcm(&p);
}

static void test_mp3_44k_stereo(void **state)
{
    (void)state;
    const double hz[2] = {440, 1000};
    struct pcm p = sine(2, 44100, 16, 2.5, hz);
    struct recd_buf mp3;
    struct walk w;
    struct decoded d;

    encode_and_check(&p, 128, 44100, &mp3, &w, &d);
    assert_int_equal(w.first.version, 1);
    assert_int_equal(w.samples, p.frames);
    if (d.s != NULL) {
        /* The channels stay apart: each keeps its own tone. */
        double zl = crossings_per_s(&d, 0), zr = crossings_per_s(&d, 1);
        assert_true(zl > 860 && zl < 900);
        assert_true(zr > 1980 && zr < 2020);
    }
    free(d.s);
    recd_buf_free(&mp3);
    free_pcm(&p);
}

static void test_mp3_16k_mono(void **state)
{
    (void)state;
    const double hz[2] = {440, 0};
    struct pcm p = sine(1, 16000, 16, 1.7, hz);
    struct recd_buf mp3;
    struct walk w;
    struct decoded d;

    encode_and_check(&p, 48, 16000, &mp3, &w, &d);
    assert_int_equal(w.first.version, 2);
    assert_int_equal(w.samples, p.frames);
    free(d.s);
    recd_buf_free(&mp3);
    free_pcm(&p);
}

static void test_mp3_24bit(void **state)
{
    (void)state;
    const double hz[2] = {440, 0};
    struct pcm p = sine(1, 22050, 24, 2.0, hz);
    struct recd_buf mp3;
    struct walk w;
    struct decoded d;

    encode_and_check(&p, 64, 22050, &mp3, &w, &d);
    assert_int_equal(w.samples, p.frames);
    if (d.s != NULL) {
        /* The 24-bit samples were scaled, not truncated to their low bits. */
        double zc = crossings_per_s(&d, 0);
        assert_true(zc > 860 && zc < 900);
        assert_true(rms(&d, 0) > 0.3);
    }
    free(d.s);
    recd_buf_free(&mp3);
    free_pcm(&p);
}

static void test_mp3_8bit(void **state)
{
    (void)state;
    const double hz[2] = {440, 0};
    struct pcm p = sine(1, 8000, 8, 2.0, hz);
    struct recd_buf mp3;
    struct walk w;
    struct decoded d;

    encode_and_check(&p, 32, 8000, &mp3, &w, &d);
    assert_int_equal(w.samples, p.frames);
    if (d.s != NULL) {
        /* Unsigned 8-bit was centred on 128: a DC offset would make this a flat line. */
        double zc = crossings_per_s(&d, 0);
        assert_true(zc > 860 && zc < 900);
        assert_true(rms(&d, 0) > 0.3);
    }
    free(d.s);
    recd_buf_free(&mp3);
    free_pcm(&p);
}

static void test_mp3_32bit_48k_stereo(void **state)
{
    (void)state;
    const double hz[2] = {440, 440};
    struct pcm p = sine(2, 48000, 32, 1.0, hz);
    struct recd_buf mp3;
    struct walk w;
    struct decoded d;

    encode_and_check(&p, 128, 48000, &mp3, &w, &d);
    assert_int_equal(w.samples, p.frames);
    free(d.s);
    recd_buf_free(&mp3);
    free_pcm(&p);
}

static void test_mp3_resampled(void **state)
{
    (void)state;
    /* Rates MP3 lacks go up to the next MP3 rate; the duration survives the resampling. */
    const double hz[2] = {440, 0};
    static const struct {
        int in, out, kbps;
    } cases[] = {{9600, 11025, 32}, {15000, 16000, 48}, {44000, 44100, 64}, {30000, 32000, 64}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pcm p = sine(1, cases[i].in, 16, 2.0, hz);
        struct recd_buf mp3;
        struct walk w;
        struct decoded d;
        encode_and_check(&p, cases[i].kbps, cases[i].out, &mp3, &w, &d);
        if (d.s != NULL) {
            double zc = crossings_per_s(&d, 0);
            assert_true(zc > 860 && zc < 900);
        }
        free(d.s);
        recd_buf_free(&mp3);
        free_pcm(&p);
    }
}

static void test_mp3_every_rate(void **state)
{
    (void)state;
    /* Each MP3 rate is kept, at the table's bitrate, and every one has room for the Info tag. */
    static const struct {
        int rate, version, kbps;
    } cases[] = {{8000, 25, 32}, {11025, 25, 32}, {12000, 25, 32}, {16000, 2, 48}, {22050, 2, 64},
                 {24000, 2, 64}, {32000, 1, 64},  {44100, 1, 64},  {48000, 1, 64}};
    const double hz[2] = {440, 660};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int ch = 1; ch <= 2; ch++) {
            struct pcm p = sine(ch, cases[i].rate, 16, 0.5, hz);
            int fd = wav_fd(&p);
            struct recd_buf mp3;
            struct walk w;
            recd_buf_init(&mp3, 0);
            assert_int_equal(recd_mp3_encode(fd, &mp3), 0);
            walk_mp3((const unsigned char *)mp3.p, mp3.len, &w);
            assert_int_equal(w.first.rate, cases[i].rate);
            assert_int_equal(w.first.version, cases[i].version);
            assert_int_equal(w.first.kbps, cases[i].kbps * ch);
            assert_int_equal(w.first.mode, ch == 1 ? 3 : 1);
            assert_int_equal(w.samples, p.frames);
            close(fd);
            recd_buf_free(&mp3);
            free_pcm(&p);
        }
    }
}

static void test_mp3_no_samples(void **state)
{
    (void)state;
    struct pcm p = {1, 8000, 16, 0, NULL};
    int fd = wav_fd(&p);
    struct recd_buf mp3;
    struct walk w;

    recd_buf_init(&mp3, 0);
    assert_int_equal(recd_mp3_encode(fd, &mp3), 0);
    walk_mp3((const unsigned char *)mp3.p, mp3.len, &w);
    assert_int_equal(w.first.kbps, 32);
    assert_int_equal(w.samples, 0);
    close(fd);
    recd_buf_free(&mp3);
}

static void test_mp3_bad_input(void **state)
{
    (void)state;
    static const char text[] = "this is not a WAV file, it is a sentence";
    struct recd_buf out;
    recd_buf_init(&out, 0);
    recd_buf_adds(&out, "kept");

    int fd = bytes_fd(text, sizeof text - 1);
    assert_int_equal(recd_mp3_encode(fd, &out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_wav_downmix(fd, &out), RECD_E_BAD_INPUT);
    close(fd);

    /* A real header over a data chunk cut short. */
    const double hz[2] = {440, 440};
    struct pcm p = sine(2, 8000, 16, 0.5, hz);
    fd = wav_fd(&p);
    assert_int_equal(ftruncate(fd, 44 + 1000), 0);
    assert_int_equal(recd_mp3_encode(fd, &out), RECD_E_BAD_INPUT);
    assert_int_equal(recd_wav_downmix(fd, &out), RECD_E_BAD_INPUT);
    close(fd);

    /* Nothing was appended by the failures. */
    assert_buf(&out, "kept");
    recd_buf_free(&out);
    free_pcm(&p);
}

/* Downmixes `p` (stereo) and checks the header and every sample against floor((L + R) / 2). */
static void check_downmix(const struct pcm *p)
{
    int fd = wav_fd(p);
    struct recd_buf out;
    int bytes = p->bits / 8;
    size_t data = (size_t)p->frames * bytes;

    recd_buf_init(&out, 0);
    assert_int_equal(recd_wav_downmix(fd, &out), 0);
    close(fd);

    const unsigned char *b = (const unsigned char *)out.p;
    assert_int_equal(out.len, 44 + data + (data & 1));
    assert_memory_equal(b, "RIFF", 4);
    assert_int_equal(rd_le(b + 4, 4), 36 + data + (data & 1));
    assert_memory_equal(b + 8, "WAVEfmt ", 8);
    assert_int_equal(rd_le(b + 16, 4), 16);
    assert_int_equal(rd_le(b + 20, 2), 1);
    assert_int_equal(rd_le(b + 22, 2), 1);
    assert_int_equal(rd_le(b + 24, 4), p->rate);
    assert_int_equal(rd_le(b + 28, 4), p->rate * bytes);
    assert_int_equal(rd_le(b + 32, 2), bytes);
    assert_int_equal(rd_le(b + 34, 2), p->bits);
    assert_memory_equal(b + 36, "data", 4);
    assert_int_equal(rd_le(b + 40, 4), data);
    for (int64_t i = 0; i < p->frames; i++) {
        int64_t sum = (int64_t)p->s[2 * i] + p->s[2 * i + 1];
        int64_t want = (int64_t)floor((double)sum / 2);
        uint32_t raw = rd_le(b + 44 + i * bytes, bytes);
        int64_t got;
        if (bytes == 1)
            got = (int64_t)raw - 128;
        else if (bytes == 4)
            got = (int32_t)raw;
        else
            got = raw >= (UINT32_C(1) << (p->bits - 1)) ? (int64_t)raw - (INT64_C(1) << p->bits) : raw;
        if (got != want)
            fail_msg("frame %lld: L %d R %d: got %lld, want %lld", (long long)i, p->s[2 * i], p->s[2 * i + 1],
                     (long long)got, (long long)want);
    }
    if (data & 1)
        assert_int_equal(b[44 + data], 0);

    /* The result is itself a WAV recd accepts, and says what it is. */
    struct recd_wav_info info;
    char why[128];
    fd = bytes_fd(out.p, out.len);
    assert_int_equal(recd_wav_probe(fd, &info, why, sizeof why), 0);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.sample_rate, p->rate);
    assert_int_equal(info.bits, p->bits);
    assert_int_equal(info.frames, p->frames);
    close(fd);
    recd_buf_free(&out);
}

/* Known pairs first (odd sums of both signs, the extremes), then a ramp across the range. */
static struct pcm pairs(int bits, int rate, int64_t ramp)
{
    int32_t max = (int32_t)((INT64_C(1) << (bits - 1)) - 1), min = -max - 1;
    int32_t a = bits == 8 ? 100 : 1000, b = bits == 8 ? -31 : -3001;
    const int32_t known[][2] = {{a, b},         {-1, 0},    {0, -1},    {1, 0},     {-1, -2},
                                {max, max},     {min, min}, {max, min}, {min, max}, {min, min + 1},
                                {max, max - 1}, {3, 4},     {-3, -4},   {0, 0}};
    size_t nk = sizeof known / sizeof known[0];
    struct pcm p = {2, rate, bits, (int64_t)nk + ramp, NULL};
    p.s = malloc(sizeof *p.s * (size_t)p.frames * 2);
    assert_non_null(p.s);
    for (size_t i = 0; i < nk; i++) {
        p.s[2 * i] = known[i][0];
        p.s[2 * i + 1] = known[i][1];
    }
    /* The ramp crosses block boundaries (4096 frames) and every sign combination. */
    uint64_t span = (uint64_t)max - (uint64_t)(int64_t)min;
    for (int64_t i = 0; i < ramp; i++) {
        p.s[2 * (nk + i)] = (int32_t)((int64_t)min + (int64_t)(span * (uint64_t)i / (uint64_t)ramp));
        p.s[2 * (nk + i) + 1] =
            (int32_t)((int64_t)max - (int64_t)(span * (uint64_t)(i * 7 % ramp) / (uint64_t)ramp));
    }
    return p;
}

static void test_downmix_16bit(void **state)
{
    (void)state;
    struct pcm p = pairs(16, 8000, 9000);
    check_downmix(&p);
    /* The worked example of the contract, spelled out. */
    assert_int_equal(p.s[0], 1000);
    assert_int_equal(p.s[1], -3001);
    int fd = wav_fd(&p);
    struct recd_buf out;
    recd_buf_init(&out, 0);
    assert_int_equal(recd_wav_downmix(fd, &out), 0);
    assert_int_equal((int16_t)rd_le((const unsigned char *)out.p + 44, 2), -1001);
    assert_int_equal((int16_t)rd_le((const unsigned char *)out.p + 46, 2), -1);
    close(fd);
    recd_buf_free(&out);
    free_pcm(&p);
}

static void test_downmix_24bit(void **state)
{
    (void)state;
    struct pcm p = pairs(24, 48000, 5000);
    check_downmix(&p);
    free_pcm(&p);
}

static void test_downmix_8bit(void **state)
{
    (void)state;
    /* An odd frame count: the data chunk needs its pad byte. */
    struct pcm p = pairs(8, 11025, 4101);
    assert_true(p.frames % 2 == 1);
    check_downmix(&p);
    free_pcm(&p);
}

static void test_downmix_32bit(void **state)
{
    (void)state;
    struct pcm p = pairs(32, 16000, 4096);
    check_downmix(&p);
    free_pcm(&p);
}

static void test_downmix_refuses_mono(void **state)
{
    (void)state;
    const double hz[2] = {440, 0};
    struct pcm p = sine(1, 8000, 16, 0.5, hz);
    int fd = wav_fd(&p);
    struct recd_buf out;
    recd_buf_init(&out, 0);
    assert_int_equal(recd_wav_downmix(fd, &out), RECD_E_BAD_INPUT);
    assert_int_equal(out.len, 0);
    close(fd);
    recd_buf_free(&out);
    free_pcm(&p);
}

/*
 * A minute of 8 kHz speech-band audio, the commonest recording: checks the stream like the
 * others and prints how many times faster than real time it encoded (information only; the
 * sanitized build is several times slower than the release one).
 */
static void test_mp3_minute_speed(void **state)
{
    (void)state;
    const double hz[2] = {440, 0};
    struct pcm p = sine(1, 8000, 16, 60.0, hz);
    struct recd_buf mp3;
    struct walk w;
    struct timespec t0, t1;

    /* Noise on the tone, as a microphone adds: a pure tone is unrealistically cheap to encode. */
    uint32_t x = 1;
    for (int64_t i = 0; i < p.frames; i++) {
        x = x * 1664525u + 1013904223u;
        p.s[i] += (int32_t)(x >> 20) - 2048;
    }
    int fd = wav_fd(&p);

    recd_buf_init(&mp3, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(recd_mp3_encode(fd, &mp3), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("60 s of 8 kHz mono encoded in %.3f s: %.0fx real time\n", s, 60.0 / s);
    walk_mp3((const unsigned char *)mp3.p, mp3.len, &w);
    assert_int_equal(w.samples, p.frames);
    assert_in_range(mp3.len, 240000, 240000 + 4 * 288);
    close(fd);
    recd_buf_free(&mp3);
    free_pcm(&p);
}

static int setup(void **state)
{
    (void)state;
    have_mpg123 = system("command -v mpg123 >/dev/null 2>&1") == 0;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mp3_8k_mono),
        cmocka_unit_test(test_mp3_deterministic_and_appends),
        cmocka_unit_test(test_mp3_44k_stereo),
        cmocka_unit_test(test_mp3_16k_mono),
        cmocka_unit_test(test_mp3_24bit),
        cmocka_unit_test(test_mp3_8bit),
        cmocka_unit_test(test_mp3_32bit_48k_stereo),
        cmocka_unit_test(test_mp3_resampled),
        cmocka_unit_test(test_mp3_every_rate),
        cmocka_unit_test(test_mp3_no_samples),
        cmocka_unit_test(test_mp3_bad_input),
        cmocka_unit_test(test_downmix_16bit),
        cmocka_unit_test(test_downmix_24bit),
        cmocka_unit_test(test_downmix_8bit),
        cmocka_unit_test(test_downmix_32bit),
        cmocka_unit_test(test_downmix_refuses_mono),
        cmocka_unit_test(test_mp3_minute_speed),
    };
    return cmocka_run_group_tests_name("transcode", tests, setup, teardown);
}
