#include "api/cache.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS 64

struct entry {
    char *key; /* key bytes then body bytes, one allocation */
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

static void drop(struct recd_api_cache *c, struct entry *e)
{
    if (!e->key)
        return;
    c->bytes -= e->key_len + e->len;
    free(e->key);
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

const char *recd_api_cache_get(struct recd_api_cache *c, const char *key, size_t key_len, size_t *len,
                               const char **content_type)
{
    for (int i = 0; i < SLOTS; i++) {
        struct entry *e = &c->e[i];
        if (e->key && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) {
            e->used = ++c->clock;
            *len = e->len;
            *content_type = e->content_type;
            return e->key + key_len;
        }
    }
    return NULL;
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
            if (!e->key) {
                if (!free_slot)
                    free_slot = e;
            } else if (!victim || e->used < victim->used) {
                victim = e;
            }
        }
        if (free_slot && c->bytes + need <= c->max_bytes) {
            char *mem = malloc(need);
            if (!mem)
                return; /* a cache may always decline */
            memcpy(mem, key, key_len);
            memcpy(mem + key_len, body, len);
            *free_slot = (struct entry){mem, key_len, len, content_type, ++c->clock};
            c->bytes += need;
            return;
        }
        if (!victim)
            return;
        drop(c, victim);
    }
}
