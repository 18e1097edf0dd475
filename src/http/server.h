#ifndef RECD_HTTP_SERVER_H
#define RECD_HTTP_SERVER_H

/*
 * The HTTP adapter: libmicrohttpd in front of the API. It owns the sockets, the worker threads
 * (each with its own store handle), the limits and timeouts, and the access log.
 */

struct recd_server_opts {
    const char *data_dir;
    const char *listen;       /* "HOST:PORT" or "[V6]:PORT" */
    const char *base_url;     /* NULL = "http://" + listen */
    unsigned threads;         /* 0 = one per core */
    unsigned auth_fail_limit; /* failed Basic auth attempts a minute per client address; 0 = no limit */
};

/**
 * Serves until SIGINT or SIGTERM, then stops cleanly (in-flight requests finish) and returns 0.
 * Returns RECD_E_BAD_INPUT for an unusable --listen or --base-url, RECD_E_IO when the data
 * folder or the socket cannot be opened.
 */
int recd_serve(const struct recd_server_opts *o);

#endif
