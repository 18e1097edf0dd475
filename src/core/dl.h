#ifndef RECD_CORE_DL_H
#define RECD_CORE_DL_H

#include <stddef.h>

/*
 * Libraries loaded on first use. Most recd commands (import, account, sign, fsck…) never touch
 * libcurl, libpq, espeak-ng, PocketSphinx or spandsp, yet linking them makes every process map
 * and relocate about 60 more shared objects (their dependencies: Kerberos, LDAP, PulseAudio,
 * X11, LAPACK, libtiff…), which cost 30-40 ms of CPU before main() on this machine. So they
 * are not linked: each layer that uses one defines, under the library's own names, stand-ins
 * that resolve the real function with dlopen/dlsym the first time any of them is called
 * (core/curl_dl.c, store/pg_dl.c, voice/voice_dl.c, stt/sphinx_dl.c). Call sites stay as
 * written against the library's headers, and those headers check every stand-in's signature.
 *
 * A table describes one library; its `names` and `slots` are parallel arrays of `n`.
 */
struct recd_dl {
    const char *soname;  /* what dlopen loads: the runtime package's name, e.g. "libcurl.so.4" */
    const char *package; /* the Debian package that ships it, for the error message */
    const char *const *names;
    void **slots;
    size_t n;
    int state; /* 0 not tried, 1 loaded, -1 failed; atomic, with the loading under a lock */
};

/**
 * Loads `d`'s library and resolves every name, once per process (thread-safe; later calls
 * return the first result). Returns 0, or RECD_E_UNAVAILABLE after logging one line that
 * names the library, the Debian package to install and dlerror()'s reason.
 */
int recd_dl_load(struct recd_dl *d);

/**
 * The address of `d`'s function number `i`, loading the library on first use. When the library
 * cannot be loaded, prints one line to stderr (as recd_dl_load logs it) and exits with status 1:
 * a stand-in has no error value of its own to return, and a process that got this far without
 * the library has no other way to go on. `recd serve` loads every library at start
 * (recd_dl_load), so a server finds out there and not at its first webhook.
 */
void *recd_dl_fn(struct recd_dl *d, size_t i);

/*
 * Builds a stand-in from an X-list entry (ret, name, params, args): the function `name` with
 * the library's signature, calling the real one through `table`. The enum of indexes is made
 * from the same list (RECD_DL_ENUM) under the prefix DL_. Void functions use RECD_DL_VOID.
 */
#define RECD_DL_ENUM(ret, name, params, args) DL_##name,
#define RECD_DL_NAME(ret, name, params, args) #name,
#define RECD_DL_RET(table, ret, name, params, args)                                                          \
    ret name params                                                                                          \
    {                                                                                                        \
        return ((__typeof__(&name))recd_dl_fn(&table, DL_##name))args;                                       \
    }
#define RECD_DL_VOID(table, ret, name, params, args)                                                         \
    ret name params                                                                                          \
    {                                                                                                        \
        ((__typeof__(&name))recd_dl_fn(&table, DL_##name)) args;                                             \
    }

#endif
