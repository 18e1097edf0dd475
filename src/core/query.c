#include "core/query.h"

#include "core/codec.h"
#include "core/error.h"

#include <string.h>

int recd_query_parse(struct recd_query *q, const char *s, size_t n)
{
    q->n = 0;
    if (n > sizeof q->mem)
        return RECD_E_BAD_PARAM;
    size_t used = 0;
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n;
        if (end > i) {
            if (q->n == RECD_QUERY_MAX_PARAMS)
                return RECD_E_BAD_PARAM;
            const char *eq = memchr(s + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - (s + i)) : end - i;
            const char *v = eq ? eq + 1 : s + end;
            size_t vlen = eq ? (size_t)(s + end - v) : 0;
            /* Decoding never grows the text, so `mem` (as large as the input bound) suffices. */
            long kd = recd_pct_decode(s + i, klen, q->mem + used, 1);
            if (kd < 0)
                return RECD_E_BAD_PARAM;
            q->key[q->n] = (struct recd_str){q->mem + used, (size_t)kd};
            used += (size_t)kd;
            long vd = recd_pct_decode(v, vlen, q->mem + used, 1);
            if (vd < 0)
                return RECD_E_BAD_PARAM;
            q->val[q->n] = (struct recd_str){q->mem + used, (size_t)vd};
            used += (size_t)vd;
            q->n++;
        }
        i = end + 1;
    }
    return 0;
}

const struct recd_str *recd_query_get(const struct recd_query *q, const char *key)
{
    for (int i = 0; i < q->n; i++)
        if (recd_str_eq(q->key[i], key))
            return &q->val[i];
    return NULL;
}
