#include "service/service.h"

#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "core/time.h"
#include "media/peaks.h"
#include "media/transcode.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/*
 * Derived media. Files are made from the stored WAV on first request and kept: the MP3s, the
 * mono downmix, and waveform peaks (both formats of one SamplesPerPixel at once). Within this
 * process a small table of keys being derived lets one thread do the work while the others
 * asking for the same key wait on a condition variable and then open the result. Across
 * processes two derivations could race; both write the same bytes and the rename is atomic,
 * so the result is the same either way.
 */
#define INFLIGHT_MAX 64

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inflight_done = PTHREAD_COND_INITIALIZER;
static char inflight[INFLIGHT_MAX][RECD_MEDIA_KEY_MAX];

/* 1 when some thread is deriving `key` right now. Called with inflight_lock held. */
static int inflight_busy(const char *key)
{
    for (int i = 0; i < INFLIGHT_MAX; i++)
        if (inflight[i][0] && strcmp(inflight[i], key) == 0)
            return 1;
    return 0;
}

/*
 * Sizes of derived files seen to exist, so that a Range or conditional request on one asks the
 * media store nothing before the read (on S3 a HEAD cost about as much of recd's CPU as the ranged
 * GET after it). Shared by the process's threads, direct-mapped by a hash of the key, an entry
 * replaced by the next key of its slot.
 *
 * Correct across nodes without any invalidation: a derived file's bytes follow from its WAV alone
 * (every node makes the same bytes, docs/scale-out.md), so its size never changes while the
 * recording lives; and a size is only used after media_check() has passed on the recording's row
 * as this request read it, which is how every node sees a delete made on another on its next
 * request (contract §9). An entry also holds the digest of the WAV it was made from: a sid is
 * random, but `recd import --sid` may bring a sid back after its recording was purged, with
 * other audio, and then the old size must not plan the new file's ranges. A file that went
 * missing all the same (removed by hand, or by a repair) is found by the read that follows, which
 * makes it again (recd_media_open_range).
 */
#define SIZES 1024 /* a power of two */

static pthread_mutex_t sizes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char key[RECD_MEDIA_KEY_MAX];
    char wav[sizeof((struct recd_recording *)0)->media_sha256]; /* the WAV it was made from */
    int64_t size;
} sizes[SIZES];

static unsigned size_slot(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (SIZES - 1);
}

static void size_remember(const char *key, const struct recd_recording *r, int64_t size)
{
    unsigned i = size_slot(key);
    pthread_mutex_lock(&sizes_lock);
    memcpy(sizes[i].key, key, sizeof sizes[i].key);
    memcpy(sizes[i].wav, r->media_sha256, sizeof sizes[i].wav);
    sizes[i].size = size;
    pthread_mutex_unlock(&sizes_lock);
}

/* 1 with *size when the size of `key`, made from r's WAV, is known. */
static int size_known(const char *key, const struct recd_recording *r, int64_t *size)
{
    unsigned i = size_slot(key);
    pthread_mutex_lock(&sizes_lock);
    int hit = strcmp(sizes[i].key, key) == 0 && strcmp(sizes[i].wav, r->media_sha256) == 0;
    if (hit)
        *size = sizes[i].size;
    pthread_mutex_unlock(&sizes_lock);
    return hit;
}

static void size_forget(const char *key)
{
    unsigned i = size_slot(key);
    pthread_mutex_lock(&sizes_lock);
    if (strcmp(sizes[i].key, key) == 0)
        sizes[i].key[0] = '\0';
    pthread_mutex_unlock(&sizes_lock);
}

/* One file a derivation stores: its key and bytes. */
struct product {
    char key[RECD_MEDIA_KEY_MAX];
    struct recd_buf out;
};

/* Computes what `suffix` needs from the open source `fd`: one file, or for a waveform both of its
 * formats from one pass (so that asking for the other later costs nothing). *n gets the count. */
static int compute(const struct recd_recording *r, const char *suffix, int fd, struct product pr[2], int *n)
{
    int spp, json;
    if (recd_peaks_suffix_parse(suffix, &spp, &json) == 0) {
        char sfx[RECD_PEAKS_SUFFIX_MAX];
        for (int i = 0; i < 2; i++) {
            recd_peaks_suffix(sfx, spp, i);
            recd_media_key(pr[i].key, r->sid, sfx);
        }
        *n = 2;
        return recd_peaks_from_wav(fd, spp, &pr[0].out, &pr[1].out);
    }
    recd_media_key(pr[0].key, r->sid, suffix);
    *n = 1;
    return strcmp(suffix + strlen(suffix) - 4, ".mp3") == 0 ? recd_mp3_encode(fd, &pr[0].out)
                                                            : recd_wav_downmix(fd, &pr[0].out);
}

/* Produces `suffix` (and a waveform's other format) from the recording's media and stores it
 * durably under its key. */
static int derive(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                  const char *suffix)
{
    const int mono = strncmp(suffix, ".mono", 5) == 0;
    const int mp3 = strcmp(suffix + strlen(suffix) - 4, ".mp3") == 0;
    /* The mono MP3 is encoded from the mono WAV, so both downmixes are the same samples. */
    const char *source = mono && mp3 ? ".mono.wav" : ".wav";
    int fd = -1, rc, n = 0;
    int64_t size;
    struct product pr[2];
    for (int i = 0; i < 2; i++)
        recd_buf_init(&pr[i].out, 0);
    int64_t t0 = recd_now_us();
    rc = recd_media_open(st, bl, r, source, &fd, &size);
    if (rc < 0)
        goto done;
    rc = compute(r, suffix, fd, pr, &n);
    if (rc < 0) {
        recd_log_error("cannot derive %s%s from %s%s", r->sid, suffix, r->sid, source);
        rc = RECD_E_INTERNAL;
        goto done;
    }
    /* Shared with imports: fsck --repair waits until no derived file is half-written. */
    rc = recd_media_guard(st, bl, RECD_BLOB_WRITING);
    if (rc == 0) {
        for (int i = 0; i < n && rc == 0; i++)
            rc = bl->ops->put_mem(bl, pr[i].key, pr[i].out.p, pr[i].out.len);
        recd_media_guard(st, bl, RECD_BLOB_RELEASE);
    }
    if (rc == 0) {
        /* A DELETE may have run while we encoded. It commits "deleted" before it unlinks, so
         * looking after our rename sees it whenever its unlink could have missed our file. */
        struct recd_recording now;
        int g = st->ops->recording_get(st, r->sid, &now);
        if (g == RECD_E_NOT_FOUND || (g == 0 && now.deleted_us)) {
            for (int i = 0; i < n; i++)
                bl->ops->remove(bl, pr[i].key);
            rc = RECD_E_NOT_FOUND;
        }
    }
    if (rc == 0) {
        for (int i = 0; i < n; i++) {
            size_remember(pr[i].key, r, (int64_t)pr[i].out.len);
            recd_log_info("derived %s (%zu bytes) in %lld ms", pr[i].key, pr[i].out.len,
                          (long long)((recd_now_us() - t0) / 1000));
        }
    }
done:
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < 2; i++)
        recd_buf_free(&pr[i].out);
    return rc;
}

/* Common checks: no media at all (not finished, deleted) or a mono variant of a mono recording. */
static int media_check(const struct recd_recording *r, const char *suffix)
{
    /* Nothing is read, let alone derived, from a recording that has no finished media. */
    if (!recd_recording_has_media(r))
        return RECD_E_NOT_FOUND;
    if (strncmp(suffix, ".mono", 5) == 0 && r->channels < 2)
        return RECD_E_BAD_INPUT;
    return 0;
}

/*
 * Makes the derived file `key` (of `suffix`) exist: waits for a thread of this process that is
 * deriving it, else derives it here. 0 once it is stored.
 */
static int derive_once(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                       const char *suffix, const char *key)
{
    int64_t size;
    /* A waveform's two formats are made together: one entry for both, named without the
     * format's extension, so that asking for both at once derives once. */
    char busy[RECD_MEDIA_KEY_MAX];
    int spp, json;
    memcpy(busy, key, sizeof busy);
    if (recd_peaks_suffix_parse(suffix, &spp, &json) == 0)
        *strrchr(busy, '.') = '\0';
    pthread_mutex_lock(&inflight_lock);
    for (;;) {
        if (!inflight_busy(busy))
            break;
        pthread_cond_wait(&inflight_done, &inflight_lock);
    }
    /* Whoever derived it while we waited has stored it; else it is ours to make. */
    int rc = bl->ops->stat(bl, key, &size);
    if (rc != RECD_E_NOT_FOUND) {
        pthread_mutex_unlock(&inflight_lock);
        if (rc == 0)
            size_remember(key, r, size);
        return rc;
    }
    int slot = -1;
    for (int i = 0; i < INFLIGHT_MAX && slot < 0; i++)
        if (!inflight[i][0])
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&inflight_lock);
        return RECD_E_UNAVAILABLE; /* too many different files being derived at once */
    }
    memcpy(inflight[slot], busy, sizeof inflight[slot]);
    pthread_mutex_unlock(&inflight_lock);

    rc = derive(st, bl, r, suffix);

    pthread_mutex_lock(&inflight_lock);
    inflight[slot][0] = '\0';
    pthread_cond_broadcast(&inflight_done);
    pthread_mutex_unlock(&inflight_lock);
    return rc;
}

int recd_media_open(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                    const char *suffix, int *fd, int64_t *size)
{
    char key[RECD_MEDIA_KEY_MAX];
    int rc = media_check(r, suffix);
    if (rc < 0)
        return rc;
    recd_media_key(key, r->sid, suffix);
    rc = bl->ops->open(bl, key, fd, size);
    if (rc == RECD_E_NOT_FOUND && strcmp(suffix, ".wav") != 0) {
        rc = derive_once(st, bl, r, suffix, key);
        if (rc == 0)
            rc = bl->ops->open(bl, key, fd, size);
    }
    if (rc == 0 && strcmp(suffix, ".wav") != 0)
        size_remember(key, r, *size);
    return rc;
}

/* recd_media_stat and recd_media_restat: with `known`, the row's size of the WAV and a derived
 * file's remembered size answer without asking the media store. */
static int media_stat(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                      const char *suffix, int known, int64_t *size)
{
    char key[RECD_MEDIA_KEY_MAX];
    int rc = media_check(r, suffix);
    if (rc < 0)
        return rc;
    /* The stored WAV's size is on its row (written with it, checked by fsck), and the WAV never
     * changes: no round trip to learn it (on S3, a HEAD cost about as much of recd's CPU as the
     * ranged GET it comes before). A WAV gone missing is found by the read that follows. */
    const int wav = strcmp(suffix, ".wav") == 0;
    if (known && wav && r->media_size > 0) {
        *size = r->media_size;
        return 0;
    }
    recd_media_key(key, r->sid, suffix);
    if (known && !wav && size_known(key, r, size))
        return 0;
    if (!known && !wav)
        size_forget(key);
    rc = bl->ops->stat(bl, key, size);
    if (rc == RECD_E_NOT_FOUND && !wav) {
        rc = derive_once(st, bl, r, suffix, key);
        if (rc == 0 && size_known(key, r, size))
            return 0;
        if (rc == 0)
            rc = bl->ops->stat(bl, key, size);
    }
    if (rc == 0 && !wav)
        size_remember(key, r, *size);
    return rc;
}

int recd_media_stat(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                    const char *suffix, int64_t *size)
{
    return media_stat(st, bl, r, suffix, 1, size);
}

int recd_media_restat(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                      const char *suffix, int64_t *size)
{
    return media_stat(st, bl, r, suffix, 0, size);
}

int recd_media_open_range(struct recd_store *st, struct recd_blob *bl, const struct recd_recording *r,
                          const char *suffix, int64_t off, int64_t len, int *fd, int64_t *fd_off, int *whole)
{
    char key[RECD_MEDIA_KEY_MAX];
    int rc = media_check(r, suffix);
    if (rc < 0)
        return rc;
    recd_media_key(key, r->sid, suffix);
    rc = bl->ops->open_range(bl, key, off, len, fd, fd_off, whole);
    /* The file is shorter than the size this range was planned from: damaged or replaced behind
     * recd's back. That size is not used again; the caller asks the store (recd_media_restat). */
    if (rc == RECD_E_RANGE && strcmp(suffix, ".wav") != 0)
        size_forget(key);
    if (rc != RECD_E_NOT_FOUND || strcmp(suffix, ".wav") == 0)
        return rc;
    /* A derived file whose size was known is gone. Were the recording deleted, derive() finds it
     * (and answers "not found"); else the file was removed under it, and is made again as on its
     * first request, with the same bytes, so the range planned from the old size still holds. */
    size_forget(key);
    rc = derive_once(st, bl, r, suffix, key);
    return rc < 0 ? rc : bl->ops->open_range(bl, key, off, len, fd, fd_off, whole);
}
