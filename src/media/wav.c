#include "media/wav.h"
#include "media/wav_internal.h"

#include "core/error.h"

#include <errno.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The WAV gate. Two independent readings must agree before a file is accepted:
 *
 * 1. Our own walk of the RIFF chunks, with every size checked against the real file length.
 *    libsndfile quietly clamps a data chunk that runs past the end of the file (it logs
 *    "should be" and carries on), so without this a truncated upload would be stored with a
 *    duration it does not have.
 * 2. libsndfile's header parser, so that what we accept is exactly what the MP3 encoder and
 *    the downmixer (which read through libsndfile) will be able to decode.
 *
 * RIFF size policy: the RIFF chunk's own size field is not used at all. Streaming writers
 * (sox to a pipe, ffmpeg without seekable output, many recorders) leave it 0 or 0xFFFFFFFF,
 * and others get it off by the pad byte or a trailing LIST chunk. recd accepts any RIFF
 * size as long as the fmt and data chunks themselves are fully present in the file, which is
 * the property that matters: every sample the header promises can be read. (The data chunk's
 * size, unlike the RIFF size, is never forgiven: 0 or 0xFFFFFFFF there means we cannot know
 * how long the audio is, so the file is refused as truncated.)
 *
 * All reads use pread(), and libsndfile reads through virtual I/O built on pread(), so the
 * caller's file offset is never moved. The first HEAD_READ bytes are read once, and both readings
 * are served from that copy: an import probes every file twice, and reading the header field by
 * field cost about 30 small preads a probe. Only chunks beyond it (a long LIST or a big "fact"
 * before "data") are read from the file.
 */

#define WAVE_FORMAT_PCM        0x0001
#define WAVE_FORMAT_EXTENSIBLE 0xFFFE
/* Chunks allowed before "data": enough for any real writer, bounded for hostile input. */
#define MAX_CHUNKS 1024
/* How much of the file one read brings in: every common header fits with room to spare. */
#define HEAD_READ 4096

/* The 14 bytes that follow the format code in a KSDATAFORMAT_SUBTYPE_* GUID. */
static const unsigned char ks_guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                               0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

struct riff {
    int fd;
    const unsigned char *head; /* the file's first head_len bytes */
    size_t head_len;
    int64_t file_size;
    int have_fmt;
    unsigned format; /* the effective tag: an extensible file's subformat code */
    unsigned channels;
    unsigned rate;
    unsigned block_align;
    unsigned bits;
    int64_t data_size;
};

static int fail(char *why, unsigned why_n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, unsigned why_n, const char *fmt, ...)
{
    if (why != NULL && why_n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_n, fmt, ap);
        va_end(ap);
    }
    return RECD_E_BAD_INPUT;
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads exactly `n` bytes at `off`; 0, or -1 with errno set (EIO for an early end of file). */
static int pread_all(int fd, void *buf, size_t n, int64_t off)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            errno = EIO;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Exactly `n` bytes at `off`, from the copy of the head when they are in it. 0 or -1 (errno). */
static int read_at(const struct riff *r, void *buf, size_t n, int64_t off)
{
    if (off >= 0 && (uint64_t)off + n <= r->head_len) {
        memcpy(buf, r->head + off, n);
        return 0;
    }
    return pread_all(r->fd, buf, n, off);
}

/* A human name for a WAVE format tag that recd refuses. */
static const char *encoding_name(unsigned tag, unsigned bits, char *tmp, size_t tmp_n)
{
    switch (tag) {
    case 0x0003: snprintf(tmp, tmp_n, "%u-bit float", bits); return tmp;
    case 0x0002: return "Microsoft ADPCM";
    case 0x0006: return "A-law";
    case 0x0007: return "mu-law";
    case 0x0011: return "IMA ADPCM";
    case 0x0031: return "GSM 6.10";
    case 0x0040: return "G.721 ADPCM";
    case 0x0050: return "MPEG";
    case 0x0055: return "MP3";
    default: snprintf(tmp, tmp_n, "format tag 0x%04x", tag); return tmp;
    }
}

/* Parses a "fmt " chunk of `size` bytes whose body starts at `off`. */
static int parse_fmt(int64_t off, uint32_t size, struct riff *r, char *why, unsigned why_n)
{
    unsigned char f[40];
    size_t n = size < sizeof f ? size : sizeof f;

    if (size < 16)
        return fail(why, why_n, "malformed fmt chunk (%u bytes, at least 16 expected)", (unsigned)size);
    if (read_at(r, f, n, off) < 0)
        return fail(why, why_n, "unreadable fmt chunk");
    r->format = le16(f);
    r->channels = le16(f + 2);
    r->rate = le32(f + 4);
    r->block_align = le16(f + 12);
    r->bits = le16(f + 14);
    if (r->format == WAVE_FORMAT_EXTENSIBLE) {
        /* cbSize(2) validBits(2) channelMask(4) subFormat GUID(16): 40 bytes in all. */
        if (n < 40 || le16(f + 16) < 22)
            return fail(why, why_n, "malformed fmt chunk (extensible format without its extension)");
        if (memcmp(f + 26, ks_guid_tail, sizeof ks_guid_tail) != 0)
            return fail(why, why_n, "unsupported encoding: unknown extensible subformat");
        r->format = le16(f + 24);
    }
    r->have_fmt = 1;
    return 0;
}

/* Walks the RIFF chunks up to and including "data", filling *r. */
static int parse_riff(struct riff *r, char *why, unsigned why_n)
{
    unsigned char h[12];

    if (r->file_size == 0)
        return fail(why, why_n, "empty file");
    if (r->file_size < 12 || read_at(r, h, sizeof h, 0) < 0)
        return fail(why, why_n, "not a WAV file (no RIFF/WAVE header)");
    if (memcmp(h, "RF64", 4) == 0 && memcmp(h + 8, "WAVE", 4) == 0)
        return fail(why, why_n, "unsupported container: RF64 (recd accepts RIFF WAV)");
    if (memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVE", 4) != 0)
        return fail(why, why_n, "not a WAV file (no RIFF/WAVE header)");

    /* See the RIFF size policy above: h[4..7] is deliberately ignored. */
    int64_t pos = 12;
    for (int i = 0; i < MAX_CHUNKS; i++) {
        unsigned char c[8];
        if (pos + 8 > r->file_size || read_at(r, c, sizeof c, pos) < 0)
            return fail(why, why_n, "no data chunk");
        uint32_t size = le32(c + 4);
        int64_t body = pos + 8;
        int64_t avail = r->file_size - body;

        if (memcmp(c, "data", 4) == 0) {
            if (!r->have_fmt)
                return fail(why, why_n, "malformed: data chunk before fmt chunk");
            if ((int64_t)size > avail)
                return fail(why, why_n, "truncated: data chunk declares %u bytes, file has %lld",
                            (unsigned)size, (long long)avail);
            r->data_size = size;
            return 0;
        }
        if ((int64_t)size > avail) {
            if (memcmp(c, "fmt ", 4) == 0)
                return fail(why, why_n, "truncated: fmt chunk declares %u bytes, file has %lld",
                            (unsigned)size, (long long)avail);
            return fail(why, why_n, "no data chunk (a chunk runs past the end of the file)");
        }
        if (memcmp(c, "fmt ", 4) == 0) {
            if (r->have_fmt)
                return fail(why, why_n, "malformed: two fmt chunks");
            int e = parse_fmt(body, size, r, why, why_n);
            if (e < 0)
                return e;
        }
        /* Chunks are padded to an even length; the pad byte is not counted in the size. */
        pos = body + (int64_t)size + (size & 1);
    }
    return fail(why, why_n, "no data chunk in the first %d chunks", MAX_CHUNKS);
}

/* Checks the parsed header against what recd stores. */
static int check_format(const struct riff *r, char *why, unsigned why_n)
{
    char tmp[32];

    if (r->format != WAVE_FORMAT_PCM)
        return fail(why, why_n, "unsupported encoding: %s (recd stores integer PCM)",
                    encoding_name(r->format, r->bits, tmp, sizeof tmp));
    if (r->bits != 8 && r->bits != 16 && r->bits != 24 && r->bits != 32)
        return fail(why, why_n, "unsupported sample size: %u bits (recd accepts 8, 16, 24 or 32)", r->bits);
    if (r->channels < 1 || r->channels > 2)
        return fail(why, why_n, "unsupported channel count: %u (recd accepts 1 or 2)", r->channels);
    if (r->rate < 8000 || r->rate > 48000)
        return fail(why, why_n, "unsupported sample rate: %u Hz (recd accepts 8000-48000)", r->rate);
    unsigned frame = r->channels * (r->bits / 8);
    if (r->block_align != frame)
        return fail(why, why_n, "malformed fmt chunk: block align %u, expected %u", r->block_align, frame);
    if (r->data_size % frame != 0)
        return fail(why, why_n, "truncated: data size %lld is not a multiple of the %u-byte frame",
                    (long long)r->data_size, frame);
    return 0;
}

/* libsndfile virtual I/O over pread(), so that the caller's offset stays where it was. */

static sf_count_t vio_len(void *u)
{
    return ((struct recd_wav_vio *)u)->len;
}

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    struct recd_wav_vio *v = u;
    sf_count_t base = whence == SEEK_CUR ? v->pos : whence == SEEK_END ? v->len : 0;
    if (off < -base)
        return -1;
    v->pos = base + off;
    return v->pos;
}

static sf_count_t vio_read(void *p, sf_count_t n, void *u)
{
    struct recd_wav_vio *v = u;
    sf_count_t done = 0;
    if (v->pos >= 0 && v->pos < v->head_len && v->pos < v->len) {
        sf_count_t k = v->head_len < v->len ? v->head_len - v->pos : v->len - v->pos;
        if (k > n)
            k = n;
        memcpy(p, v->head + v->pos, (size_t)k);
        done = k;
        v->pos += k;
    }
    while (done < n && v->pos < v->len) {
        ssize_t r = pread(v->fd, (char *)p + done, (size_t)(n - done), (off_t)v->pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += r;
        v->pos += r;
    }
    return done;
}

static sf_count_t vio_write(const void *p, sf_count_t n, void *u)
{
    (void)p;
    (void)n;
    (void)u;
    return 0;
}

static sf_count_t vio_tell(void *u)
{
    return ((struct recd_wav_vio *)u)->pos;
}

/* As recd_wav_sf_open, with the file's first `head_len` bytes already in `head`. */
static SNDFILE *sf_open_head(struct recd_wav_vio *v, int fd, int64_t len, const unsigned char *head,
                             size_t head_len, SF_INFO *info)
{
    SF_VIRTUAL_IO io = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    *v = (struct recd_wav_vio){fd, 0, (sf_count_t)len, head, (sf_count_t)head_len};
    memset(info, 0, sizeof *info);
    return sf_open_virtual(&io, SFM_READ, info, v);
}

SNDFILE *recd_wav_sf_open(struct recd_wav_vio *v, int fd, int64_t len, SF_INFO *info)
{
    return sf_open_head(v, fd, len, NULL, 0, info);
}

/* The integer PCM subtype libsndfile should report for `bits` per sample. */
static int sf_subtype_for(unsigned bits)
{
    switch (bits) {
    case 8: return SF_FORMAT_PCM_U8;
    case 16: return SF_FORMAT_PCM_16;
    case 24: return SF_FORMAT_PCM_24;
    default: return SF_FORMAT_PCM_32;
    }
}

/* Opens the file with libsndfile and checks that it reads it as we did. */
static int check_sndfile(const struct riff *r, int64_t frames, char *why, unsigned why_n)
{
    struct recd_wav_vio v;
    SF_INFO info;
    SNDFILE *sf = sf_open_head(&v, r->fd, r->file_size, r->head, r->head_len, &info);
    if (sf == NULL) {
        /* sf_strerror(NULL) names the failure without any path: we gave libsndfile none. */
        const char *e = sf_strerror(NULL);
        char one[128];
        size_t i = 0;
        for (; e[i] && i + 1 < sizeof one; i++)
            one[i] = (e[i] == '\n' || e[i] == '\r') ? ' ' : e[i];
        one[i] = '\0';
        return fail(why, why_n, "not a readable WAV file (%s)", one);
    }
    sf_close(sf);

    int major = info.format & SF_FORMAT_TYPEMASK;
    int sub = info.format & SF_FORMAT_SUBMASK;
    if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX)
        return fail(why, why_n, "not a WAV file (decoder reads another format)");
    if (sub != sf_subtype_for(r->bits) || info.channels != (int)r->channels ||
        info.samplerate != (int)r->rate || info.frames != frames)
        return fail(why, why_n, "malformed header (decoder disagrees: %d ch, %d Hz, %lld frames)",
                    info.channels, info.samplerate, (long long)info.frames);
    return 0;
}

int recd_wav_probe(int fd, struct recd_wav_info *info, char *why, unsigned why_n)
{
    struct stat st;
    struct riff r;

    if (why != NULL && why_n > 0)
        why[0] = '\0';
    if (info != NULL)
        memset(info, 0, sizeof *info);
    if (fd < 0 || info == NULL)
        return fail(why, why_n, "no file");
    if (fstat(fd, &st) < 0)
        return fail(why, why_n, "unreadable file (%s)", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(why, why_n, "not a regular file");

    memset(&r, 0, sizeof r);
    r.fd = fd;
    r.file_size = (int64_t)st.st_size;
    unsigned char head[HEAD_READ];
    size_t want = r.file_size < HEAD_READ ? (size_t)r.file_size : HEAD_READ;
    /* Short only if the file shrank since fstat: then the walk reads (and fails) from the file. */
    for (;;) {
        ssize_t got = pread(fd, head, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        r.head_len = got > 0 ? (size_t)got : 0;
        break;
    }
    r.head = head;
    int e = parse_riff(&r, why, why_n);
    if (e == 0)
        e = check_format(&r, why, why_n);
    if (e < 0)
        return e;

    int64_t frames = r.data_size / (int64_t)r.block_align;
    if ((e = check_sndfile(&r, frames, why, why_n)) < 0)
        return e;

    info->channels = (int)r.channels;
    info->sample_rate = (int)r.rate;
    info->bits = (int)r.bits;
    info->frames = frames;
    info->duration_ms = (frames * 1000 + (int64_t)r.rate / 2) / (int64_t)r.rate;
    info->file_size = r.file_size;
    return 0;
}
