#include "core/dl.h"

#include "core/error.h"
#include "core/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* One lock for every table: loading happens a handful of times per process. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

int recd_dl_load(struct recd_dl *d)
{
    int s = __atomic_load_n(&d->state, __ATOMIC_ACQUIRE);
    if (s != 0)
        return s > 0 ? 0 : RECD_E_UNAVAILABLE;
    pthread_mutex_lock(&load_lock);
    s = __atomic_load_n(&d->state, __ATOMIC_ACQUIRE);
    if (s == 0) {
        int missing = 0;
        /* Never closed: the libraries keep global state (curl_global_init) for the process. */
        void *h = dlopen(d->soname, RTLD_LAZY | RTLD_LOCAL);
        for (size_t i = 0; h && !missing && i < d->n; i++)
            missing = (d->slots[i] = dlsym(h, d->names[i])) == NULL;
        if (!h || missing) {
            /* dlerror() names the file or the symbol that is missing. */
            const char *e = dlerror();
            recd_log_error("cannot load %s (%s): install Debian's %s package", d->soname,
                           e ? e : "unknown reason", d->package);
            s = -1;
        } else {
            s = 1;
        }
        __atomic_store_n(&d->state, s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&load_lock);
    return s > 0 ? 0 : RECD_E_UNAVAILABLE;
}

void *recd_dl_fn(struct recd_dl *d, size_t i)
{
    if (__atomic_load_n(&d->state, __ATOMIC_ACQUIRE) <= 0 && recd_dl_load(d) < 0) {
        fprintf(stderr, "recd: cannot load %s: install Debian's %s package\n", d->soname, d->package);
        exit(1);
    }
    return d->slots[i];
}
