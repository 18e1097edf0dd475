/*
 * Derived media (src/service/derived.c): the sizes it remembers belong to the WAV they were made
 * from. A sid can come back with other audio (`recd import --sid` after its recording was
 * purged); the size of the old MP3 must not answer for the new one.
 */
#include "media/blob.h"
#include "service/service.h"
#include "store/store.h"
#include "core/error.h"

#include "unit.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

struct fixture {
    char dir[64];
    char path[128];
    struct recd_store *st;
    struct recd_blob *bl;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/recd-test-derived-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/media", f->dir);
    if (recd_blob_fs_open(f->path, &f->bl) != 0)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/recd.db", f->dir);
    if (recd_store_sqlite_open(f->path, &f->st) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    f->st->ops->close(f->st);
    f->bl->ops->close(f->bl);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Stores `seconds` of 8 kHz 16-bit mono tone as the recording's WAV, and fills its row's fields. */
static void put_wav(struct fixture *f, struct recd_recording *r, int seconds, double hz)
{
    uint32_t n = (uint32_t)seconds * 8000, bytes = n * 2;
    unsigned char *w = calloc(1, 44 + bytes);
    assert_non_null(w);
    const uint32_t riff = 36 + bytes, fmt_len = 16, rate = 8000, byte_rate = 16000;
    const uint16_t pcm = 1, ch = 1, align = 2, bits = 16;
    memcpy(w, "RIFF", 4);
    memcpy(w + 4, &riff, 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    memcpy(w + 16, &fmt_len, 4);
    memcpy(w + 20, &pcm, 2);
    memcpy(w + 22, &ch, 2);
    memcpy(w + 24, &rate, 4);
    memcpy(w + 28, &byte_rate, 4);
    memcpy(w + 32, &align, 2);
    memcpy(w + 34, &bits, 2);
    memcpy(w + 36, "data", 4);
    memcpy(w + 40, &bytes, 4);
    for (uint32_t i = 0; i < n; i++) {
        int16_t s = (int16_t)(8000.0 * sin(2 * 3.141592653589793 * hz * i / 8000.0));
        memcpy(w + 44 + 2 * i, &s, 2);
    }
    char key[RECD_MEDIA_KEY_MAX];
    recd_media_key(key, r->sid, ".wav");
    assert_int_equal(f->bl->ops->put_mem(f->bl, key, w, 44 + bytes), 0);
    free(w);
    r->media_size = 44 + bytes;
    r->duration_ms = seconds * 1000;
}

static void derived_size_follows_the_wav(void **state)
{
    struct fixture *f = *state;
    struct recd_account a = {0};
    snprintf(a.sid, sizeof a.sid, "AC%032x", 1);
    snprintf(a.friendly_name, sizeof a.friendly_name, "derived");
    a.created_us = a.updated_us = 1000000;
    assert_int_equal(f->st->ops->account_insert(f->st, &a), 0);

    struct recd_recording r = {0};
    snprintf(r.sid, sizeof r.sid, "RE%032x", 7);
    memcpy(r.account_sid, a.sid, sizeof r.account_sid);
    r.created_us = r.updated_us = 2000000;
    r.channels = 1;
    r.sample_rate = 8000;
    snprintf(r.status, sizeof r.status, "completed");
    snprintf(r.source, sizeof r.source, "RecordVerb");
    memset(r.media_sha256, 'a', 64);
    put_wav(f, &r, 1, 440);
    assert_int_equal(f->st->ops->recording_insert(f->st, &r), 0);

    int64_t first, again, second;
    assert_int_equal(recd_media_stat(f->st, f->bl, &r, ".mp3", &first), 0);
    assert_int_equal(recd_media_stat(f->st, f->bl, &r, ".mp3", &again), 0);
    assert_int_equal(again, first);

    /* The same sid comes back with three seconds of other audio (its old files gone, as a purge
     * leaves them): the MP3 is made again, and its own size is the answer. */
    char key[RECD_MEDIA_KEY_MAX];
    recd_media_key(key, r.sid, ".mp3");
    assert_int_equal(f->bl->ops->remove(f->bl, key), 0);
    memset(r.media_sha256, 'b', 64);
    put_wav(f, &r, 3, 660);
    assert_int_equal(recd_media_stat(f->st, f->bl, &r, ".mp3", &second), 0);
    int64_t stored;
    assert_int_equal(f->bl->ops->stat(f->bl, key, &stored), 0);
    assert_int_equal(second, stored);
    assert_true(second > first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(derived_size_follows_the_wav, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
