#ifndef RECD_SERVE_SERVE_H
#define RECD_SERVE_SERVE_H

/*
 * `recd serve`: the process that puts the parts together. It opens the data folder, gives each
 * HTTP worker thread its own store handle and page cache, runs the hourly purge, and waits for
 * SIGINT or SIGTERM. The HTTP adapter (src/http) and the API (src/api) know nothing of this;
 * later listeners (SIP) and background work (transcription) start here too.
 */

struct recd_serve_opts {
    const char *data_dir;
    const char *listen;       /* "HOST:PORT" or "[V6]:PORT" */
    const char *base_url;     /* NULL = "http://" + listen */
    unsigned threads;         /* 0 = one per core */
    unsigned auth_fail_limit; /* failed Basic auth attempts a minute per client address; 0 = no limit */
    const char *store;        /* the metadata store (store.h, recd_store_open); NULL = the data folder's */
    /* Calls (contract §7): NULL sip = no SIP endpoint. */
    const char *sip;       /* "HOST:PORT" (UDP and TCP) */
    const char *rtp_ports; /* "LO-HI"; NULL = 16384-32767 */
    const char *sip_allow; /* "CIDR,CIDR,…"; NULL = loopback only */
};

/**
 * Serves until SIGINT or SIGTERM, then stops cleanly (in-flight requests finish) and returns 0.
 * Returns RECD_E_BAD_INPUT for an unusable --listen, --base-url, --sip, --rtp-ports or
 * --sip-allow, RECD_E_IO when the data folder or the socket cannot be opened, RECD_E_UNAVAILABLE
 * when the SIP port is taken.
 */
int recd_serve(const struct recd_serve_opts *o);

#endif
