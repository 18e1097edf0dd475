#include "stt/sphinx_dl.h"
#include "core/dl.h"

#include <pocketsphinx.h>
#include <stdarg.h>

/*
 * PocketSphinx and sphinxbase on first use (core/dl.h): only the embedded STT engine uses them,
 * and they bring LAPACK, BLAS and the Fortran runtime into a process. Every function recd calls
 * is listed once here; one that is not fails at link time.
 */
#define PS_FNS(X, V)                                                                                         \
    X(arg_t const *, ps_args, (void), ())                                                                    \
    X(ps_decoder_t *, ps_init, (cmd_ln_t * cfg), (cfg))                                                      \
    X(int, ps_free, (ps_decoder_t * ps), (ps))                                                               \
    X(int, ps_start_stream, (ps_decoder_t * ps), (ps))                                                       \
    X(int, ps_start_utt, (ps_decoder_t * ps), (ps))                                                          \
    X(int, ps_end_utt, (ps_decoder_t * ps), (ps))                                                            \
    X(int, ps_process_raw, (ps_decoder_t * ps, int16 const *data, size_t n, int no_search, int full_utt),    \
      (ps, data, n, no_search, full_utt))                                                                    \
    X(char const *, ps_get_hyp, (ps_decoder_t * ps, int32 * best), (ps, best))                               \
    X(int32, ps_get_prob, (ps_decoder_t * ps), (ps))                                                         \
    X(uint8, ps_get_in_speech, (ps_decoder_t * ps), (ps))                                                    \
    X(logmath_t *, ps_get_logmath, (ps_decoder_t * ps), (ps))                                                \
    X(feat_t *, ps_get_feat, (ps_decoder_t * ps), (ps))

#define SB_FNS(X, V)                                                                                         \
    X(int, cmd_ln_free_r, (cmd_ln_t * c), (c))                                                               \
    X(float64, logmath_exp, (logmath_t * lm, int p), (lm, p))                                                \
    X(cmd_ln_t *, cmd_ln_init, , )

enum { PS_FNS(RECD_DL_ENUM, RECD_DL_ENUM) DL_PS_N };
enum { SB_FNS(RECD_DL_ENUM, RECD_DL_ENUM) DL_SB_N };

static const char *const ps_names[] = {PS_FNS(RECD_DL_NAME, RECD_DL_NAME)};
static void *ps_slots[DL_PS_N];
static struct recd_dl ps_dl = {"libpocketsphinx.so.3", "libpocketsphinx3", ps_names, ps_slots, DL_PS_N, 0};

static const char *const sb_names[] = {SB_FNS(RECD_DL_NAME, RECD_DL_NAME)};
static void *sb_slots[DL_SB_N];
static struct recd_dl sb_dl = {"libsphinxbase.so.3", "libsphinxbase3", sb_names, sb_slots, DL_SB_N, 0};

#define X(ret, name, params, args) RECD_DL_RET(ps_dl, ret, name, params, args)
PS_FNS(X, X)
#undef X
#define X(ret, name, params, args) RECD_DL_RET(sb_dl, ret, name, params, args)
X(int, cmd_ln_free_r, (cmd_ln_t * c), (c))
X(float64, logmath_exp, (logmath_t * lm, int p), (lm, p))
#undef X

/* The most option strings cmd_ln_init passes on (name and value pairs, so 16 options). */
#define ARGS_MAX 32

/*
 * cmd_ln_init takes its options as a NULL-terminated list of strings. A variadic list cannot be
 * passed on as such, so the strings are gathered and the real function is called with all
 * ARGS_MAX of them: it reads up to the first NULL, which the gathering guarantees.
 */
cmd_ln_t *cmd_ln_init(cmd_ln_t *inout, arg_t const *defn, int32 strict, ...)
{
    __typeof__(&cmd_ln_init) fn = (__typeof__(&cmd_ln_init))recd_dl_fn(&sb_dl, DL_cmd_ln_init);
    const char *a[ARGS_MAX + 1] = {NULL};
    va_list ap;
    va_start(ap, strict);
    int n = 0;
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < ARGS_MAX + 1)
        a[n++] = s;
    va_end(ap);
    if (n > ARGS_MAX)
        return NULL;
    return fn(inout, defn, strict, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
              a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24],
              a[25], a[26], a[27], a[28], a[29], a[30], a[31], (const char *)NULL);
}

int recd_sphinx_dl_load(void)
{
    int rc = recd_dl_load(&ps_dl);
    int rc2 = recd_dl_load(&sb_dl);
    return rc < 0 ? rc : rc2;
}
