#include "api/cache.h"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 64
/* Distinct credentials a worker remembers at once: a few clients, each with a key or two. */
#define AUTH_SLOTS 16
/* Media files kept open: the few a worker serves again and again; a bound on its descriptors. */
#define FILE_SLOTS   16
#define FILE_KEY_MAX 64

/* One allocation per entry: the count, then the key's bytes, then the body's. The cache holds
 * one reference; each response sending the body holds another. */
struct recd_api_cache_ref {
    int refs;
    char bytes[];
};

struct entry {
    struct recd_api_cache_ref *mem; /* NULL: a free slot */
    size_t key_len;
    size_t len;
    const char *content_type;
    uint64_t used; /* last use, for eviction */
};

/* Credentials found valid: the digest of the Authorization header and the account it may act
 * on (whose row callers of the check expect). */
struct auth_entry {
    uint64_t used; /* 0: a free slot; else the last use, for eviction */
    unsigned char digest[32];
    struct recd_account acc;
};

/* A kept descriptor: the cache holds one reference, each response sending from it another; the
 * last one closes it. */
struct recd_api_cache_file {
    int refs;
    int fd;
};

struct file_entry {
    uint64_t used; /* 0: a free slot; else the last use, for eviction */
    struct recd_api_cache_file *f;
    int64_t size;
    char key[FILE_KEY_MAX];
};

struct recd_api_cache {
    size_t max_bytes, bytes;
    int64_t version[2];
    int valid;
    uint64_t clock;
    struct entry e[SLOTS];
    uint64_t auth_clock;
    struct auth_entry auth[AUTH_SLOTS];
    uint64_t file_clock;
    struct file_entry files[FILE_SLOTS];
};

struct recd_api_cache *recd_api_cache_new(size_t max_bytes)
{
    struct recd_api_cache *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->max_bytes = max_bytes;
    return c;
}

void recd_api_cache_release(struct recd_api_cache_ref *ref)
{
    /* Atomic because a response may in principle be destroyed off its worker's thread. */
    if (ref && __atomic_sub_fetch(&ref->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(ref);
}

void recd_api_cache_file_release(struct recd_api_cache_file *ref)
{
    if (ref && __atomic_sub_fetch(&ref->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        close(ref->fd);
        free(ref);
    }
}

static void drop(struct recd_api_cache *c, struct entry *e)
{
    if (!e->mem)
        return;
    c->bytes -= e->key_len + e->len;
    recd_api_cache_release(e->mem);
    memset(e, 0, sizeof *e);
}

static void drop_all(struct recd_api_cache *c)
{
    for (int i = 0; i < SLOTS; i++)
        drop(c, &c->e[i]);
    /* The rows hold token hashes: not left behind in freed or reused memory. */
    OPENSSL_cleanse(c->auth, sizeof c->auth);
    for (int i = 0; i < FILE_SLOTS; i++)
        if (c->files[i].used)
            recd_api_cache_file_release(c->files[i].f);
    memset(c->files, 0, sizeof c->files);
}

void recd_api_cache_free(struct recd_api_cache *c)
{
    if (!c)
        return;
    drop_all(c);
    free(c);
}

void recd_api_cache_validate(struct recd_api_cache *c, const int64_t version[2])
{
    if (c->valid && c->version[0] == version[0] && c->version[1] == version[1])
        return;
    drop_all(c);
    c->version[0] = version[0];
    c->version[1] = version[1];
    c->valid = 1;
}

static struct entry *find(struct recd_api_cache *c, const char *key, size_t key_len)
{
    for (int i = 0; i < SLOTS; i++) {
        struct entry *e = &c->e[i];
        if (e->mem && e->key_len == key_len && memcmp(e->mem->bytes, key, key_len) == 0) {
            e->used = ++c->clock;
            return e;
        }
    }
    return NULL;
}

const char *recd_api_cache_get(struct recd_api_cache *c, const char *key, size_t key_len, size_t *len,
                               const char **content_type)
{
    struct entry *e = find(c, key, key_len);
    if (!e)
        return NULL;
    *len = e->len;
    *content_type = e->content_type;
    return e->mem->bytes + key_len;
}

const char *recd_api_cache_share(struct recd_api_cache *c, const char *key, size_t key_len, size_t *len,
                                 const char **content_type, struct recd_api_cache_ref **ref)
{
    struct entry *e = find(c, key, key_len);
    if (!e)
        return NULL;
    __atomic_add_fetch(&e->mem->refs, 1, __ATOMIC_RELAXED);
    *ref = e->mem;
    *len = e->len;
    *content_type = e->content_type;
    return e->mem->bytes + key_len;
}

void recd_api_cache_put(struct recd_api_cache *c, const char *key, size_t key_len, const char *body,
                        size_t len, const char *content_type)
{
    size_t need = key_len + len;
    if (!c->valid || need > c->max_bytes / 4)
        return;
    /* Evict the least recently used until the new entry fits and a slot is free. */
    for (;;) {
        struct entry *victim = NULL, *free_slot = NULL;
        for (int i = 0; i < SLOTS; i++) {
            struct entry *e = &c->e[i];
            if (!e->mem) {
                if (!free_slot)
                    free_slot = e;
            } else if (!victim || e->used < victim->used) {
                victim = e;
            }
        }
        if (free_slot && c->bytes + need <= c->max_bytes) {
            struct recd_api_cache_ref *mem = malloc(sizeof *mem + need);
            if (!mem)
                return; /* a cache may always decline */
            mem->refs = 1;
            memcpy(mem->bytes, key, key_len);
            memcpy(mem->bytes + key_len, body, len);
            *free_slot = (struct entry){mem, key_len, len, content_type, ++c->clock};
            c->bytes += need;
            return;
        }
        if (!victim)
            return;
        drop(c, victim);
    }
}

int recd_api_cache_auth_get(struct recd_api_cache *c, const char *sid, const unsigned char digest[32],
                            struct recd_account *acc)
{
    if (!c->valid)
        return 0;
    for (int i = 0; i < AUTH_SLOTS; i++) {
        struct auth_entry *a = &c->auth[i];
        /* The sid is in the request's path, no secret; the digest stands for one. */
        if (a->used && strcmp(a->acc.sid, sid) == 0 && CRYPTO_memcmp(a->digest, digest, 32) == 0) {
            a->used = ++c->auth_clock;
            *acc = a->acc;
            return 1;
        }
    }
    return 0;
}

void recd_api_cache_auth_put(struct recd_api_cache *c, const unsigned char digest[32],
                             const struct recd_account *acc)
{
    /* As for pages: before the first validate there is no version to tie the entry to. */
    if (!c->valid)
        return;
    struct auth_entry *slot = &c->auth[0];
    for (int i = 0; i < AUTH_SLOTS; i++) {
        struct auth_entry *a = &c->auth[i];
        if (a->used && strcmp(a->acc.sid, acc->sid) == 0 && CRYPTO_memcmp(a->digest, digest, 32) == 0)
            return; /* already known */
        if (a->used < slot->used)
            slot = a; /* a free slot (0) first, else the least recently used */
    }
    memcpy(slot->digest, digest, 32);
    slot->acc = *acc;
    slot->used = ++c->auth_clock;
}

static struct file_entry *file_find(struct recd_api_cache *c, const char *key)
{
    if (!c->valid)
        return NULL;
    for (int i = 0; i < FILE_SLOTS; i++) {
        struct file_entry *f = &c->files[i];
        if (f->used && strcmp(f->key, key) == 0) {
            f->used = ++c->file_clock;
            return f;
        }
    }
    return NULL;
}

int recd_api_cache_file_get(struct recd_api_cache *c, const char *key, int64_t *size)
{
    struct file_entry *f = file_find(c, key);
    /* Each caller owns (and closes) its descriptor; sendfile is given the offset, so
     * duplicates sharing one file position do not disturb one another. */
    int fd = f ? fcntl(f->f->fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (fd >= 0)
        *size = f->size;
    return fd;
}

int recd_api_cache_file_share(struct recd_api_cache *c, const char *key, int64_t *size,
                              struct recd_api_cache_file **ref)
{
    struct file_entry *f = file_find(c, key);
    if (!f)
        return -1;
    /* Shared by every response sending it: sendfile is given the offset, so they do not disturb
     * one another's position. */
    __atomic_add_fetch(&f->f->refs, 1, __ATOMIC_RELAXED);
    *ref = f->f;
    *size = f->size;
    return f->f->fd;
}

void recd_api_cache_file_put(struct recd_api_cache *c, const char *key, int fd, int64_t size)
{
    if (!c->valid || strlen(key) >= FILE_KEY_MAX)
        return;
    struct file_entry *slot = &c->files[0];
    for (int i = 0; i < FILE_SLOTS; i++) {
        struct file_entry *f = &c->files[i];
        if (f->used && strcmp(f->key, key) == 0)
            return;
        if (f->used < slot->used)
            slot = f;
    }
    struct recd_api_cache_file *kept = malloc(sizeof *kept);
    int dup = kept ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dup < 0) {
        free(kept);
        return; /* out of memory or descriptors: the cache declines */
    }
    kept->refs = 1;
    kept->fd = dup;
    if (slot->used)
        recd_api_cache_file_release(slot->f);
    slot->f = kept;
    slot->size = size;
    strcpy(slot->key, key);
    slot->used = ++c->file_clock;
}
