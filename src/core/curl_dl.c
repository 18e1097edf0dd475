#include "core/curl_dl.h"
#include "core/dl.h"

#include <curl/curl.h>
#include <stdarg.h>

/*
 * libcurl on first use (core/dl.h). Every libcurl function recd calls is listed once here; a call
 * to one that is not listed fails at link time, which is how a new one gets added.
 */
#define CURL_FNS(X, V)                                                                                       \
    X(CURLcode, curl_global_init, (long flags), (flags))                                                     \
    X(CURL *, curl_easy_init, (void), ())                                                                    \
    X(CURLcode, curl_easy_perform, (CURL * c), (c))                                                          \
    V(void, curl_easy_cleanup, (CURL * c), (c))                                                              \
    V(void, curl_easy_reset, (CURL * c), (c))                                                                \
    X(const char *, curl_easy_strerror, (CURLcode e), (e))                                                   \
    V(void, curl_free, (void *p), (p))                                                                       \
    X(curl_mime *, curl_mime_init, (CURL * c), (c))                                                          \
    V(void, curl_mime_free, (curl_mime * m), (m))                                                            \
    X(curl_mimepart *, curl_mime_addpart, (curl_mime * m), (m))                                              \
    X(CURLcode, curl_mime_name, (curl_mimepart * p, const char *s), (p, s))                                  \
    X(CURLcode, curl_mime_filename, (curl_mimepart * p, const char *s), (p, s))                              \
    X(CURLcode, curl_mime_type, (curl_mimepart * p, const char *s), (p, s))                                  \
    X(CURLcode, curl_mime_data, (curl_mimepart * p, const char *s, size_t n), (p, s, n))                     \
    X(CURLM *, curl_multi_init, (void), ())                                                                  \
    X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * c), (m, c))                                       \
    X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * c), (m, c))                                    \
    X(CURLMcode, curl_multi_perform, (CURLM * m, int *running), (m, running))                                \
    X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m))                                                       \
    X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left))                                    \
    X(CURLMcode, curl_multi_poll,                                                                            \
      (CURLM * m, struct curl_waitfd extra[], unsigned int n, int timeout_ms, int *ret),                     \
      (m, extra, n, timeout_ms, ret))                                                                        \
    X(CURLMcode, curl_multi_timeout, (CURLM * m, long *ms), (m, ms))                                         \
    X(CURLMcode, curl_multi_wakeup, (CURLM * m), (m))                                                        \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s))                \
    V(void, curl_slist_free_all, (struct curl_slist * l), (l))                                               \
    X(CURLU *, curl_url, (void), ())                                                                         \
    V(void, curl_url_cleanup, (CURLU * u), (u))                                                              \
    X(CURLUcode, curl_url_get, (CURLU * u, CURLUPart what, char **part, unsigned int flags),                 \
      (u, what, part, flags))                                                                                \
    X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart what, const char *part, unsigned int flags),            \
      (u, what, part, flags))

/* The three variadic ones are written out below; their real functions are resolved the same way. */
#define CURL_VARIADIC(X, V)                                                                                  \
    X(CURLcode, curl_easy_setopt, , )                                                                        \
    X(CURLcode, curl_easy_getinfo, , )                                                                       \
    X(CURLMcode, curl_multi_setopt, , )

enum { CURL_FNS(RECD_DL_ENUM, RECD_DL_ENUM) CURL_VARIADIC(RECD_DL_ENUM, RECD_DL_ENUM) DL_CURL_N };

static const char *const names[] = {CURL_FNS(RECD_DL_NAME, RECD_DL_NAME)
                                        CURL_VARIADIC(RECD_DL_NAME, RECD_DL_NAME)};
static void *slots[DL_CURL_N];
static struct recd_dl curl_dl = {"libcurl.so.4", "libcurl4", names, slots, DL_CURL_N, 0};

#define X(ret, name, params, args) RECD_DL_RET(curl_dl, ret, name, params, args)
#define V(ret, name, params, args) RECD_DL_VOID(curl_dl, ret, name, params, args)
CURL_FNS(X, V)
#undef X
#undef V

int recd_curl_dl_load(void)
{
    return recd_dl_load(&curl_dl);
}

/*
 * An option's number says the type of its one argument (CURLOPTTYPE_*, for easy and multi
 * options alike): a long, a pointer, a function pointer, a curl_off_t, or a blob's pointer.
 * libcurl reads it by that type, so it is passed on as that type.
 */
#define PASS_OPTION(fn, handle, option)                                                                      \
    do {                                                                                                     \
        va_list ap;                                                                                          \
        va_start(ap, option);                                                                                \
        int o_ = (int)(option);                                                                              \
        if (o_ < CURLOPTTYPE_OBJECTPOINT) {                                                                  \
            long v_ = va_arg(ap, long);                                                                      \
            va_end(ap);                                                                                      \
            return fn(handle, option, v_);                                                                   \
        }                                                                                                    \
        if (o_ >= CURLOPTTYPE_FUNCTIONPOINT && o_ < CURLOPTTYPE_OFF_T) {                                     \
            void (*f_)(void) = va_arg(ap, void (*)(void));                                                   \
            va_end(ap);                                                                                      \
            return fn(handle, option, f_);                                                                   \
        }                                                                                                    \
        if (o_ >= CURLOPTTYPE_OFF_T && o_ < CURLOPTTYPE_BLOB) {                                              \
            curl_off_t v_ = va_arg(ap, curl_off_t);                                                          \
            va_end(ap);                                                                                      \
            return fn(handle, option, v_);                                                                   \
        }                                                                                                    \
        void *p_ = va_arg(ap, void *);                                                                       \
        va_end(ap);                                                                                          \
        return fn(handle, option, p_);                                                                       \
    } while (0)

/* The names in parentheses: curl.h makes curl_easy_setopt and curl_easy_getinfo type-checking
 * macros when optimizing. */
CURLcode(curl_easy_setopt)(CURL *c, CURLoption option, ...)
{
    __typeof__(&curl_easy_setopt) fn =
        (__typeof__(&curl_easy_setopt))recd_dl_fn(&curl_dl, DL_curl_easy_setopt);
    PASS_OPTION(fn, c, option);
}

CURLMcode(curl_multi_setopt)(CURLM *m, CURLMoption option, ...)
{
    __typeof__(&curl_multi_setopt) fn =
        (__typeof__(&curl_multi_setopt))recd_dl_fn(&curl_dl, DL_curl_multi_setopt);
    PASS_OPTION(fn, m, option);
}

/* Every CURLINFO_* takes one pointer to where the answer goes. */
CURLcode(curl_easy_getinfo)(CURL *c, CURLINFO info, ...)
{
    __typeof__(&curl_easy_getinfo) fn =
        (__typeof__(&curl_easy_getinfo))recd_dl_fn(&curl_dl, DL_curl_easy_getinfo);
    va_list ap;
    va_start(ap, info);
    void *p = va_arg(ap, void *);
    va_end(ap);
    return fn(c, info, p);
}
