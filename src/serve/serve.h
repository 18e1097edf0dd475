#ifndef RECD_SERVE_SERVE_H
#define RECD_SERVE_SERVE_H

#include <stdint.h>

/*
 * `recd serve`: the process that puts the parts together. It opens the data folder, gives each
 * HTTP worker thread its own store handle and page cache, runs the hourly purge, and waits for
 * SIGINT or SIGTERM, telling systemd how it goes (src/ops/notify.h). The HTTP adapter (src/http)
 * and the API (src/api) know nothing of this; later listeners (SIP) start here too, and so does
 * the transcription worker pool.
 */

struct recd_serve_opts {
    const char *data_dir;
    const char *listen;       /* "HOST:PORT" or "[V6]:PORT" */
    const char *base_url;     /* NULL = "http://" + listen */
    unsigned threads;         /* 0 = one per core */
    unsigned auth_fail_limit; /* failed Basic auth attempts a minute per client address; 0 = no limit */
    const char *store;        /* the metadata store (store.h, recd_store_open); NULL = the data folder's */
    /* Calls (contract §7): NULL sip = no SIP endpoint. */
    const char *sip;             /* "HOST:PORT" (UDP and TCP) */
    const char *rtp_ports;       /* "LO-HI"; NULL = 16384-32767 */
    const char *sip_allow;       /* "CIDR,CIDR,…"; NULL = loopback only */
    unsigned sip_max_calls;      /* concurrent calls, more get 503; 0 = 500 */
    unsigned sip_invite_rate;    /* INVITEs a second per source address, sustained; 0 = 5 */
    unsigned sip_invite_burst;   /* ... and in a burst; 0 = 20 */
    unsigned sip_min_se;         /* smallest RFC 4028 session interval accepted, seconds; 0 = 90 */
    unsigned webhook_timeout_ms; /* one voice webhook request; 0 = 15000 (Twilio's) */
    /* Transcription workers (contract §8, src/stt/worker.h); zero values take the defaults. */
    const char *stt_url;         /* NULL = the built-in engine (PocketSphinx) */
    const char *stt_model;       /* external engine's model */
    const char *stt_key;         /* external engine's key (read from --stt-key-file), or NULL */
    unsigned stt_timeout_ms;     /* external engine: one request; 0 = 300000 */
    unsigned transcribe_workers; /* threads; 0 = 1 */
    int64_t transcribe_max_ms;   /* recordings longer than this fail (Twilio: 2 minutes); 0 = 120000 */
    int64_t transcribe_lease_ms; /* 0 = 30000 */
    int64_t transcribe_retry_ms; /* first backoff; 0 = 5000 */
    int transcribe_nice;         /* the workers' nice value, 0…19 (the command line's default: 10) */
    int transcribe_priority;     /* enum recd_stt_priority: 0 = idle (SCHED_IDLE), 1 = normal at the nice */
    /* Operations (contract §11, docs/operations.md). */
    int metrics_off;            /* 1: count nothing and serve no /metrics (--metrics off) */
    const char *metrics_listen; /* "HOST:PORT": /metrics and the health endpoints there, and /metrics
                                 * only there; NULL = /metrics on `listen` */
    const char *metrics_allow;  /* who may read /metrics on `listen`: CIDR list, "any" or "none";
                                 * NULL = loopback only */
    int log_json;               /* 1: the server log and the access log as JSON lines */
    /* Audit and retention (contract §11, docs/operations.md). */
    int audit_off;              /* 1: keep no audit record (--audit off) */
    int audit_keep_days;        /* audit files older than this are removed; 0 = kept forever */
    int64_t audit_rotate_bytes; /* an audit file is rotated past this size; 0 = 64 MiB */
    int audit_no_sync;          /* 1: no fdatasync after each batch of audit lines (--audit-sync off) */
    int retention_interval_s;   /* seconds between two retention passes; 0 = 600 */
};

/**
 * Serves until SIGINT or SIGTERM, then stops cleanly (in-flight requests finish) and returns 0.
 * Returns RECD_E_BAD_INPUT for an unusable --listen, --base-url, --sip, --rtp-ports,
 * --sip-allow, --metrics-listen or --metrics-allow, RECD_E_IO when the data folder or the socket
 * cannot be opened, RECD_E_UNAVAILABLE when the SIP port is taken.
 */
int recd_serve(const struct recd_serve_opts *o);

#endif
