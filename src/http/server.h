#ifndef RECD_HTTP_SERVER_H
#define RECD_HTTP_SERVER_H

#include "api/api.h"

/*
 * The HTTP adapter: it owns the sockets, the worker threads, the limits and timeouts, and the
 * access log, and turns each request on the wire into a struct recd_request for a handler it is
 * given. It knows nothing of stores, caches or accounts: whoever starts it (src/serve) gives each
 * worker thread its state through thread_open, so the adapter can be replaced without touching
 * anything else.
 */

struct recd_http_opts {
    const char *listen; /* "HOST:PORT" or "[V6]:PORT" */
    unsigned threads;   /* 0 = one per core */
    /* Called on each worker thread before its first request; its result is that thread's
     * state. NULL means the thread cannot serve: its requests get 503. */
    void *(*thread_open)(void *cls);
    /* Called once for each state thread_open made, after every worker has stopped. */
    void (*thread_close)(void *cls, void *ts);
    /* Answers one request on worker state `ts`: rq is filled from the wire (method, target,
     * Authorization, header lookup, client address, arrival time); the handler fills rs. */
    void (*handle)(void *cls, void *ts, struct recd_request *rq, struct recd_response *rs);
    void *cls;
};

struct recd_http;

/**
 * Starts serving: when it returns 0 the listening socket is open and *out owns the server.
 * RECD_E_BAD_INPUT for an unusable `listen`, RECD_E_IO when the socket cannot be opened.
 */
int recd_http_start(const struct recd_http_opts *o, struct recd_http **out);

/**
 * 1 when every worker thread's event loop has come round within `max_age_us` (each does about
 * once a second, busy or idle): what the systemd watchdog is told. 0 when one is stuck.
 */
int recd_http_alive(struct recd_http *h, int64_t max_age_us);

/** Stops accepting, lets requests in flight finish, closes every worker state, frees `h`. */
void recd_http_stop(struct recd_http *h);

#endif
