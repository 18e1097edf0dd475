#include "api/cache.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS 64

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

struct recd_api_cache {
    size_t max_bytes, bytes;
    int64_t version[2];
    int valid;
    uint64_t clock;
    struct entry e[SLOTS];
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

static void drop(struct recd_api_cache *c, struct entry *e)
{
    if (!e->mem)
        return;
    c->bytes -= e->key_len + e->len;
    recd_api_cache_release(e->mem);
    memset(e, 0, sizeof *e);
}

void recd_api_cache_free(struct recd_api_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < SLOTS; i++)
        drop(c, &c->e[i]);
    free(c);
}

void recd_api_cache_validate(struct recd_api_cache *c, const int64_t version[2])
{
    if (c->valid && c->version[0] == version[0] && c->version[1] == version[1])
        return;
    for (int i = 0; i < SLOTS; i++)
        drop(c, &c->e[i]);
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
