#include "stt/stt.h"
#include "stt/stt_internal.h"

#include "core/error.h"
#include "core/log.h"

#include <pocketsphinx.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The built-in engine: PocketSphinx 5prealpha (Debian 12) with Debian's en-us acoustic model,
 * language model and dictionary.
 *
 * Audio is decoded the way pocketsphinx_continuous -infile decodes a file, so that both give the
 * same words for the same samples (the end-to-end test compares them): blocks of 2048 samples,
 * and an utterance ends wherever the decoder's voice activity detector says speech stopped. Long
 * recordings are then many short searches rather than one long one, which keeps memory flat.
 */

#define DEFAULT_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define BLOCK             2048

struct sphinx {
    struct recd_stt_engine base;
    ps_decoder_t *ps;
    cmd_ln_t *cfg;
    int rate; /* what the model was trained on: 16000 */
    /* The live cepstral mean normalisation's state as the model starts it (from -cmninit),
     * restored before each recording: the decoder adapts it as it goes, and one caller's audio
     * must not change another's words. cmn_live_set is not enough: it also fakes a history of
     * frames, which a fresh decoder does not have, and that changes the words. */
    mfcc_t *cmn0_mean, *cmn0_sum;
    int32 cmn0_nframe;
};

/* Appends one utterance's hypothesis, words separated by single spaces. */
static void add_hyp(struct recd_buf *text, const char *hyp)
{
    if (!hyp)
        return;
    while (*hyp == ' ')
        hyp++;
    size_t n = strlen(hyp);
    while (n && hyp[n - 1] == ' ')
        n--;
    if (!n)
        return;
    if (text->len)
        recd_buf_addc(text, ' ');
    recd_buf_add(text, hyp, n);
}

/* Ends the current utterance and takes its words, weighting its posterior by its word count. */
static void end_utt(struct sphinx *s, struct recd_stt_result *out, double *conf_sum, double *words)
{
    ps_end_utt(s->ps);
    const char *hyp = ps_get_hyp(s->ps, NULL);
    if (!hyp || !*hyp)
        return;
    size_t before = out->text.len;
    add_hyp(&out->text, hyp);
    double w = 1;
    for (size_t i = before + 1; i < out->text.len; i++)
        if (out->text.p[i] == ' ')
            w++;
    double p = logmath_exp(ps_get_logmath(s->ps), ps_get_prob(s->ps));
    if (p < 0)
        p = 0;
    if (p > 1)
        p = 1;
    *conf_sum += p * w;
    *words += w;
}

static int sphinx_transcribe(struct recd_stt_engine *e, const int16_t *pcm, size_t n, int rate,
                             recd_stt_tick_fn tick, void *tick_arg, struct recd_stt_result *out, char *why,
                             size_t why_n)
{
    struct sphinx *s = (struct sphinx *)e;
    int16_t *conv = NULL;
    size_t cn = 0;
    double conf_sum = 0, words = 0;
    int rc = 0;
    recd_buf_reset(&out->text);
    out->confidence = 0;
    if (rate < 8000 || rate > 48000)
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "unsupported sample rate %d", rate);
    if (recd_stt_resample(pcm, n, rate, s->rate, &conv, &cn) < 0)
        return recd_stt_fail(why, why_n, RECD_E_INTERNAL, "resampling failed");
    /* Every recording starts from the same state, as a fresh pocketsphinx_continuous does: the
     * noise estimate of the voice activity detector and the cepstral mean. */
    ps_start_stream(s->ps);
    cmn_t *cmn = ps_get_feat(s->ps)->cmn_struct;
    memcpy(cmn->cmn_mean, s->cmn0_mean, (size_t)cmn->veclen * sizeof *cmn->cmn_mean);
    memcpy(cmn->sum, s->cmn0_sum, (size_t)cmn->veclen * sizeof *cmn->sum);
    cmn->nframe = s->cmn0_nframe;
    if (ps_start_utt(s->ps) < 0) {
        rc = recd_stt_fail(why, why_n, RECD_E_IO, "the decoder would not start");
        goto out;
    }
    int started = 0;
    for (size_t off = 0; off < cn; off += BLOCK) {
        size_t k = cn - off < BLOCK ? cn - off : BLOCK;
        if (ps_process_raw(s->ps, conv + off, k, FALSE, FALSE) < 0) {
            ps_end_utt(s->ps);
            rc = recd_stt_fail(why, why_n, RECD_E_IO, "the decoder failed");
            goto out;
        }
        int in_speech = ps_get_in_speech(s->ps);
        if (in_speech && !started)
            started = 1;
        if (!in_speech && started) {
            end_utt(s, out, &conf_sum, &words);
            if (ps_start_utt(s->ps) < 0) {
                rc = recd_stt_fail(why, why_n, RECD_E_IO, "the decoder would not start");
                goto out;
            }
            started = 0;
        }
        /* Every block (128 ms of audio, some 40 ms of CPU): a deleted recording, a lost lease or a
         * stopping server stops the work soon even when the thread gets little CPU. */
        if (tick && (rc = tick(tick_arg)) < 0) {
            ps_end_utt(s->ps);
            recd_stt_fail(why, why_n, rc, "stopped");
            goto out;
        }
    }
    if (started) {
        end_utt(s, out, &conf_sum, &words);
    } else {
        ps_end_utt(s->ps);
    }
    if (words > 0)
        out->confidence = conf_sum / words;
    if (!out->text.p)
        recd_buf_add(&out->text, "", 0);
out:
    free(conv);
    return rc;
}

static void sphinx_close(struct recd_stt_engine *e)
{
    struct sphinx *s = (struct sphinx *)e;
    if (!s)
        return;
    if (s->ps)
        ps_free(s->ps);
    if (s->cfg)
        cmd_ln_free_r(s->cfg);
    free(s->cmn0_mean);
    free(s->cmn0_sum);
    free(s);
}

static const struct recd_stt_engine_ops sphinx_ops = {
    .name = "pocketsphinx",
    .transcribe = sphinx_transcribe,
    .close = sphinx_close,
};

/* The model's three parts, named from its folder; checked to exist. */
static int model_paths(const struct recd_stt_config *c, char hmm[1024], char lm[1024], char dict[1024],
                       char *why, size_t why_n)
{
    const char *dir = c->model_dir && c->model_dir[0] ? c->model_dir : DEFAULT_MODEL_DIR;
    struct stat st;
    if ((size_t)snprintf(hmm, 1024, "%s/en-us", dir) >= 1024 ||
        (size_t)snprintf(lm, 1024, "%s/en-us.lm.bin", dir) >= 1024 ||
        (size_t)snprintf(dict, 1024, "%s/cmudict-en-us.dict", dir) >= 1024)
        return recd_stt_fail(why, why_n, RECD_E_BAD_INPUT, "model folder name too long");
    char mdef[1100];
    snprintf(mdef, sizeof mdef, "%s/mdef", hmm);
    if (stat(mdef, &st) < 0 || stat(lm, &st) < 0 || stat(dict, &st) < 0)
        return recd_stt_fail(why, why_n, RECD_E_NOT_FOUND,
                             "PocketSphinx's en-us model is not in %s (install Debian's pocketsphinx-en-us)",
                             dir);
    return 0;
}

int recd_stt_sphinx_check(const struct recd_stt_config *c, char *why, size_t why_n)
{
    char hmm[1024], lm[1024], dict[1024];
    return model_paths(c, hmm, lm, dict, why, why_n);
}

int recd_stt_sphinx_open(const struct recd_stt_config *c, struct recd_stt_engine **out, char *why,
                         size_t why_n)
{
    const char *dir = c->model_dir && c->model_dir[0] ? c->model_dir : DEFAULT_MODEL_DIR;
    char hmm[1024], lm[1024], dict[1024];
    *out = NULL;
    int rc = model_paths(c, hmm, lm, dict, why, why_n);
    if (rc < 0)
        return rc;

    struct sphinx *s = calloc(1, sizeof *s);
    if (!s)
        return recd_stt_fail(why, why_n, RECD_E_INTERNAL, "out of memory");
    s->base.ops = &sphinx_ops;
    s->rate = 16000;
    /* The library logs to stderr by default; recd's log carries what matters. */
    s->cfg = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-lm", lm, "-dict", dict, "-logfn", "/dev/null",
                         NULL);
    if (!s->cfg) {
        sphinx_close(&s->base);
        return recd_stt_fail(why, why_n, RECD_E_IO, "PocketSphinx refused its configuration");
    }
    s->ps = ps_init(s->cfg);
    if (!s->ps) {
        sphinx_close(&s->base);
        return recd_stt_fail(why, why_n, RECD_E_IO, "PocketSphinx could not load the model in %s", dir);
    }
    cmn_t *cmn = ps_get_feat(s->ps)->cmn_struct;
    if (!cmn || cmn->veclen <= 0) {
        sphinx_close(&s->base);
        return recd_stt_fail(why, why_n, RECD_E_IO,
                             "PocketSphinx's model has no cepstral mean normalisation");
    }
    s->cmn0_mean = malloc((size_t)cmn->veclen * sizeof *s->cmn0_mean);
    s->cmn0_sum = malloc((size_t)cmn->veclen * sizeof *s->cmn0_sum);
    if (!s->cmn0_mean || !s->cmn0_sum) {
        sphinx_close(&s->base);
        return recd_stt_fail(why, why_n, RECD_E_INTERNAL, "out of memory");
    }
    memcpy(s->cmn0_mean, cmn->cmn_mean, (size_t)cmn->veclen * sizeof *s->cmn0_mean);
    memcpy(s->cmn0_sum, cmn->sum, (size_t)cmn->veclen * sizeof *s->cmn0_sum);
    s->cmn0_nframe = cmn->nframe;
    *out = &s->base;
    return 0;
}
