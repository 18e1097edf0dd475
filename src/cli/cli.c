#include "cli/cli.h"

#include "api/resource.h"
#include "api/recd_links.h"
#include "api/sign.h"
#include "core/buf.h"
#include "core/curl_dl.h"
#include "core/error.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/sid.h"
#include "core/time.h"
#include "media/blob_s3.h"
#include "serve/serve.h"
#include "stt/worker.h"
#include "service/audit.h"
#include "service/backup.h"
#include "service/migrate.h"
#include "service/mirror.h"
#include "service/retention.h"
#include "service/service.h"
#include "service/transcribe.h"
#include "store/pg_dl.h"
#include "stt/sphinx_dl.h"
#include "voice/voice_dl.h"

#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2

/* --- Option parsing: "--name VALUE" or "--name=VALUE"; everything else is positional. --- */

struct opt {
    const char *name; /* without the dashes */
    int takes_value;
    const char *value; /* set when given; "1" for flags */
};

struct args {
    struct opt *opts;
    int nopts;
    char **pos;
    int npos;
    int help;
    const char *store; /* --store, which every command takes */
    const char *media; /* --media or $RECD_MEDIA: NULL when media is in the data folder */
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "recd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see recd --help)\n");
    return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct opt *opts, int nopts, struct args *a, char **posbuf)
{
    a->opts = opts;
    a->nopts = nopts;
    a->pos = posbuf;
    a->npos = 0;
    a->help = 0;
    a->store = NULL;
    /* Every command takes --store, --media and --s3-credentials (contract §9), so they are parsed
     * here rather than listed in each. */
    struct opt store = {"store", 1, NULL}, media = {"media", 1, NULL}, creds = {"s3-credentials", 1, NULL};
    for (int i = 0; i < argc; i++) {
        char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
            a->pos[a->npos++] = s;
            continue;
        }
        const char *name = s + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        struct opt *o = NULL;
        for (int k = 0; k < nopts; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
                o = &opts[k];
        if (!o && nlen == 5 && strncmp(name, "store", 5) == 0)
            o = &store;
        if (!o && nlen == 5 && strncmp(name, "media", 5) == 0)
            o = &media;
        if (!o && nlen == 14 && strncmp(name, "s3-credentials", 14) == 0)
            o = &creds;
        if (!o)
            return usage_error("unknown option %s", s);
        if (o->takes_value) {
            if (eq)
                o->value = eq + 1;
            else if (i + 1 < argc)
                o->value = argv[++i];
            else
                return usage_error("option %s needs a value", s);
        } else {
            if (eq)
                return usage_error("option %s takes no value", s);
            o->value = "1";
        }
    }
    a->store = store.value;
    /* Only PostgreSQL URLs and paths name a store (store.h, recd_store_open). */
    const char *where = a->store ? a->store : getenv("RECD_STORE");
    if (where && strstr(where, "://") && !recd_store_is_pg(where)) {
        char shown[512];
        recd_store_url_redact(where, shown, sizeof shown);
        return usage_error("--store %s: want postgres://… or the path of a file", shown);
    }
    /* Where media lives: checked whole (location and credentials) before any command runs. */
    char why[512];
    const char *m = media.value ? media.value : getenv("RECD_MEDIA");
    if (recd_ctx_media_set(m, creds.value, why, sizeof why) < 0)
        return usage_error("%s", why);
    a->media = m && *m ? m : NULL;
    return 0;
}

static const char *optv(struct args *a, const char *name)
{
    for (int k = 0; k < a->nopts; k++)
        if (strcmp(a->opts[k].name, name) == 0)
            return a->opts[k].value;
    return NULL;
}

static const char *data_dir(struct args *a)
{
    const char *d = optv(a, "data");
    if (!d)
        d = getenv("RECD_DATA");
    return d && *d ? d : "./data";
}

/* The metadata store: --store, else $RECD_STORE, else NULL (the data folder's own SQLite file). */
static const char *store_of(struct args *a)
{
    const char *s = a->store;
    if (!s)
        s = getenv("RECD_STORE");
    return s && *s ? s : NULL;
}

static int exit_for(int rc)
{
    switch (rc) {
    case 0: return 0;
    case RECD_E_BAD_INPUT:
    case RECD_E_BAD_PARAM:
    case RECD_E_EXISTS:
    case RECD_E_NOT_FOUND: return EXIT_USAGE;
    default: return 1;
    }
}

static int open_ctx(struct args *a, struct recd_ctx *ctx)
{
    const char *store = store_of(a);
    int rc = recd_ctx_open_store(data_dir(a), store, ctx);
    if (rc < 0 && store) {
        char shown[512];
        recd_store_url_redact(store, shown, sizeof shown);
        fprintf(stderr, "recd: cannot open the store %s%s (data folder %s)\n", shown,
                rc == RECD_E_UNAVAILABLE ? ": the database does not answer" : "", data_dir(a));
    } else if (rc < 0) {
        fprintf(stderr, "recd: cannot open the data folder %s\n", data_dir(a));
    }
    return rc;
}

static const char *base_url(void)
{
    static char buf[300];
    const char *b = getenv("RECD_BASE_URL");
    if (b && *b)
        return b;
    const char *l = getenv("RECD_LISTEN");
    snprintf(buf, sizeof buf, "http://%s", l && *l ? l : "127.0.0.1:8080");
    return buf;
}

/* --- Commands ---------------------------------------------------------------------------- */

static const char serve_help[] =
    "usage: recd serve [--listen HOST:PORT] [--base-url URL] [--threads N] [--auth-fail-limit N]\n"
    "                  [--sip HOST:PORT [--rtp-ports LO-HI] [--sip-allow CIDR,...] [--sip-max-calls N]\n"
    "                   [--sip-invite-rate R] [--sip-invite-burst B] [--sip-min-se S]\n"
    "                   [--webhook-timeout-seconds S]]\n"
    "                  [--stt URL [--stt-model NAME] [--stt-key-file FILE] [--stt-timeout-seconds S]]\n"
    "                  [--transcribe-workers N] [--transcribe-priority idle|normal]\n"
    "                  [--transcribe-nice N]\n"
    "                  [--transcribe-max-seconds N] [--transcribe-lease-seconds S]\n"
    "                  [--transcribe-retry-seconds S] [--data DIR] [--store URL]\n"
    "                  [--metrics on|off] [--metrics-listen HOST:PORT] [--metrics-allow CIDR,...]\n"
    "                  [--log-format text|json] [--audit on|off] [--audit-keep-days N]\n"
    "                  [--audit-rotate-mb N] [--audit-sync on|off] [--retention-interval S]\n"
    "Serves the Recordings API. --listen defaults to $RECD_LISTEN or 127.0.0.1:8080; --base-url (the\n"
    "public URL in media_url) defaults to http://LISTEN. --auth-fail-limit: failed Basic auth\n"
    "attempts a minute per client address before 429 (default $RECD_AUTH_FAIL_LIMIT or 60; 0 turns\n"
    "the limit off).\n"
    "--sip (default $RECD_SIP; none: no calls) answers SIP calls on UDP and TCP and runs the called\n"
    "number's TwiML; --rtp-ports is the RTP range (default 16384-32767); --sip-allow lists who may\n"
    "call (default loopback only). --sip-max-calls (default $RECD_SIP_MAX_CALLS or 500) caps concurrent\n"
    "calls, more get 503; --sip-invite-rate and --sip-invite-burst (default $RECD_SIP_INVITE_RATE or 5\n"
    "a second, $RECD_SIP_INVITE_BURST or 20) limit INVITEs per source address, more get 503 with\n"
    "Retry-After. --sip-min-se (default $RECD_SIP_MIN_SE or 90, RFC 4028's minimum) is the shortest\n"
    "session interval (Session-Expires) accepted; shorter get 422.\n"
    "--webhook-timeout-seconds bounds each webhook request of a call (default 15, Twilio's).\n"
    "Transcriptions (docs/transcription.md) are made by --transcribe-workers threads (default 1) with\n"
    "the built-in engine (PocketSphinx, en-us), or with --stt URL (env RECD_STT), a server speaking\n"
    "POST /v1/audio/transcriptions (--stt-model, default whisper-1; --stt-key-file: a file holding\n"
    "its bearer key; --stt-timeout-seconds: one request, default 300). Recordings longer than "
    "--transcribe-max-seconds (default 120, Twilio's limit)\n"
    "fail with code 13617. A job's lease (default 30 s) and first retry delay (default 5 s) are\n"
    "settable for tests and slow engines. The built-in engine decodes under SCHED_IDLE\n"
    "(--transcribe-priority idle, the default): only on CPU that nothing else wants, and it pauses\n"
    "while the threads that answer requests and calls wait for a CPU. With normal,\n"
    "it runs at --transcribe-nice (0 to 19, default 10), below the threads that answer requests.\n"
    "GET /livez and /readyz answer health checks; GET /metrics is Prometheus's exposition, served on\n"
    "--listen to --metrics-allow (default $RECD_METRICS_ALLOW or loopback only; \"any\", \"none\"), or\n"
    "only on --metrics-listen (default $RECD_METRICS_LISTEN) to whoever reaches it; --metrics off\n"
    "counts nothing (docs/operations.md).\n"
    "Under systemd (Type=notify) it says READY=1 once listening, WATCHDOG=1 when WatchdogSec is set\n"
    "and STOPPING=1 on the way out. --log-format json (default $RECD_LOG_FORMAT or text) writes the\n"
    "log and the access log as JSON lines. Stops cleanly on SIGINT/SIGTERM.\n"
    "Every media fetch, delete and credential checked goes to the audit record in DATA/audit/\n"
    "(read it with recd audit); --audit off (default $RECD_AUDIT or on) keeps none. Its files are\n"
    "rotated past --audit-rotate-mb (default 64) and removed after --audit-keep-days (default 365;\n"
    "0 keeps them forever). The writer fdatasyncs the file after each batch (at most every 100 ms,\n"
    "never when idle), so records outlive a power loss; --audit-sync off (default $RECD_AUDIT_SYNC or\n"
    "on) leaves that to the kernel. Recordings past their account's --retention-days are deleted by\n"
    "the server at start and every --retention-interval seconds (default 600, 1 to 86400)\n"
    "(docs/operations.md).\n";

/* A number option within [lo, hi]; fractional when `frac`. 0 when absent, -1 (after a message) when bad. */
static int num_opt(struct args *a, const char *name, double lo, double hi, int frac, double *out)
{
    const char *v = optv(a, name);
    if (!v)
        return 0;
    char *end;
    double d = frac ? strtod(v, &end) : (double)strtol(v, &end, 10);
    if (!*v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "recd: --%s %s: want %s%g to %g (see recd --help)\n", name, v,
                frac ? "" : "a whole number ", lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

/* A number option as num_opt, whole, falling back to the environment variable `env`. */
static int num_opt_env(struct args *a, const char *name, const char *env, unsigned lo, unsigned hi,
                       unsigned *out)
{
    const char *v = optv(a, name);
    if (!v) {
        v = getenv(env);
        if (!v || !*v)
            return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || errno || n < (long)lo || n > (long)hi) {
        fprintf(stderr, "recd: %s%s %s: want a whole number %u to %u (see recd serve --help)\n",
                optv(a, name) ? "--" : "$", optv(a, name) ? name : env, v, lo, hi);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

/* The SIP options of `recd serve` (contract §7) into `so`. 0, or EXIT_USAGE after a one-line message. */
static int serve_sip_opts(struct args *a, struct recd_serve_opts *so)
{
    so->sip = optv(a, "sip");
    if (!so->sip)
        so->sip = getenv("RECD_SIP");
    if (so->sip && !*so->sip)
        so->sip = NULL;
    if (!so->sip && (optv(a, "rtp-ports") || optv(a, "sip-allow") || optv(a, "sip-max-calls") ||
                     optv(a, "sip-invite-rate") || optv(a, "sip-invite-burst") || optv(a, "sip-min-se") ||
                     optv(a, "webhook-timeout-seconds")))
        return usage_error("%s need --sip",
                           "--rtp-ports, --sip-allow, --webhook-timeout-seconds and the --sip-… limits");
    double webhook_s = 0;
    if (num_opt(a, "webhook-timeout-seconds", 0.5, 600, 1, &webhook_s) < 0)
        return EXIT_USAGE;
    so->webhook_timeout_ms = (unsigned)(webhook_s * 1000);
    so->rtp_ports = optv(a, "rtp-ports");
    so->sip_allow = optv(a, "sip-allow");
    /* Without --sip the environment's limits are not looked at: they belong to an endpoint. */
    if (so->sip &&
        (num_opt_env(a, "sip-max-calls", "RECD_SIP_MAX_CALLS", 1, 100000, &so->sip_max_calls) < 0 ||
         num_opt_env(a, "sip-invite-rate", "RECD_SIP_INVITE_RATE", 1, 1000000, &so->sip_invite_rate) < 0 ||
         num_opt_env(a, "sip-invite-burst", "RECD_SIP_INVITE_BURST", 1, 1000000, &so->sip_invite_burst) < 0 ||
         num_opt_env(a, "sip-min-se", "RECD_SIP_MIN_SE", 1, 86400, &so->sip_min_se) < 0))
        return EXIT_USAGE;
    return 0;
}

/* Reads the external engine's key: the file's first line, at most 512 bytes, no spaces. */
static int read_key_file(const char *path, char *key, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "recd: --stt-key-file %s: cannot read it\n", path);
        return -1;
    }
    size_t n = fread(key, 1, cap - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    key[n] = '\0';
    key[strcspn(key, "\r\n")] = '\0';
    n = strlen(key);
    if ((more && n == cap - 1) || n == 0 || strpbrk(key, " \t") != NULL) {
        fprintf(stderr, "recd: --stt-key-file %s: want one line holding the key (at most %zu bytes)\n", path,
                cap - 2);
        return -1;
    }
    return 0;
}

/* The transcription options of `recd serve` (contract §8) into `so`; the key file's key goes in
 * `key`. 0, or EXIT_USAGE after a one-line message. */
static int serve_stt_opts(struct args *a, struct recd_serve_opts *so, char *key, size_t key_cap)
{
    so->stt_url = optv(a, "stt");
    if (!so->stt_url)
        so->stt_url = getenv("RECD_STT");
    if (so->stt_url && !*so->stt_url)
        so->stt_url = NULL;
    so->stt_model = optv(a, "stt-model");
    if ((so->stt_model || optv(a, "stt-key-file") || optv(a, "stt-timeout-seconds")) && !so->stt_url)
        return usage_error("%s", "--stt-model, --stt-key-file and --stt-timeout-seconds go with --stt URL");
    if (optv(a, "stt-key-file")) {
        if (read_key_file(optv(a, "stt-key-file"), key, key_cap) < 0)
            return EXIT_USAGE;
        so->stt_key = key;
    }
    double workers = 0, max_s = 0, lease_s = 0, retry_s = 0, timeout_s = 0, nice = 10;
    if (num_opt(a, "stt-timeout-seconds", 0.1, 86400, 1, &timeout_s) < 0 ||
        num_opt(a, "transcribe-workers", 1, 64, 0, &workers) < 0 ||
        num_opt(a, "transcribe-max-seconds", 1, 86400, 0, &max_s) < 0 ||
        num_opt(a, "transcribe-lease-seconds", 0.5, 3600, 1, &lease_s) < 0 ||
        num_opt(a, "transcribe-retry-seconds", 0.01, 3600, 1, &retry_s) < 0 ||
        num_opt(a, "transcribe-nice", 0, 19, 0, &nice) < 0)
        return EXIT_USAGE;
    so->transcribe_nice = (int)nice;
    const char *prio = optv(a, "transcribe-priority");
    if (prio && strcmp(prio, "idle") != 0 && strcmp(prio, "normal") != 0)
        return usage_error("--transcribe-priority: want idle or normal, not %s", prio);
    so->transcribe_priority =
        prio && strcmp(prio, "normal") == 0 ? RECD_STT_PRIORITY_NORMAL : RECD_STT_PRIORITY_IDLE;
    so->stt_timeout_ms = (unsigned)(timeout_s * 1000);
    so->transcribe_workers = (unsigned)workers;
    so->transcribe_max_ms = (int64_t)(max_s * 1000);
    so->transcribe_lease_ms = (int64_t)(lease_s * 1000);
    so->transcribe_retry_ms = (int64_t)(retry_s * 1000);
    return 0;
}

/* Long because it is `recd serve`'s option table and their checks, in the order the help lists
 * them; the SIP and transcription groups already have their own functions. */
static int cmd_serve(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL},
                         {"listen", 1, NULL},
                         {"base-url", 1, NULL},
                         {"threads", 1, NULL},
                         {"auth-fail-limit", 1, NULL},
                         {"sip", 1, NULL},
                         {"rtp-ports", 1, NULL},
                         {"sip-allow", 1, NULL},
                         {"webhook-timeout-seconds", 1, NULL},
                         {"sip-max-calls", 1, NULL},
                         {"sip-invite-rate", 1, NULL},
                         {"sip-invite-burst", 1, NULL},
                         {"sip-min-se", 1, NULL},
                         {"stt", 1, NULL},
                         {"stt-model", 1, NULL},
                         {"stt-key-file", 1, NULL},
                         {"stt-timeout-seconds", 1, NULL},
                         {"transcribe-workers", 1, NULL},
                         {"transcribe-max-seconds", 1, NULL},
                         {"transcribe-lease-seconds", 1, NULL},
                         {"transcribe-retry-seconds", 1, NULL},
                         {"transcribe-nice", 1, NULL},
                         {"transcribe-priority", 1, NULL},
                         {"metrics", 1, NULL},
                         {"metrics-listen", 1, NULL},
                         {"metrics-allow", 1, NULL},
                         {"log-format", 1, NULL},
                         {"audit", 1, NULL},
                         {"audit-keep-days", 1, NULL},
                         {"audit-rotate-mb", 1, NULL},
                         {"audit-sync", 1, NULL},
                         {"retention-interval", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(serve_help, stdout);
        return 0;
    }
    if (a.npos)
        return usage_error("serve takes no argument %s", a.pos[0]);
    const char *listen = optv(&a, "listen");
    if (!listen)
        listen = getenv("RECD_LISTEN");
    if (!listen || !*listen)
        listen = "127.0.0.1:8080";
    unsigned threads = 0;
    if (optv(&a, "threads")) {
        char *end;
        long t = strtol(optv(&a, "threads"), &end, 10);
        if (*end || t < 1 || t > 256)
            return usage_error("--threads %s: want 1 to 256", optv(&a, "threads"));
        threads = (unsigned)t;
    }
    unsigned limit = 60;
    const char *lim = optv(&a, "auth-fail-limit");
    if (!lim)
        lim = getenv("RECD_AUTH_FAIL_LIMIT");
    if (lim && *lim) {
        char *end;
        long t = strtol(lim, &end, 10);
        if (*end || t < 0 || t > 1000000)
            return usage_error("--auth-fail-limit %s: want 0 to 1000000", lim);
        limit = (unsigned)t;
    }
    struct recd_serve_opts so = {
        .data_dir = data_dir(&a),
        .listen = listen,
        .base_url = optv(&a, "base-url"),
        .threads = threads,
        .auth_fail_limit = limit,
        .store = store_of(&a),
    };
    const char *metrics = optv(&a, "metrics");
    if (metrics && strcmp(metrics, "on") != 0 && strcmp(metrics, "off") != 0)
        return usage_error("--metrics %s: want on or off", metrics);
    so.metrics_off = metrics && strcmp(metrics, "off") == 0;
    so.metrics_listen = optv(&a, "metrics-listen");
    if (!so.metrics_listen)
        so.metrics_listen = getenv("RECD_METRICS_LISTEN");
    if (so.metrics_listen && !*so.metrics_listen)
        so.metrics_listen = NULL;
    const char *log_format = optv(&a, "log-format");
    if (!log_format)
        log_format = getenv("RECD_LOG_FORMAT");
    if (log_format && *log_format && strcmp(log_format, "text") != 0 && strcmp(log_format, "json") != 0)
        return usage_error("--log-format %s: want text or json", log_format);
    so.log_json = log_format && strcmp(log_format, "json") == 0;
    const char *audit = optv(&a, "audit");
    if (!audit)
        audit = getenv("RECD_AUDIT");
    if (audit && *audit && strcmp(audit, "on") != 0 && strcmp(audit, "off") != 0)
        return usage_error("--audit %s: want on or off", audit);
    so.audit_off = audit && strcmp(audit, "off") == 0;
    double keep = 365, rotate_mb = 64;
    if (num_opt(&a, "audit-keep-days", 0, 100000, 0, &keep) < 0 ||
        num_opt(&a, "audit-rotate-mb", 0.001, 65536, 1, &rotate_mb) < 0)
        return EXIT_USAGE;
    so.audit_keep_days = (int)keep;
    so.audit_rotate_bytes = (int64_t)(rotate_mb * 1048576.0);
    const char *audit_sync = optv(&a, "audit-sync");
    if (!audit_sync)
        audit_sync = getenv("RECD_AUDIT_SYNC");
    /* An empty $RECD_AUDIT_SYNC is unset; an empty --audit-sync is a mistake. */
    if (audit_sync && (*audit_sync || optv(&a, "audit-sync")) && strcmp(audit_sync, "on") != 0 &&
        strcmp(audit_sync, "off") != 0)
        return usage_error("--audit-sync %s: want on or off", audit_sync);
    so.audit_no_sync = audit_sync && strcmp(audit_sync, "off") == 0;
    double interval = 600;
    if (num_opt(&a, "retention-interval", 1, 86400, 0, &interval) < 0)
        return EXIT_USAGE;
    so.retention_interval_s = (int)interval;
    so.metrics_allow = optv(&a, "metrics-allow");
    if (!so.metrics_allow)
        so.metrics_allow = getenv("RECD_METRICS_ALLOW");
    if (so.metrics_allow && !*so.metrics_allow)
        so.metrics_allow = NULL;
    char key[514];
    int bad = serve_sip_opts(&a, &so);
    if (!bad)
        bad = serve_stt_opts(&a, &so, key, sizeof key);
    if (bad)
        return bad;
    /* The libraries other commands load on first use (core/dl.h): a server loads them all now, so
     * that one missing is found at start (and logged) rather than at the first call that needs it,
     * and no request waits for the loading. */
    if (recd_curl_dl_load() < 0 || recd_pg_dl_load() < 0 || recd_voice_dl_load() < 0 ||
        recd_sphinx_dl_load() < 0)
        return 1;
    int rc = recd_serve(&so);
    memset(key, 0, sizeof key);
    return exit_for(rc);
}

static const char account_help[] =
    "usage: recd account create [--name NAME] [--parent ACSID] [--data DIR]\n"
    "       recd account set ACSID [--media-auth on|off] [--transcribe on|off] [--retention-days N]\n"
    "                        [--data DIR]\n"
    "create prints {\"sid\", \"auth_token\", \"friendly_name\"}; the token is shown only this once.\n"
    "set --media-auth on makes every recording GET of the account need Basic auth.\n"
    "set --transcribe on transcribes every new recording of the account (docs/transcription.md).\n"
    "set --retention-days N: the server deletes the account's recordings older than N days, as\n"
    "DELETE does (0, the default, keeps them forever; docs/operations.md, \"Retention\").\n";

static int cmd_account(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL},       {"name", 1, NULL},       {"parent", 1, NULL},
                         {"media-auth", 1, NULL}, {"transcribe", 1, NULL}, {"retention-days", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 6, &a, pos))
        return EXIT_USAGE;
    if (a.help || a.npos == 0) {
        fputs(account_help, a.help ? stdout : stderr);
        return a.help ? 0 : EXIT_USAGE;
    }
    struct recd_ctx ctx;
    int rc;
    if (strcmp(a.pos[0], "create") == 0) {
        if (a.npos != 1)
            return usage_error("account create takes no argument %s", a.pos[1]);
        if (optv(&a, "media-auth") || optv(&a, "transcribe"))
            return usage_error("%s", "--media-auth, --transcribe and --retention-days go with account set");
        const char *name = optv(&a, "name") ? optv(&a, "name") : "My recd account";
        if (strlen(name) > RECD_NAME_MAX)
            return usage_error("--name is longer than %s bytes", "64");
        const char *parent = optv(&a, "parent");
        if (parent && !recd_sid_valid(parent, strlen(parent), "AC", 1))
            return usage_error("--parent %s is not an account sid", parent);
        if (open_ctx(&a, &ctx) < 0)
            return 1;
        struct recd_account acc;
        char token[33];
        rc = recd_account_create(&ctx, name, parent, &acc, token);
        if (rc == RECD_E_BAD_INPUT)
            fprintf(stderr, "recd: --parent %s: no such top-level account\n", parent ? parent : "");
        else if (rc < 0)
            fprintf(stderr, "recd: cannot create the account\n");
        else {
            struct recd_buf b;
            recd_buf_init(&b, 256);
            recd_buf_printf(&b, "{\"sid\": \"%s\", \"auth_token\": \"%s\", \"friendly_name\": ", acc.sid,
                            token);
            recd_buf_json_str(&b, recd_str_c(acc.friendly_name));
            recd_buf_adds(&b, "}\n");
            fwrite(b.p, 1, b.len, stdout);
            recd_buf_free(&b);
        }
        recd_ctx_close(&ctx);
        return exit_for(rc);
    }
    if (strcmp(a.pos[0], "set") == 0) {
        if (a.npos != 2)
            return usage_error("%s", "account set takes one account sid");
        const char *sid = a.pos[1], *ma = optv(&a, "media-auth"), *tr = optv(&a, "transcribe");
        if (!recd_sid_valid(sid, strlen(sid), "AC", 1))
            return usage_error("%s is not an account sid", sid);
        const char *rd = optv(&a, "retention-days");
        double days = 0;
        if ((!ma && !tr && !rd) || (ma && strcmp(ma, "on") != 0 && strcmp(ma, "off") != 0) ||
            (tr && strcmp(tr, "on") != 0 && strcmp(tr, "off") != 0))
            return usage_error("%s", "account set needs --media-auth on|off, --transcribe on|off and/or "
                                     "--retention-days N");
        if (num_opt(&a, "retention-days", 0, RECD_RETENTION_DAYS_MAX, 0, &days) < 0)
            return EXIT_USAGE;
        if (open_ctx(&a, &ctx) < 0)
            return 1;
        struct recd_store *st = ctx.store;
        int64_t now = recd_now_us();
        /* Every setting given or none. */
        rc = st->ops->begin(st);
        if (rc == 0 && ma)
            rc = st->ops->account_set_media_auth(st, sid, strcmp(ma, "on") == 0, now);
        if (rc == 0 && tr)
            rc = st->ops->account_set_transcribe(st, sid, strcmp(tr, "on") == 0, now);
        if (rc == 0 && rd)
            rc = st->ops->account_set_retention(st, sid, (int)days, now);
        rc = rc == 0 ? st->ops->commit(st) : (st->ops->rollback(st), rc);
        if (rc == RECD_E_NOT_FOUND)
            fprintf(stderr, "recd: no account %s\n", sid);
        else if (rc < 0)
            fprintf(stderr, "recd: cannot update the account\n");
        recd_ctx_close(&ctx);
        return exit_for(rc);
    }
    return usage_error("unknown account command %s", a.pos[0]);
}

static const char key_help[] =
    "usage: recd key create --account ACSID [--name NAME] [--data DIR]\n"
    "Prints {\"sid\": \"SK…\", \"secret\": \"…\"}; the secret is shown only this once.\n";

static int cmd_key(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL}, {"name", 1, NULL}, {"account", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 3, &a, pos))
        return EXIT_USAGE;
    if (a.help || a.npos != 1 || strcmp(a.pos[0], "create") != 0) {
        fputs(key_help, a.help ? stdout : stderr);
        return a.help ? 0 : EXIT_USAGE;
    }
    const char *acc = optv(&a, "account"), *name = optv(&a, "name") ? optv(&a, "name") : "";
    if (!acc || !recd_sid_valid(acc, strlen(acc), "AC", 1))
        return usage_error("%s", "key create needs --account ACSID");
    if (strlen(name) > RECD_NAME_MAX)
        return usage_error("--name is longer than %s bytes", "64");
    struct recd_ctx ctx;
    if (open_ctx(&a, &ctx) < 0)
        return 1;
    struct recd_key k;
    char secret[33];
    int rc = recd_key_create(&ctx, acc, name, &k, secret);
    if (rc == RECD_E_NOT_FOUND)
        fprintf(stderr, "recd: no account %s\n", acc);
    else if (rc < 0)
        fprintf(stderr, "recd: cannot create the key\n");
    else
        printf("{\"sid\": \"%s\", \"secret\": \"%s\"}\n", k.sid, secret);
    recd_ctx_close(&ctx);
    return exit_for(rc);
}

static const char import_help[] =
    "usage: recd import --account ACSID [--call CASID] [--conference CFSID] [--sid RESID]\n"
    "                   [--date-created DATE] [--start-time DATE] [--source SOURCE]\n"
    "                   [--transcription-text TEXT] [--batch N] [--data DIR] FILE.wav...\n"
    "Stores PCM WAV files as recordings and prints each one's JSON, one per line, once committed.\n"
    "DATE is RFC 3339 or RFC 2822. Any bad file or option: exit 2, nothing stored.\n";

struct import_out {
    struct recd_buf b;
    struct recd_render_ctx rc;
};

static int print_recording(void *p, const struct recd_recording *r)
{
    struct import_out *o = p;
    recd_buf_reset(&o->b);
    recd_render_json(&o->b, &recd_res_recording, r, &o->rc);
    recd_buf_addc(&o->b, '\n');
    fwrite(o->b.p, 1, o->b.len, stdout);
    fflush(stdout);
    return 0;
}

static int date_opt(struct args *a, const char *name, int64_t *us)
{
    const char *v = optv(a, name);
    *us = 0;
    if (!v)
        return 0;
    if (recd_time_parse_any(v, strlen(v), us) < 0 || *us <= 0) {
        fprintf(stderr, "recd: --%s %s: want RFC 3339 or RFC 2822\n", name, v);
        return RECD_E_BAD_INPUT;
    }
    return 0;
}

static int cmd_import(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL},       {"account", 1, NULL}, {"call", 1, NULL},
                         {"conference", 1, NULL}, {"sid", 1, NULL},     {"date-created", 1, NULL},
                         {"start-time", 1, NULL}, {"source", 1, NULL},  {"transcription-text", 1, NULL},
                         {"batch", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 10, &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(import_help, stdout);
        return 0;
    }
    struct recd_import_opts io = {
        .account_sid = optv(&a, "account"),
        .call_sid = optv(&a, "call"),
        .conference_sid = optv(&a, "conference"),
        .sid = optv(&a, "sid"),
        .source = optv(&a, "source"),
        .transcription_text = optv(&a, "transcription-text"),
    };
    if (!io.account_sid)
        return usage_error("%s", "import needs --account ACSID");
    if (a.npos == 0)
        return usage_error("%s", "import needs at least one FILE.wav");
    if (date_opt(&a, "date-created", &io.created_us) < 0 || date_opt(&a, "start-time", &io.start_us) < 0)
        return EXIT_USAGE;
    if (optv(&a, "batch")) {
        char *end;
        long n = strtol(optv(&a, "batch"), &end, 10);
        if (*end || n < 1 || n > 10000)
            return usage_error("--batch %s: want 1 to 10000", optv(&a, "batch"));
        io.batch = (int)n;
    }
    struct recd_ctx ctx;
    if (open_ctx(&a, &ctx) < 0)
        return 1;
    struct import_out out;
    recd_buf_init(&out.b, 2048);
    out.rc.base_url = base_url();
    char why[512] = "";
    recd_log_last_error_clear();
    int rc = recd_import(&ctx, &io, a.pos, a.npos, print_recording, &out, why, sizeof why);
    if (rc < 0 && (rc == RECD_E_UNAVAILABLE || rc == RECD_E_IO) && recd_log_last_error()[0])
        fprintf(stderr, "recd: import: %s: %s\n", why[0] ? why : "failed", recd_log_last_error());
    else if (rc < 0)
        fprintf(stderr, "recd: import: %s\n", why[0] ? why : "failed");
    recd_buf_free(&out.b);
    recd_ctx_close(&ctx);
    return exit_for(rc);
}

static const char sign_help[] =
    "usage: recd sign --account ACSID --recording RESID [--ttl SECONDS] [--format wav|mp3] [--data DIR]\n"
    "Prints a signed link to the recording's media, usable without credentials (even with media\n"
    "auth on) until it expires: --ttl defaults to 3600 s, at most 31 days. Signed with the\n"
    "account's auth token; see docs/api.md for the scheme. The URL starts with $RECD_BASE_URL.\n";

static int cmd_sign(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL},
                         {"account", 1, NULL},
                         {"recording", 1, NULL},
                         {"ttl", 1, NULL},
                         {"format", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 5, &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(sign_help, stdout);
        return 0;
    }
    const char *acc = optv(&a, "account"), *rec = optv(&a, "recording");
    const char *fmt = optv(&a, "format") ? optv(&a, "format") : "wav";
    if (a.npos)
        return usage_error("sign takes no argument %s", a.pos[0]);
    if (!acc || !recd_sid_valid(acc, strlen(acc), "AC", 1))
        return usage_error("%s", "sign needs --account ACSID");
    if (!rec || !recd_sid_valid(rec, strlen(rec), "RE", 1))
        return usage_error("%s", "sign needs --recording RESID");
    if (strcmp(fmt, "wav") != 0 && strcmp(fmt, "mp3") != 0)
        return usage_error("--format %s: want wav or mp3", fmt);
    long ttl = RECD_LINK_TTL_DEFAULT;
    if (optv(&a, "ttl")) {
        char *end;
        ttl = strtol(optv(&a, "ttl"), &end, 10);
        if (*end || ttl < 1 || ttl > RECD_SIGN_MAX_TTL)
            return usage_error("--ttl %s: want 1 to 2678400 seconds", optv(&a, "ttl"));
    }
    struct recd_ctx ctx;
    if (open_ctx(&a, &ctx) < 0)
        return 1;
    /* The same link as POST /recd/…/Links: one maker for both (api/recd_links.h). */
    struct recd_link_opts o = {acc, rec, fmt, 0, ttl};
    struct recd_buf url;
    int64_t expires;
    recd_buf_init(&url, 256);
    int rc = recd_link_make(ctx.store, ctx.seal_key, base_url(), &o, recd_now_us() / RECD_US_PER_SEC, &url,
                            &expires);
    if (rc == RECD_E_NOT_FOUND)
        fprintf(stderr, "recd: no recording %s of account %s\n", rec, acc);
    else if (rc == RECD_E_INTERNAL)
        fprintf(stderr, "recd: cannot unseal the account's token (is this the data folder's seal.key?)\n");
    else if (rc < 0)
        fprintf(stderr, "recd: cannot read the store\n");
    else
        printf("%s\n", url.p);
    recd_buf_free(&url);
    recd_ctx_close(&ctx);
    return exit_for(rc);
}

static const char fsck_help[] =
    "usage: recd fsck [--repair] [--data DIR]\n"
    "Checks that metadata and media agree. Leftovers of interrupted writes (orphan or temporary\n"
    "files) are reported, and removed with --repair; they do not fail the check. Exits 1 only when\n"
    "acknowledged data is damaged (a recording whose media is missing or altered).\n";

static int cmd_fsck(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL}, {"repair", 0, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 2, &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(fsck_help, stdout);
        return 0;
    }
    if (a.npos)
        return usage_error("fsck takes no argument %s", a.pos[0]);
    struct recd_ctx ctx;
    if (open_ctx(&a, &ctx) < 0)
        return 1;
    struct recd_fsck_report rep;
    recd_log_last_error_clear();
    int rc = recd_fsck(&ctx, optv(&a, "repair") != NULL, stdout, &rep);
    recd_ctx_close(&ctx);
    if (rc < 0) {
        fprintf(stderr, "recd: fsck could not complete%s%s\n", recd_log_last_error()[0] ? ": " : "",
                recd_log_last_error());
        return 1;
    }
    printf(
        "fsck: %lld recordings checked, %lld damaged, %lld orphan media, %lld leftovers, %lld removed: %s\n",
        (long long)rep.recordings, (long long)rep.damaged, (long long)rep.orphans, (long long)rep.leftovers,
        (long long)rep.repaired, rep.damaged ? "DAMAGED" : "clean");
    return rep.damaged ? 1 : 0;
}

static const char number_help[] =
    "usage: recd number add --account ACSID --number NUMBER --voice-url URL [--voice-method POST|GET]\n"
    "                       [--voice-fallback-url URL] [--voice-fallback-method POST|GET]\n"
    "                       [--status-callback URL] [--status-callback-method POST|GET] [--name NAME]\n"
    "       recd number list [--account ACSID]\n"
    "       recd number remove PNSID\n"
    "       (each with [--data DIR])\n"
    "A number answers SIP calls: an INVITE for NUMBER (its Request-URI user part, else its To) runs\n"
    "the TwiML at the voice URL. add prints the number's JSON (sid PN...); list prints one a line.\n"
    "URLs must be absolute http or https, at most 1024 bytes; a number is taken once.\n";

/* Prints a number as one line of JSON. */
static void print_number(const struct recd_number *n)
{
    struct recd_buf b;
    struct recd_render_ctx rc = {base_url()};
    recd_buf_init(&b, 1024);
    recd_render_json(&b, &recd_res_number, n, &rc);
    recd_buf_addc(&b, '\n');
    fwrite(b.p, 1, b.len, stdout);
    recd_buf_free(&b);
}

static int print_number_cb(void *ctx, const struct recd_number *n)
{
    (void)ctx;
    print_number(n);
    return 0;
}

/* `recd number add`: every option checked before the data folder is opened. */
static int number_add(struct args *a)
{
    struct recd_ctx ctx;
    int rc;
    const char *acc = optv(a, "account");
    if (a->npos != 1)
        return usage_error("number add takes no argument %s", a->pos[1]);
    if (!acc || !optv(a, "number") || !optv(a, "voice-url"))
        return usage_error("%s", "number add needs --account, --number and --voice-url");
    struct recd_number_opts o = {acc,
                                 optv(a, "number"),
                                 optv(a, "name"),
                                 optv(a, "voice-url"),
                                 optv(a, "voice-method"),
                                 optv(a, "voice-fallback-url"),
                                 optv(a, "voice-fallback-method"),
                                 optv(a, "status-callback"),
                                 optv(a, "status-callback-method")};
    /* Checked before the data folder is touched, so bad input changes nothing. */
    char why[200];
    struct recd_number n;
    if (recd_number_opts_check(&o, why, sizeof why) < 0)
        return usage_error("%s", why);
    if (open_ctx(a, &ctx) < 0)
        return 1;
    rc = recd_number_add(&ctx, &o, &n, why, sizeof why);
    if (rc == 0)
        print_number(&n);
    else if (why[0])
        fprintf(stderr, "recd: %s\n", why);
    else
        fprintf(stderr, "recd: cannot store the number\n");
    recd_ctx_close(&ctx);
    return exit_for(rc);
}

static int cmd_number(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL},
                         {"account", 1, NULL},
                         {"number", 1, NULL},
                         {"name", 1, NULL},
                         {"voice-url", 1, NULL},
                         {"voice-method", 1, NULL},
                         {"voice-fallback-url", 1, NULL},
                         {"voice-fallback-method", 1, NULL},
                         {"status-callback", 1, NULL},
                         {"status-callback-method", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &a, pos))
        return EXIT_USAGE;
    if (a.help || a.npos == 0) {
        fputs(number_help, a.help ? stdout : stderr);
        return a.help ? 0 : EXIT_USAGE;
    }
    struct recd_ctx ctx;
    int rc;
    const char *acc = optv(&a, "account");
    if (strcmp(a.pos[0], "add") == 0)
        return number_add(&a);
    if (strcmp(a.pos[0], "list") == 0) {
        if (a.npos != 1)
            return usage_error("number list takes no argument %s", a.pos[1]);
        if (acc && !recd_sid_valid(acc, strlen(acc), "AC", 1))
            return usage_error("--account %s is not an account sid", acc);
        if (open_ctx(&a, &ctx) < 0)
            return 1;
        rc = ctx.store->ops->number_list(ctx.store, acc, print_number_cb, NULL);
        if (rc < 0)
            fprintf(stderr, "recd: cannot read the store\n");
        recd_ctx_close(&ctx);
        return exit_for(rc);
    }
    if (strcmp(a.pos[0], "remove") == 0) {
        if (a.npos != 2)
            return usage_error("%s", "number remove takes one number sid");
        const char *sid = a.pos[1];
        if (!recd_sid_valid(sid, strlen(sid), "PN", 1))
            return usage_error("%s is not a number sid", sid);
        if (open_ctx(&a, &ctx) < 0)
            return 1;
        rc = ctx.store->ops->number_delete(ctx.store, sid);
        if (rc == RECD_E_NOT_FOUND)
            fprintf(stderr, "recd: no number %s\n", sid);
        else if (rc < 0)
            fprintf(stderr, "recd: cannot remove the number\n");
        recd_ctx_close(&ctx);
        return exit_for(rc);
    }
    return usage_error("unknown number command %s", a.pos[0]);
}

static const char transcribe_help[] =
    "usage: recd transcribe [--callback URL] [--callback-method POST|GET] [--wait] [--data DIR] RESID...\n"
    "Queues a transcription of each recording (a Transcription TR... \"in-progress\", made by the\n"
    "workers of a running `recd serve`) and prints each one's JSON, one per line. --callback: the\n"
    "transcribeCallback URL, sent Twilio's parameters when it ends. --wait: waits until every one\n"
    "has ended, showing progress on stderr, then prints them again as they ended (exit 1 if any\n"
    "failed). A recording that does not exist or has no media: exit 2, nothing queued.\n";

struct tr_item {
    char sid[RECD_SID_LEN + 1];
    int done;
};

static void print_transcription(struct recd_store *st, const char *sid, struct recd_buf *b,
                                struct recd_render_ctx *rc)
{
    struct recd_transcription t;
    struct recd_buf text;
    recd_buf_init(&text, 0);
    if (st->ops->transcription_get(st, sid, &t, &text) == 0) {
        recd_buf_reset(b);
        recd_render_json(b, &recd_res_transcription, &t, rc);
        recd_buf_addc(b, '\n');
        fwrite(b->p, 1, b->len, stdout);
        fflush(stdout);
    }
    recd_buf_free(&text);
}

/* Polls the store until every transcription has ended, drawing a bar on stderr. Returns how many
 * failed. */
static int wait_all(struct recd_store *st, struct tr_item *items, int n)
{
    int done = 0, failed = 0, last = -1;
    int64_t since = recd_now_us(), hinted = 0;
    while (done < n) {
        for (int i = 0; i < n; i++) {
            struct recd_transcription_job j;
            if (items[i].done)
                continue;
            int rc = st->ops->job_get(st, items[i].sid, &j);
            /* Gone: its recording or the transcription was deleted meanwhile. */
            if (rc == RECD_E_NOT_FOUND ||
                (rc == 0 && (strcmp(j.state, RECD_JOB_DONE) == 0 || strcmp(j.state, RECD_JOB_FAILED) == 0))) {
                items[i].done = 1;
                done++;
                failed += rc != 0 || strcmp(j.state, RECD_JOB_FAILED) == 0;
            }
        }
        if (done != last) {
            int width = 30, fill = n ? done * width / n : width;
            fprintf(stderr, "\r[%.*s%*s] %d/%d done, %d failed", fill, "##############################",
                    width - fill, "", done, n, failed);
            fflush(stderr);
            last = done;
            since = recd_now_us();
        }
        if (done < n && !hinted && recd_now_us() - since > 15000000) {
            fprintf(stderr,
                    "\nrecd: nothing has moved for 15 s: is `recd serve` running on this data folder?\n");
            hinted = 1;
        }
        if (done < n) {
            struct timespec ts = {0, 200000000};
            nanosleep(&ts, NULL);
        }
    }
    fputc('\n', stderr);
    return failed;
}

static int cmd_transcribe(int argc, char **argv)
{
    struct opt opts[] = {
        {"data", 1, NULL}, {"callback", 1, NULL}, {"callback-method", 1, NULL}, {"wait", 0, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 4, &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(transcribe_help, stdout);
        return 0;
    }
    if (a.npos == 0)
        return usage_error("%s", "transcribe needs at least one recording sid");
    const char *cb = optv(&a, "callback"), *method = optv(&a, "callback-method");
    if (cb && recd_url_check(cb, strlen(cb)) < 0)
        return usage_error("--callback %s: want an absolute http or https URL", cb);
    if (method && strcasecmp(method, "GET") != 0 && strcasecmp(method, "POST") != 0)
        return usage_error("--callback-method %s: want GET or POST", method);
    for (int i = 0; i < a.npos; i++)
        if (!recd_sid_valid(a.pos[i], strlen(a.pos[i]), "RE", 1))
            return usage_error("%s is not a recording sid", a.pos[i]);
    struct recd_ctx ctx;
    if (open_ctx(&a, &ctx) < 0)
        return 1;
    struct recd_store *st = ctx.store;
    struct tr_item *items = calloc((size_t)a.npos, sizeof *items);
    struct recd_buf b;
    struct recd_render_ctx rctx = {.base_url = base_url()};
    recd_buf_init(&b, 1024);
    int rc = items ? st->ops->begin(st) : RECD_E_INTERNAL;
    /* Every recording is checked and queued in one transaction: all of them or none. */
    for (int i = 0; i < a.npos && rc == 0; i++) {
        struct recd_recording r;
        struct recd_transcribe_req req = {cb, method};
        rc = st->ops->recording_get(st, a.pos[i], &r);
        if (rc == 0 && !recd_recording_has_media(&r))
            rc = RECD_E_NOT_FOUND;
        if (rc == RECD_E_NOT_FOUND)
            fprintf(stderr, "recd: transcribe: no recording %s with media\n", a.pos[i]);
        if (rc == 0)
            rc = recd_transcribe_enqueue(st, &r, &req, recd_now_us(), items[i].sid);
    }
    if (items)
        rc = rc == 0 ? st->ops->commit(st) : (st->ops->rollback(st), rc);
    if (rc < 0 && rc != RECD_E_NOT_FOUND)
        fprintf(stderr, "recd: transcribe: cannot queue the transcriptions\n");
    int failed = 0;
    if (rc == 0) {
        for (int i = 0; i < a.npos; i++)
            print_transcription(st, items[i].sid, &b, &rctx);
        if (optv(&a, "wait")) {
            failed = wait_all(st, items, a.npos);
            for (int i = 0; i < a.npos; i++)
                print_transcription(st, items[i].sid, &b, &rctx);
        }
    }
    recd_buf_free(&b);
    free(items);
    recd_ctx_close(&ctx);
    return rc < 0 ? exit_for(rc) : failed ? 1 : 0;
}

static const char mirror_help[] =
    "usage: recd mirror --from BASEURL --account ACSID --credentials-file FILE [--into ACSID]\n"
    "                   [--since DATE] [--until DATE] [--concurrency N] [--page-size N] [--data DIR]\n"
    "Copies the account's recordings, their media (every channel) and transcriptions from a\n"
    "Twilio-compatible API (https://api.twilio.com, another recd) into this store, keeping sids and\n"
    "dates. FILE holds username=AC… or SK… and password=… lines (mode 600; docs/mirror.md).\n"
    "--into: the account here (default: the same sid). --since/--until: DateCreated bounds\n"
    "(YYYY-MM-DD or RFC 3339). --concurrency: requests at once (default 4, at most 64).\n"
    "Safe to run again: what is here with the same bytes is skipped. Exit 0 when every recording was\n"
    "copied or skipped, 1 when some failed, 2 on bad input.\n";

static int cmd_mirror(int argc, char **argv)
{
    struct opt opts[] = {
        {"data", 1, NULL},     {"from", 1, NULL},  {"account", 1, NULL}, {"credentials-file", 1, NULL},
        {"into", 1, NULL},     {"since", 1, NULL}, {"until", 1, NULL},   {"concurrency", 1, NULL},
        {"page-size", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(mirror_help, stdout);
        return 0;
    }
    if (a.npos)
        return usage_error("mirror takes no argument %s", a.pos[0]);
    const char *from = optv(&a, "from"), *acc = optv(&a, "account"), *into = optv(&a, "into");
    const char *cred = optv(&a, "credentials-file"), *since = optv(&a, "since"), *until = optv(&a, "until");
    if (!from || recd_url_check(from, strlen(from)) < 0 || strpbrk(from, "?#"))
        return usage_error("%s", "mirror needs --from BASEURL: http(s)://host[:port][/prefix], no query");
    if (!acc || !recd_sid_valid(acc, strlen(acc), "AC", 1))
        return usage_error("%s", "mirror needs --account ACSID (AC and 32 lowercase hex digits)");
    if (into && !recd_sid_valid(into, strlen(into), "AC", 1))
        return usage_error("--into %s is not an account sid", into);
    if (!cred)
        return usage_error("%s", "mirror needs --credentials-file FILE");
    int64_t since_us = INT64_MIN, until_us = INT64_MAX;
    int day;
    if (since && recd_time_parse_filter(since, strlen(since), &since_us, &day) < 0)
        return usage_error("--since %s: want YYYY-MM-DD or RFC 3339", since);
    if (until && recd_time_parse_filter(until, strlen(until), &until_us, &day) < 0)
        return usage_error("--until %s: want YYYY-MM-DD or RFC 3339", until);
    if (until && day)
        until_us += RECD_US_PER_DAY - 1; /* DateCreated<=D takes all of day D */
    if (since_us > until_us)
        return usage_error("--since %s is after --until", since);
    double conc = 4, page = 0;
    if (num_opt(&a, "concurrency", 1, 64, 0, &conc) < 0 || num_opt(&a, "page-size", 1, 1000, 0, &page) < 0)
        return EXIT_USAGE;
    char user[64], pass[256], why[600];
    if (recd_mirror_credentials_read(cred, user, sizeof user, pass, sizeof pass, why, sizeof why) < 0) {
        fprintf(stderr, "recd: mirror: %s\n", why);
        return EXIT_USAGE;
    }
    int bar = isatty(2);
    /* libcurl is told not to touch signals (it runs on several threads): a peer that closes
     * mid-request must be an error on that request, not the end of the process. */
    signal(SIGPIPE, SIG_IGN);
    struct recd_mirror_opts mo = {
        .data_dir = data_dir(&a),
        .store = store_of(&a),
        .base_url = from,
        .account_sid = acc,
        .into_sid = into,
        .user = user,
        .pass = pass,
        .since = since,
        .until = until,
        .concurrency = (int)conc,
        .page_size = (int)page,
        .bar = bar,
        .quiet_copies = bar && isatty(1),
        .out = stdout,
        .err = stderr,
    };
    struct recd_mirror_stats st;
    int64_t t0 = recd_now_us();
    why[0] = '\0';
    int rc = recd_mirror_run(&mo, &st, why, sizeof why);
    memset(pass, 0, sizeof pass);
    double secs = (double)(recd_now_us() - t0) / 1e6;
    if (rc == RECD_E_BAD_INPUT) {
        fprintf(stderr, "recd: mirror: %s\n", why);
        return EXIT_USAGE;
    }
    printf("mirror: %lld listed, %lld copied, %lld skipped, %lld failed, %lld throttled; %.1f MB in %.1f s "
           "(%.1f recordings/s)\n",
           (long long)st.listed, (long long)st.copied, (long long)st.skipped, (long long)st.failed,
           (long long)st.throttled, (double)st.bytes / 1e6, secs,
           secs > 0 ? (double)(st.copied + st.skipped) / secs : 0.0);
    fflush(stdout);
    if (rc < 0) {
        fprintf(stderr, "recd: mirror: %s; run it again to go on\n", why[0] ? why : "failed");
        return 1;
    }
    return st.failed ? 1 : 0;
}

static const char delete_help[] =
    "usage: recd delete --account ACSID [--before DATE] [--call CASID] (--dry-run | --yes)\n"
    "                   [--audit on|off] [--data DIR]\n"
    "Deletes the account's recordings created before DATE (RFC 3339 or RFC 2822; default: any\n"
    "time) of call CASID (default: any call), exactly as DELETE does: the media and everything\n"
    "derived from it go, the row stays as \"deleted\" for 40 days (docs/operations.md).\n"
    "Recordings still being made are left alone. --dry-run prints how many would go and changes\n"
    "nothing; --yes deletes them and prints how many went (on a terminal, with its progress on\n"
    "stderr). Each delete is recorded in the audit record unless --audit off.\n";

/* What `recd delete --yes` keeps while it runs: where its audit records go (NULL: --audit off),
 * and its progress line on a terminal. */
struct delete_run {
    struct recd_audit_buf *audit;
    int bar;
    int64_t done, total, drawn_us;
};

/* After each recording `recd delete` removed: its audit record, and the progress line at most
 * five times a second (a bulk delete of many recordings takes a while). */
static void deleted_one(void *arg, const struct recd_recording *r)
{
    struct delete_run *d = arg;
    int64_t now = recd_now_us();
    if (d->audit) {
        struct recd_audit_entry e = {.time_us = now,
                                     .event = RECD_AUDIT_DELETE,
                                     .cred = RECD_AUDIT_CLI,
                                     .method = "DELETE",
                                     .status = 204};
        memcpy(e.account_sid, r->account_sid, sizeof e.account_sid);
        memcpy(e.recording_sid, r->sid, sizeof e.recording_sid);
        snprintf(e.path, sizeof e.path, "recd delete");
        recd_audit_add(d->audit, &e);
    }
    d->done++;
    if (d->bar && (now - d->drawn_us >= 200000 || d->done == d->total)) {
        d->drawn_us = now;
        fprintf(stderr, "\rdelete: %lld/%lld recordings", (long long)d->done, (long long)d->total);
        fflush(stderr);
    }
}

static int cmd_delete(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL},    {"account", 1, NULL}, {"before", 1, NULL}, {"call", 1, NULL},
                         {"dry-run", 0, NULL}, {"yes", 0, NULL},     {"audit", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(delete_help, stdout);
        return 0;
    }
    const char *acc = optv(&a, "account"), *call = optv(&a, "call"), *audit = optv(&a, "audit");
    int dry = optv(&a, "dry-run") != NULL, yes = optv(&a, "yes") != NULL;
    if (a.npos)
        return usage_error("delete takes no argument %s", a.pos[0]);
    if (!acc || !recd_sid_valid(acc, strlen(acc), "AC", 1))
        return usage_error("%s", "delete needs --account ACSID");
    if (call && !recd_sid_valid(call, strlen(call), "CA", 1))
        return usage_error("--call %s is not a call sid", call);
    if (dry == yes)
        return usage_error("%s", "delete needs --dry-run (count only) or --yes (delete)");
    if (audit && strcmp(audit, "on") != 0 && strcmp(audit, "off") != 0)
        return usage_error("--audit %s: want on or off", audit);
    int64_t before = 0;
    if (date_opt(&a, "before", &before) < 0)
        return EXIT_USAGE;
    struct recd_expiry_query q = {
        .account_sid = acc, .call_sid = call, .before_us = before ? before : INT64_MAX};
    struct recd_ctx ctx;
    if (open_ctx(&a, &ctx) < 0)
        return 1;
    struct recd_account account;
    int64_t n = 0;
    int rc = ctx.store->ops->account_get(ctx.store, acc, &account);
    if (rc == RECD_E_NOT_FOUND) {
        fprintf(stderr, "recd: delete: no account %s\n", acc);
        recd_ctx_close(&ctx);
        return EXIT_USAGE;
    }
    if (rc == 0 && dry) {
        rc = ctx.store->ops->recording_expired_count(ctx.store, &q, &n);
        if (rc == 0)
            printf("%lld recordings would be deleted (dry run)\n", (long long)n);
    } else if (rc == 0) {
        struct recd_audit *log = NULL;
        struct recd_audit_buf *buf = NULL;
        int audit_failed = 0;
        /* Nothing is deleted unless its deletes can be recorded. */
        if (!audit || strcmp(audit, "on") == 0) {
            struct recd_audit_opts ao = {.data_dir = data_dir(&a)};
            if ((rc = recd_audit_open(&ao, &log)) == 0 && !(buf = recd_audit_buf_new(log)))
                rc = RECD_E_INTERNAL;
            if (rc < 0) {
                fprintf(stderr, "recd: delete: cannot open the audit record in %s/audit; nothing deleted\n",
                        data_dir(&a));
                audit_failed = 1;
            }
        }
        struct delete_run d = {.audit = buf, .bar = isatty(2)};
        /* The total, for the progress line; recordings that arrive meanwhile may add to it. */
        if (rc == 0 && d.bar && ctx.store->ops->recording_expired_count(ctx.store, &q, &d.total) < 0)
            d.bar = 0;
        if (rc == 0)
            rc = recd_expiry_run(&ctx, &q, &n, deleted_one, &d);
        if (d.bar && d.done)
            fputc('\n', stderr);
        recd_audit_buf_free(buf);
        recd_audit_close(log);
        if (rc == 0 || n > 0)
            printf("%lld recordings deleted\n", (long long)n);
        if (rc < 0 && !audit_failed)
            fprintf(stderr, "recd: delete: failed (%s)%s\n", recd_err_name(rc),
                    n > 0 ? "; run it again to delete the rest" : "");
    } else if (rc < 0) {
        fprintf(stderr, "recd: delete: failed (%s)\n", recd_err_name(rc));
    }
    recd_ctx_close(&ctx);
    return rc < 0 ? 1 : 0;
}

static const char audit_help[] =
    "usage: recd audit [--account ACSID] [--since DATE] [--data DIR]\n"
    "Prints the audit record (docs/operations.md, \"Audit\"): every media fetch, delete and credential\n"
    "checked, as JSON lines, oldest file first; --account: only those of that account; --since: only\n"
    "those at or after DATE (YYYY-MM-DD, RFC 3339 or RFC 2822).\n";

static int cmd_audit(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL}, {"account", 1, NULL}, {"since", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(audit_help, stdout);
        return 0;
    }
    if (a.npos)
        return usage_error("audit takes no argument %s", a.pos[0]);
    const char *acc = optv(&a, "account"), *since = optv(&a, "since");
    if (acc && !recd_sid_valid(acc, strlen(acc), "AC", 1))
        return usage_error("--account %s is not an account sid", acc);
    int64_t since_us = INT64_MIN;
    int is_day;
    if (since && recd_time_parse_filter(since, strlen(since), &since_us, &is_day) < 0 &&
        recd_time_parse_any(since, strlen(since), &since_us) < 0)
        return usage_error("--since %s: want YYYY-MM-DD, RFC 3339 or RFC 2822", since);
    int64_t skipped = 0;
    int rc = recd_audit_print(data_dir(&a), acc, since_us, stdout, &skipped);
    fflush(stdout);
    if (skipped)
        fprintf(stderr, "recd: audit: %lld lines were not records (cut by a crash?) and were skipped\n",
                (long long)skipped);
    if (rc < 0) {
        fprintf(stderr, "recd: audit: cannot read %s/audit\n", data_dir(&a));
        return 1;
    }
    return 0;
}

static const char backup_help[] =
    "usage: recd backup --to DIR [--copy] [--data DIR]\n"
    "Backs up a data folder while the server runs: a consistent snapshot of the store, the media of\n"
    "every recording in it (hard-linked where DIR is on the same file system, copied otherwise; with\n"
    "--copy, always copied), seal.key, and DIR/manifest.jsonl (every file's size and SHA-256), written\n"
    "last. DIR must be absent or empty. With PostgreSQL or S3, use their own tools (docs/operations.md).\n";

static int cmd_backup(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL}, {"to", 1, NULL}, {"copy", 0, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 3, &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(backup_help, stdout);
        return 0;
    }
    if (a.npos)
        return usage_error("backup takes no argument %s", a.pos[0]);
    const char *to = optv(&a, "to");
    if (!to || !*to)
        return usage_error("%s", "backup needs --to DIR");
    if (a.media)
        return usage_error("%s",
                           "backup: media is in S3: keep it safe with bucket versioning or replication; "
                           "back the store up with its own tools (docs/operations.md)");
    struct recd_backup_opts bo = {.data_dir = data_dir(&a),
                                  .store = store_of(&a),
                                  .to = to,
                                  .copy = optv(&a, "copy") != NULL,
                                  .progress = isatty(2) ? stderr : NULL};
    struct recd_backup_stats st;
    char why[600];
    int64_t t0 = recd_now_us();
    int rc = recd_backup_run(&bo, &st, why, sizeof why);
    if (rc == RECD_E_BAD_INPUT) {
        fprintf(stderr, "recd: %s\n", why);
        return EXIT_USAGE;
    }
    if (rc < 0) {
        fprintf(stderr, "recd: backup failed: %s; %s has no manifest and is not a backup\n",
                why[0] ? why : recd_err_name(rc), to);
        return 1;
    }
    printf("backup: %lld recordings, %lld files, %.1f MB (%lld linked, %lld copied), schema %lld, "
           "%lld deleted meanwhile, %lld damaged; %.1f s: %s\n",
           (long long)st.recordings, (long long)st.files, (double)st.bytes / 1e6, (long long)st.linked,
           (long long)st.copied, (long long)st.schema_version, (long long)st.deleted, (long long)st.damaged,
           (double)(recd_now_us() - t0) / 1e6,
           st.damaged ? "DAMAGED (as in the data folder; see recd fsck)" : "ok");
    return st.damaged ? 1 : 0;
}

static const char restore_help[] =
    "usage: recd restore --from DIR --data NEWDIR\n"
    "Restores a backup made by recd backup into NEWDIR, which must be absent or empty: checks every\n"
    "file of DIR against its manifest (an unfinished or altered backup is refused, nothing written),\n"
    "copies them, checks the copies, and runs fsck on NEWDIR.\n";

static int cmd_restore(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL}, {"from", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 2, &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(restore_help, stdout);
        return 0;
    }
    if (a.npos)
        return usage_error("restore takes no argument %s", a.pos[0]);
    const char *from = optv(&a, "from"), *data = optv(&a, "data");
    if (!from || !*from)
        return usage_error("%s", "restore needs --from DIR");
    /* Named, never taken from $RECD_DATA: a restore into the wrong folder must not happen by default. */
    if (!data || !*data)
        return usage_error("%s", "restore needs --data NEWDIR (a new or empty folder)");
    if (a.media || store_of(&a))
        return usage_error("%s", "restore: a backup restores a data folder with its own store and media; "
                                 "--store and --media do not apply");
    struct recd_restore_opts ro = {
        .from = from, .data_dir = data, .progress = isatty(2) ? stderr : NULL, .out = stdout};
    struct recd_restore_stats st;
    char why[700];
    int rc = recd_restore_run(&ro, &st, why, sizeof why);
    if (rc == RECD_E_BAD_INPUT) {
        fprintf(stderr, "recd: %s\n", why);
        return EXIT_USAGE;
    }
    if (rc < 0) {
        fprintf(stderr, "recd: restore refused: %s\n", why[0] ? why : recd_err_name(rc));
        return 1;
    }
    printf("restore: %lld files, %.1f MB into %s; fsck: %lld recordings checked, %lld damaged: %s\n",
           (long long)st.files, (double)st.bytes / 1e6, data, (long long)st.recordings, (long long)st.damaged,
           st.damaged ? "DAMAGED" : "clean");
    return st.damaged ? 1 : 0;
}

static const char migrate_help[] =
    "usage: recd migrate [--to-store postgres://…] [--to-media s3://BUCKET[/PREFIX]?endpoint=URL&region=R]\n"
    "                    [--to-s3-credentials FILE] [--batch N] [--jobs J] [--data DIR] [--store FILE]\n"
    "Copies an embedded data folder (its recd.db, or --store FILE, and its media/) to a PostgreSQL\n"
    "store and/or an S3 bucket (docs/scale-out.md): every table, deleted recordings' tombstones\n"
    "included, then every media object (WAVs and the files derived from them), each read back and\n"
    "checked (size and SHA-256). Nothing else may use the folder meanwhile: stop recd serve first.\n"
    "Resumable: run it again after an interruption and it goes on (DATA/migrate.journal); nothing\n"
    "is copied twice. A target that is not empty is refused unless it is this folder's earlier run.\n"
    "Bucket credentials: --to-s3-credentials FILE, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.\n"
    "--batch: rows per transaction (default 500); --jobs: objects copied at once (default 4).\n"
    "Exit 0 done, 2 cannot start (one line), 1 failed.\n";

static int cmd_migrate(int argc, char **argv)
{
    struct opt opts[] = {{"data", 1, NULL},     {"to-store", 1, NULL},
                         {"to-media", 1, NULL}, {"to-s3-credentials", 1, NULL},
                         {"batch", 1, NULL},    {"jobs", 1, NULL}};
    char *pos[argc + 1];
    struct args a;
    if (parse_args(argc, argv, opts, 6, &a, pos))
        return EXIT_USAGE;
    if (a.help) {
        fputs(migrate_help, stdout);
        return 0;
    }
    if (a.npos)
        return usage_error("migrate takes no argument %s", a.pos[0]);
    const char *to_store = optv(&a, "to-store"), *to_media = optv(&a, "to-media");
    const char *src = store_of(&a);
    if (!to_store && !to_media)
        return usage_error("%s", "migrate needs --to-store postgres://… and/or --to-media s3://…");
    if (to_store && !recd_store_is_pg(to_store))
        return usage_error("%s", "--to-store: want postgres://… (or postgresql://…)");
    if (to_media && !recd_s3_is_location(to_media))
        return usage_error("%s", "--to-media: want s3://BUCKET[/PREFIX]?endpoint=URL&region=R");
    if (src && recd_store_is_pg(src))
        return usage_error("%s", "migrate moves an embedded data folder: --store must be its SQLite file");
    if (recd_ctx_media_is_s3())
        return usage_error(
            "%s", "migrate moves an embedded data folder: its media are its own media/ (no --media)");
    double batch = 0, jobs = 0;
    if (num_opt(&a, "batch", 1, 2000, 0, &batch) < 0 || num_opt(&a, "jobs", 1, 64, 0, &jobs) < 0)
        return EXIT_USAGE;
    struct recd_migrate_opts mo = {
        .data_dir = data_dir(&a),
        .store = src,
        .to_store = to_store,
        .to_media = to_media,
        .credentials_file = optv(&a, "to-s3-credentials"),
        .batch = (int)batch,
        .jobs = (int)jobs,
        .bar = isatty(2),
        .err = stderr,
    };
    struct recd_migrate_stats st;
    char why[1024];
    signal(SIGPIPE, SIG_IGN);
    int64_t t0 = recd_now_us();
    int rc = recd_migrate_run(&mo, &st, why, sizeof why);
    double secs = (double)(recd_now_us() - t0) / 1e6;
    if (rc == RECD_E_BAD_INPUT) {
        fprintf(stderr, "recd: migrate: %s\n", why);
        return EXIT_USAGE;
    }
    printf("migrate: %lld rows copied (%lld there before) in %d tables; %lld objects copied and checked, "
           "%lld found checked in place, %lld done before; %.1f MB in %.1f s; %lld orphan files left: %s\n",
           (long long)st.rows, (long long)st.rows_before, st.tables, (long long)st.objects,
           (long long)st.objects_found, (long long)st.objects_before, (double)st.bytes / 1e6, secs,
           (long long)st.orphans, rc == 0 ? "done" : "FAILED");
    fflush(stdout);
    if (rc < 0) {
        fprintf(stderr, "recd: migrate: %s; run it again to go on\n", why[0] ? why : "failed");
        return 1;
    }
    return 0;
}

static const char main_help[] =
    "usage: recd COMMAND [OPTIONS]\n"
    "A Twilio-compatible call-recordings service.\n\n"
    "commands:\n"
    "  serve     serve the REST API\n"
    "  account   create an account, or set its media auth, transcription or retention\n"
    "  key       create an API key\n"
    "  import    store WAV files as recordings\n"
    "  sign      print a signed, expiring link to a recording's media\n"
    "  number    add, list or remove the numbers that answer SIP calls\n"
    "  transcribe  queue transcriptions of recordings (and --wait for them)\n"
    "  mirror    copy recordings from a Twilio-compatible API into this store\n"
    "  migrate   move this data folder to PostgreSQL and/or an S3 bucket\n"
    "  fsck      check (and --repair) the data folder\n"
    "  backup    back up a data folder while it serves\n"
    "  restore   restore a backup into a new data folder\n"
    "  delete    delete an account's recordings by date or call (--dry-run first)\n"
    "  audit     print the audit record of media fetches, deletes and credentials\n\n"
    "Every command takes --data DIR (default $RECD_DATA or ./data) and --help, and --store URL\n"
    "(default $RECD_STORE): keep the metadata in PostgreSQL (postgres://…) rather than in the data\n"
    "folder's recd.db; and --media s3://BUCKET[/PREFIX]?endpoint=URL&region=R (default $RECD_MEDIA):\n"
    "keep the media in that bucket rather than in the data folder, with credentials from\n"
    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or --s3-credentials FILE (docs/scale-out.md).\n"
    "Exit status: 0 success, 2 bad usage or input (nothing changed), 1 other failure.\n";

int recd_cli_main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"serve", cmd_serve},     {"account", cmd_account},
                {"key", cmd_key},         {"import", cmd_import},
                {"sign", cmd_sign},       {"fsck", cmd_fsck},
                {"number", cmd_number},   {"transcribe", cmd_transcribe},
                {"mirror", cmd_mirror},   {"backup", cmd_backup},
                {"restore", cmd_restore}, {"delete", cmd_delete},
                {"audit", cmd_audit},     {"migrate", cmd_migrate}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(main_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *debug = getenv("RECD_DEBUG");
    if (strcmp(argv[1], "serve") != 0 && !(debug && *debug && strcmp(debug, "0") != 0))
        recd_log_quiet(2);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 2, argv + 2);
    return usage_error("unknown command %s", argv[1]);
}
