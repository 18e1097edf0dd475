/*
 * The benchmark data set: one account with N recordings spread over two years and ~1,000
 * calls, most with a tiny 0.1 s WAV, a few (20) with a 60 s WAV.
 *
 *   build/bench/gen DIR N
 *
 * writes DIR/data (a recd data folder), DIR/meta.json (the account's sid and token, a scratch
 * account for the write benchmarks, the call sids, the sids of the 60 s recordings) and, last,
 * DIR/READY. A folder with READY is complete and is reused by bench.py; one without it is the
 * remains of an interrupted run and is removed by bench.py before generating again.
 *
 * The tiny WAVs are hard links (recd_blob_fs_bulk_link) to one of 256 source files, chosen by
 * the first two hex digits of the sid: ext4 allows at most 65,000 links per inode, and 256
 * sources keep every one far below that up to millions of recordings. Each source has its own
 * tone, so each has its own SHA-256, computed once. The order is the one bulk_link documents:
 * link a batch, syncfs, then commit the batch's rows.
 */
#include "core/sid.h"
#include "core/time.h"
#include "media/blob.h"
#include "service/service.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define NCALLS      1000
#define NLONG       20
#define NSOURCES    256
#define BATCH       10000
#define TINY_RATE   8000
#define TINY_FRAMES 800         /* 0.1 s */
#define LONG_FRAMES (8000 * 60) /* 60 s */
#define WAV_HEADER  44
#define SPAN_US     (INT64_C(2) * 365 * RECD_US_PER_DAY)

struct source {
    char name[16];
    char sha[65];
    int64_t size;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    /* xorshift64*: reproducible call assignment and jitter, no need for quality. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static void die(const char *what)
{
    fprintf(stderr, "gen: %s\n", what);
    exit(1);
}

static void put_le(unsigned char *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A PCM WAV, 8 kHz mono 16-bit, of `frames` frames of a sine at `hz`. Caller frees. */
static unsigned char *make_wav(int64_t frames, double hz, size_t *n)
{
    size_t data = (size_t)frames * 2;
    unsigned char *w = malloc(WAV_HEADER + data);
    if (!w)
        die("out of memory");
    memcpy(w, "RIFF", 4);
    put_le(w + 4, (uint32_t)(36 + data), 4);
    memcpy(w + 8, "WAVEfmt ", 8);
    put_le(w + 16, 16, 4);
    put_le(w + 20, 1, 2); /* PCM */
    put_le(w + 22, 1, 2); /* mono */
    put_le(w + 24, TINY_RATE, 4);
    put_le(w + 28, TINY_RATE * 2, 4);
    put_le(w + 32, 2, 2);
    put_le(w + 34, 16, 2);
    memcpy(w + 36, "data", 4);
    put_le(w + 40, (uint32_t)data, 4);
    for (int64_t i = 0; i < frames; i++) {
        double s = 8000.0 * sin(2 * M_PI * hz * (double)i / TINY_RATE);
        put_le(w + WAV_HEADER + 2 * i, (uint32_t)(uint16_t)(int16_t)lrint(s), 2);
    }
    *n = WAV_HEADER + data;
    return w;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int len = 32;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    recd_hex(out, md, 32);
}

static void write_file(int dirfd, const char *name, const void *p, size_t n)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, p, n) != (ssize_t)n || fsync(fd) < 0 || close(fd) < 0)
        die("cannot write a source WAV");
}

static void fill_row(struct recd_recording *r, const char *account, const char *call, int64_t created_us,
                     int64_t duration_ms, int64_t size, const char *sha)
{
    memset(r, 0, sizeof *r);
    memcpy(r->account_sid, account, RECD_SID_LEN + 1);
    memcpy(r->call_sid, call, RECD_SID_LEN + 1);
    r->created_us = r->updated_us = created_us;
    r->start_us = created_us - duration_ms * 1000;
    r->duration_ms = duration_ms;
    r->media_size = size;
    r->channels = 1;
    r->sample_rate = TINY_RATE;
    snprintf(r->status, sizeof r->status, "completed");
    snprintf(r->source, sizeof r->source, "RecordVerb");
    memcpy(r->media_sha256, sha, 65);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen DIR N\n");
        return 2;
    }
    const char *dir = argv[1];
    long long n = atoll(argv[2]);
    if (n < NLONG * 10 || n > 100000000LL) {
        fprintf(stderr, "gen: N must be between %d and 100000000\n", NLONG * 10);
        return 2;
    }
    char path[4096];

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        die("cannot create the data set folder");

    /* Room: per row about 0.6 KB of SQLite (table and four indexes) and a directory entry; the
     * 65,536 shard folders at 4 KiB; the 60 s WAVs and their MP3s; then twice that, for the
     * WAL and the page cache of a filesystem that is nearly full. */
    struct statvfs sv;
    if (statvfs(dir, &sv) < 0)
        die("statvfs failed");
    unsigned long long avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    unsigned long long need = 2ULL * ((unsigned long long)n * 700 + 65792ULL * 4096 + NLONG * 2000000ULL);
    unsigned long long inodes_need = 70000ULL + NLONG * 2;
    if (avail < need || (sv.f_favail && sv.f_favail < inodes_need)) {
        fprintf(stderr, "gen: not enough room in %s: %llu MB free, %llu MB needed for N=%lld\n", dir,
                avail >> 20, need >> 20, n);
        return 1;
    }
    fprintf(stderr, "gen: %lld recordings into %s (%llu MB free, ~%llu MB needed)\n", n, dir, avail >> 20,
            need >> 21);

    snprintf(path, sizeof path, "%s/data", dir);
    struct recd_ctx ctx;
    if (recd_ctx_open(path, &ctx) < 0)
        die("recd_ctx_open failed");
    struct recd_store *st = ctx.store;

    struct recd_account acc, scratch;
    char token[33], scratch_token[33];
    if (recd_account_create(&ctx, "bench", NULL, &acc, token) < 0 ||
        recd_account_create(&ctx, "bench-scratch", NULL, &scratch, scratch_token) < 0)
        die("cannot create the accounts");

    static char calls[NCALLS][RECD_SID_LEN + 1];
    for (int i = 0; i < NCALLS; i++)
        if (recd_sid_new(calls[i], "CA") < 0)
            die("getrandom failed");

    /* Source WAVs, beside the data folder on the same filesystem (hard links need that). */
    snprintf(path, sizeof path, "%s/src", dir);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        die("cannot create the source folder");
    int srcfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (srcfd < 0)
        die("cannot open the source folder");
    static struct source src[NSOURCES];
    for (int i = 0; i < NSOURCES; i++) {
        size_t len;
        unsigned char *w = make_wav(TINY_FRAMES, 300.0 + 10.0 * i, &len);
        snprintf(src[i].name, sizeof src[i].name, "tiny%02x.wav", i);
        write_file(srcfd, src[i].name, w, len);
        sha256_hex(w, len, src[i].sha);
        src[i].size = (int64_t)len;
        free(w);
    }
    /* The 60 s recordings go through the normal durable put, each with its own tone. */
    size_t long_len[NLONG];
    char long_sha[NLONG][65];
    unsigned char *long_wav[NLONG];
    for (int i = 0; i < NLONG; i++) {
        long_wav[i] = make_wav(LONG_FRAMES, 220.0 + 17.0 * i, &long_len[i]);
        sha256_hex(long_wav[i], long_len[i], long_sha[i]);
    }
    char long_sids[NLONG][RECD_SID_LEN + 1];
    int nlong = 0;
    long long long_every = n / NLONG;

    int64_t end_us = (recd_now_us() / RECD_US_PER_SEC - 86400) * RECD_US_PER_SEC;
    int64_t start_us = end_us - SPAN_US;
    int64_t step = SPAN_US / n;
    if (step < 4)
        die("N too large for two years of microseconds");

    struct recd_recording *rows = malloc(sizeof *rows * BATCH);
    if (!rows)
        die("out of memory");
    int64_t t0 = recd_now_us();
    int last_pct = -1;
    char key[RECD_MEDIA_KEY_MAX];
    for (long long at = 0; at < n; at += BATCH) {
        int k = n - at < BATCH ? (int)(n - at) : BATCH;
        for (int j = 0; j < k; j++) {
            long long i = at + j;
            struct recd_recording *r = &rows[j];
            /* Strictly increasing creation times: a slot per row, jitter inside the slot. */
            int64_t created = start_us + (int64_t)i * step + (int64_t)(rng() % (uint64_t)(step / 2));
            const char *call = calls[rng() % NCALLS];
            char sid[RECD_SID_LEN + 1];
            if (recd_sid_new(sid, "RE") < 0)
                die("getrandom failed");
            recd_media_key(key, sid, ".wav");
            if (nlong < NLONG && i % long_every == long_every / 2) {
                if (ctx.blob->ops->put_mem(ctx.blob, key, long_wav[nlong], long_len[nlong]) < 0)
                    die("cannot store a 60 s WAV");
                fill_row(r, acc.sid, call, created, 60000, (int64_t)long_len[nlong], long_sha[nlong]);
                memcpy(long_sids[nlong++], sid, sizeof sid);
            } else {
                unsigned s = (unsigned)strtoul((char[3]){sid[2], sid[3], 0}, NULL, 16);
                if (recd_blob_fs_bulk_link(ctx.blob, key, srcfd, src[s].name) < 0)
                    die("bulk link failed (see the log line above)");
                fill_row(r, acc.sid, call, created, 100, src[s].size, src[s].sha);
            }
            memcpy(r->sid, sid, sizeof sid);
        }
        /* The links must be on stable storage before the rows that point at them commit. */
        if (syncfs(srcfd) < 0)
            die("syncfs failed");
        if (st->ops->begin(st) < 0)
            die("begin failed");
        for (int j = 0; j < k; j++)
            if (st->ops->recording_insert(st, &rows[j]) < 0)
                die("insert failed");
        if (st->ops->commit(st) < 0)
            die("commit failed");
        long long done = at + k;
        int pct = (int)(done * 100 / n);
        if (pct / 5 != last_pct / 5 || done == n) {
            double el = (double)(recd_now_us() - t0) / 1e6;
            double eta = done ? el * (double)(n - done) / (double)done : 0;
            fprintf(stderr, "gen: %3d%%  %lld/%lld recordings  %.0f s elapsed, ~%.0f s to go\n", pct, done, n,
                    el, eta);
            last_pct = pct;
        }
    }
    free(rows);
    for (int i = 0; i < NLONG; i++)
        free(long_wav[i]);

    snprintf(path, sizeof path, "%s/meta.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write meta.json");
    fprintf(f, "{\"n\": %lld, \"account_sid\": \"%s\", \"auth_token\": \"%s\",\n", n, acc.sid, token);
    fprintf(f, " \"scratch_sid\": \"%s\", \"scratch_token\": \"%s\",\n", scratch.sid, scratch_token);
    fprintf(f, " \"first_us\": %lld, \"last_us\": %lld,\n", (long long)start_us, (long long)end_us);
    fprintf(f, " \"long_sids\": [");
    for (int i = 0; i < nlong; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", long_sids[i]);
    fprintf(f, "],\n \"calls\": [");
    for (int i = 0; i < NCALLS; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", calls[i]);
    fprintf(f, "]}\n");
    if (fflush(f) != 0 || fsync(fileno(f)) < 0 || fclose(f) != 0)
        die("cannot write meta.json");
    recd_ctx_close(&ctx);
    if (syncfs(srcfd) < 0)
        die("syncfs failed");
    close(srcfd);

    /* Written last: its presence means the data set is whole. */
    snprintf(path, sizeof path, "%s/READY", dir);
    f = fopen(path, "w");
    if (!f || fprintf(f, "%lld\n", n) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0 || fclose(f) != 0)
        die("cannot write READY");
    fprintf(stderr, "gen: done in %.0f s\n", (double)(recd_now_us() - t0) / 1e6);
    return 0;
}
