#define _POSIX_C_SOURCE 200809L
#include "plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "error.h"
#include "io_file.h"

/* ---- the cost model ---- */

double ae_plan_step_flops(const ae_model *m, size_t rows) {
    double f = 0.0;
    for (size_t l = 0; l < m->n_layers; l++) {
        const double mnk = 2.0 * m->layer[l].kind->gemm_mnk(&m->layer[l], rows);
        f += l ? 3.0 * mnk : 2.0 * mnk;
    }
    return f;
}

static double g_min_flops = -1.0;
void ae_plan_test_min_flops(double flops) { g_min_flops = flops; }

int ae_plan_threads_by_cost(const ae_model *m, size_t rows, int threads) {
    const double bar = g_min_flops >= 0.0 ? g_min_flops : AE_PLAN_MIN_FLOPS;
    if (threads < 2 || ae_plan_step_flops(m, rows) < bar) return 1;
    const size_t most = rows / AE_PLAN_MIN_ROWS;
    if ((size_t)threads > most) threads = (int)most;
    return threads < 1 ? 1 : threads;
}

size_t ae_plan_chunks(size_t rows, int threads) {
    size_t c = (size_t)threads * AE_PLAN_CHUNKS_PER_THREAD;
    if (c > rows / AE_PLAN_MIN_ROWS) c = rows / AE_PLAN_MIN_ROWS;
    if (c > AE_MAX_CHUNKS) c = AE_MAX_CHUNKS;
    return c < 1 ? 1 : c;
}

/* ---- settings and the latest plan ---- */

static ae_plan_kind g_forced = AE_PLAN_AUTO;
static char g_file[4096];
static int g_file_set; /* 0: $AE_PLAN */
static _Thread_local ae_plan_info tls_last;
static _Thread_local int tls_have_last;

int ae_set_plan(ae_plan_kind kind) {
    if ((unsigned)kind > (unsigned)AE_PLAN_COLS) return AE_EINVAL;
    g_forced = kind;
    return AE_OK;
}

int ae_set_plan_file(const char *path) {
    if (path && strlen(path) >= sizeof g_file) return AE_EINVAL;
    g_file_set = path != NULL;
    if (path) strcpy(g_file, path);
    return AE_OK;
}

static const char *plan_file(void) {
    if (g_file_set) return *g_file ? g_file : NULL;
    const char *env = getenv("AE_PLAN");
    return env && *env ? env : NULL;
}

int ae_plan_last(ae_plan_info *out) {
    if (!out || !tls_have_last) return AE_EINVAL;
    *out = tls_last;
    return AE_OK;
}

const char *ae_plan_name(ae_plan_kind kind) {
    static const char *const names[] = {"auto", "one", "rows", "blas", "cols"};
    return (unsigned)kind <= (unsigned)AE_PLAN_COLS ? names[kind] : "?";
}

/* Appends to buf[*len ..) what fits, counting the full length. */
static void put(char *buf, size_t n, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t n, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*len < n ? buf + *len : NULL, *len < n ? n - *len : 0, fmt, ap);
    va_end(ap);
    if (k > 0) *len += (size_t)k;
}

size_t ae_plan_describe(const ae_plan_info *p, char *buf, size_t n) {
    size_t len = 0;
    if (buf && n)
        buf[0] = '\0';
    else
        n = 0;
    if (!p) return 0;
    put(buf, n, &len, "%s", ae_plan_name(p->kind));
    if (p->kind == AE_PLAN_ROWS)
        put(buf, n, &len, " (%d row chunks on %d threads)", p->chunks, p->threads);
    else if (p->kind == AE_PLAN_COLS)
        put(buf, n, &len, " (%d column slices on %d threads)", p->chunks, p->threads);
    else if (p->kind == AE_PLAN_BLAS)
        put(buf, n, &len, " (OpenBLAS on %d threads)", p->threads);
    else
        put(buf, n, &len, " thread");
    put(buf, n, &len, ", chosen by %s; %.3g MFLOP a step", p->source ? p->source : "?", p->step_flops * 1e-6);
    int timed = 0;
    for (int k = 1; k < AE_PLAN_KINDS; k++)
        if (p->pass_seconds[k] > 0.0) {
            put(buf, n, &len, "%s%s %.3f ms", timed++ ? ", " : "; a pass: ", ae_plan_name((ae_plan_kind)k),
                p->pass_seconds[k] * 1e3);
        }
    if (p->plan_seconds > 0.0005) put(buf, n, &len, "; planning %.1f ms", p->plan_seconds * 1e3);
    if (p->note[0]) put(buf, n, &len, "; %s", p->note);
    return len;
}

/* ---- plan files ---- */

/* The host a plan was measured on: CPU model, CPUs online, OpenBLAS's core. */
static void host_key(char *buf, size_t n) {
    char model[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) != 0) continue;
            const char *v = strchr(line, ':');
            if (!v) break;
            v++;
            while (*v == ' ' || *v == '\t') v++;
            size_t k = strcspn(v, "\n");
            if (k >= sizeof model) k = sizeof model - 1;
            memcpy(model, v, k);
            model[k] = '\0';
            break;
        }
        fclose(f); /* read-only: nothing to lose on a failed close */
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const ae_blas_info b = ae_blas_get_info();
    snprintf(buf, n, "%s | %ld cpus | OpenBLAS %s", model, cpus, b.core ? b.core : "?");
}

static void model_key(const ae_plan_request *req, char *buf, size_t n) {
    const ae_model *m = req->m;
    size_t len = 0;
    put(buf, n, &len, "%zu", m->layer[0].in);
    for (size_t l = 0; l < m->n_layers; l++) put(buf, n, &len, "-%zu", m->layer[l].out);
    put(buf, n, &len, " tied %d variational %d chunked %d", m->cfg.tied_weights, m->cfg.variational, req->covers);
    if (m->cfg.batch_norm) put(buf, n, &len, " batchnorm"); /* other models' keys as before */
}

#define PLAN_MAGIC "libae-plan 1\n"

size_t ae_plan_format(const ae_plan_request *req, const ae_run *run, const ae_plan_info *info, char *buf, size_t n) {
    char host[256], model[512];
    host_key(host, sizeof host);
    model_key(req, model, sizeof model);
    size_t len = 0;
    put(buf, n, &len, PLAN_MAGIC "host %s\nmodel %s\nbatch %zu\nthreads %d\nplan %s\nchunks %zu\n", host, model,
        req->batch, ae_threads(), ae_plan_name(run->kind), run->chunks);
    put(buf, n, &len, "timed");
    for (int k = 1; k < AE_PLAN_KINDS; k++)
        put(buf, n, &len, " %s %.6f", ae_plan_name((ae_plan_kind)k), info ? info->pass_seconds[k] : 0.0);
    put(buf, n, &len, "\n");
    if (len >= n) return 0;
    const unsigned long crc = crc32(0L, (const Bytef *)buf, (uInt)len);
    put(buf, n, &len, "crc32 %08lx\n", crc);
    return len < n ? len : 0;
}

/* The value of line `key VALUE\n` at *p (advancing past it) into out; 0 when absent. */
static int field(const char **p, const char *end, const char *key, char *out, size_t n) {
    const size_t k = strlen(key);
    if ((size_t)(end - *p) <= k || memcmp(*p, key, k) != 0 || (*p)[k] != ' ') return 0;
    const char *v = *p + k + 1, *nl = memchr(v, '\n', (size_t)(end - v));
    if (!nl || (size_t)(nl - v) >= n) return 0;
    memcpy(out, v, (size_t)(nl - v));
    out[nl - v] = '\0';
    *p = nl + 1;
    return 1;
}

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int ae_plan_parse(const ae_plan_request *req, const char *text, size_t len, ae_run *run) {
    const char *p = text, *end = text + len;
    const size_t magic = strlen(PLAN_MAGIC);
    if (len < magic || memcmp(text, PLAN_MAGIC, magic) != 0)
        return ae_fail(AE_EFORMAT, "not a libae plan file (it must start with \"libae-plan 1\")");
    /* the checksum line covers every byte before it */
    const char *crc_line = NULL;
    for (const char *q = text; q + 6 <= end; q++)
        if ((q == text || q[-1] == '\n') && memcmp(q, "crc32 ", 6) == 0) crc_line = q;
    char v[512];
    const char *c = crc_line;
    unsigned long want;
    char *e;
    if (!crc_line || !field(&c, end, "crc32", v, sizeof v) || c != end || (want = strtoul(v, &e, 16), *e) ||
        crc32(0L, (const Bytef *)text, (uInt)(crc_line - text)) != want)
        return ae_fail(AE_EFORMAT, "damaged plan file (its crc32 line is missing or does not match)");
    end = crc_line;
    p += magic;
    char host[256], mine[512];
    long batch, threads, chunks;
    if (!field(&p, end, "host", v, sizeof v)) return ae_fail(AE_EFORMAT, "plan file: no host line");
    host_key(host, sizeof host);
    if (strcmp(v, host) != 0) return ae_fail(AE_EINVAL, "plan made on another host (%s), not this one (%s)", v, host);
    if (!field(&p, end, "model", v, sizeof v)) return ae_fail(AE_EFORMAT, "plan file: no model line");
    model_key(req, mine, sizeof mine);
    if (strcmp(v, mine) != 0) return ae_fail(AE_EINVAL, "plan made for model %s, not %s", v, mine);
    if (!field(&p, end, "batch", v, sizeof v) || !parse_int(v, 1, 1L << 31, &batch))
        return ae_fail(AE_EFORMAT, "plan file: no batch line");
    if ((size_t)batch != req->batch) return ae_fail(AE_EINVAL, "plan made for batch %ld, not %zu", batch, req->batch);
    if (!field(&p, end, "threads", v, sizeof v) || !parse_int(v, 1, AE_MAX_THREADS, &threads))
        return ae_fail(AE_EFORMAT, "plan file: no threads line");
    if (threads != ae_threads()) return ae_fail(AE_EINVAL, "plan made for %ld threads, not %d", threads, ae_threads());
    if (!field(&p, end, "plan", v, sizeof v)) return ae_fail(AE_EFORMAT, "plan file: no plan line");
    ae_plan_kind kind = AE_PLAN_AUTO;
    for (int k = 1; k < AE_PLAN_KINDS; k++)
        if (!strcmp(v, ae_plan_name((ae_plan_kind)k))) kind = (ae_plan_kind)k;
    if (kind == AE_PLAN_AUTO) return ae_fail(AE_EFORMAT, "plan file: plan '%s' is not one, rows, blas or cols", v);
    if (!field(&p, end, "chunks", v, sizeof v) || !parse_int(v, 1, AE_MAX_CHUNKS, &chunks) ||
        (kind != AE_PLAN_ROWS && kind != AE_PLAN_COLS && chunks != 1))
        return ae_fail(AE_EFORMAT, "plan file: bad chunks line");
    run->kind = kind;
    run->threads = kind == AE_PLAN_ONE ? 1 : (int)threads;
    run->chunks = (size_t)chunks;
    return AE_OK;
}

/* Reads the plan file into *run: AE_OK, AE_EIO when there is none (or it cannot be read), or
 * a refusal (AE_EFORMAT, AE_EINVAL) with its detail. */
static int plan_load(const ae_plan_request *req, const char *path, ae_run *run) {
    FILE *f = fopen(path, "rb");
    if (!f) return ae_fail(AE_EIO, "%s", strerror(errno));
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    const int bad = ferror(f), big = len == sizeof buf;
    fclose(f); /* read-only */
    if (bad) return ae_fail(AE_EIO, "cannot read it");
    if (big) return ae_fail(AE_EFORMAT, "not a libae plan file (over 4 KiB)");
    return ae_plan_parse(req, buf, len, run);
}

static int plan_save(const ae_plan_request *req, const char *path, const ae_run *run, const ae_plan_info *info) {
    char buf[2048];
    size_t len = ae_plan_format(req, run, info, buf, sizeof buf);
    if (!len) return AE_EINVAL;
    ae_atomic_file a;
    int rc = ae_atomic_open(&a, path);
    if (rc != AE_OK) return rc;
    ae_atomic_write(&a, buf, len);
    return ae_atomic_close(&a);
}

/* ---- team or alone, step by step ---- */

#define PROBE 2 /* steps a probe runs */
#define INTERVAL_FIRST 8 /* steps before the first probe: a busy core is found early */
#define INTERVAL_MIN 32 /* steps between probes: after a switch */
#define INTERVAL_MAX 256 /* ... four times longer at each probe that confirms the mode, up to this */

static void balance_init(ae_balance *b) {
    memset(b, 0, sizeof *b);
    b->mode = 1;
    b->interval = INTERVAL_FIRST;
    b->left = INTERVAL_FIRST;
}

void ae_plan_balance(ae_run *run, double t) {
    ae_balance *b = &run->bal;
    const int ran = run->team;
    if (b->probing) { /* the probe's mean */
        b->sum[ran] += t;
        b->n[ran]++;
    } else { /* the mode's recent steps: a moving mean over about 16 */
        b->sum[ran] = b->n[ran] ? b->sum[ran] + (t - b->sum[ran]) / 16.0 : t;
        b->n[ran] = 1;
    }
    if (--b->left > 0) return;
    if (!b->probing) { /* probe the other mode */
        b->probing = 1;
        b->left = PROBE;
        b->sum[!b->mode] = 0.0;
        b->n[!b->mode] = 0;
        run->team = !b->mode;
        return;
    }
    /* the probe is over: switch when the other mode was 10% faster a step (less would follow
     * the noise of a shared machine back and forth) */
    if (b->sum[!b->mode] / (double)b->n[!b->mode] < 0.9 * b->sum[b->mode]) {
        b->mode = !b->mode;
        b->interval = INTERVAL_MIN;
        b->sum[b->mode] /= (double)b->n[b->mode]; /* the probe's mean starts the moving one */
        b->n[b->mode] = 1;
    } else if (b->interval < INTERVAL_MAX) {
        b->interval = b->interval * 4 < INTERVAL_MAX ? b->interval * 4 : INTERVAL_MAX;
    }
    b->probing = 0;
    b->left = b->interval;
    run->team = b->mode;
}

/* ---- choosing ---- */

/* 1 when a product of a step on `rows` rows is big enough for OpenBLAS to thread it (every
 * product of layer l has rows x in x out multiply-adds). */
static int step_may_thread(const ae_model *m, size_t rows) {
    for (size_t l = 0; l < m->n_layers; l++)
        if (ae_gemm_may_thread(m->layer[l].kind->gemm_mnk(&m->layer[l], rows))) return 1;
    return 0;
}

/* Starts what run needs: the pool for ROWS on several threads (none when it cannot be
 * started: the run then goes on alone, as ONE does), and one-thread windows for ONE and ROWS
 * when OpenBLAS has more threads and would use them on the step's products. */
static int run_begin(const ae_plan_request *req, ae_run *run) {
    run->pool = NULL;
    run->team = 0;
    balance_init(&run->bal);
    const int chunked = run->kind == AE_PLAN_ROWS || run->kind == AE_PLAN_COLS;
    if (chunked && run->threads > 1) {
        int rc = ae_pool_start(&run->pool, run->threads);
        if (rc == AE_ENOMEM) return rc;
        run->team = rc == AE_OK;
        if (rc != AE_OK) run->threads = 1;
    }
    if (!chunked) run->chunks = 1;
    run->blas_single = run->kind != AE_PLAN_BLAS && ae_blas_threads() > 1 && step_may_thread(req->m, req->batch);
    return AE_OK;
}

void ae_plan_stop(ae_run *run) {
    ae_pool_stop(run->pool);
    run->pool = NULL;
    run->team = 0;
}

static ae_run candidate(ae_plan_kind kind, int threads, size_t batch) {
    ae_run r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.threads = kind == AE_PLAN_ONE ? 1 : threads;
    r.chunks = kind == AE_PLAN_ROWS || kind == AE_PLAN_COLS ? ae_plan_chunks(batch, threads) : 1;
    return r;
}

/* For a large step: times ROWS, COLS (where it covers the run; on ROWS's pool) and BLAS on a
 * pass each, in two interleaved rounds after a warm-up pass, while the next pass fits in the
 * budget, and keeps each candidate's faster pass (one pass on a shared machine can be off by
 * 20%). COLS replaces ROWS when 5% faster, BLAS either when 10% faster: its optimizer step
 * runs on one thread and is not in the timed pass, and its threads wait for each other at
 * every product on a busy machine. *run holds ROWS, started, on entry. */
static int plan_by_timing(const ae_plan_request *req, ae_run *run, ae_plan_info *info, double t0) {
    enum { ROUNDS = 2 };
    const int n = 2 + (req->cols_covers != 0);
    if (!req->time || 1.0 + ROUNDS * n > AE_PLAN_BUDGET * (double)req->steps) return AE_OK;
    ae_run cand[3];
    double best[3] = {0.0, 0.0, 0.0};
    cand[0] = *run;
    cand[1] = candidate(AE_PLAN_BLAS, ae_threads(), req->batch);
    int blas_started = 0, rc = AE_OK;
    if (n == 3) { /* COLS on ROWS's pool and windows */
        cand[2] = candidate(AE_PLAN_COLS, run->threads, req->batch);
        cand[2].pool = run->pool;
        cand[2].team = run->team;
        cand[2].blas_single = run->blas_single;
        cand[2].bal = run->bal;
    }
    info->source = "timings";
    double fastest = 0.0;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < n; i++) {
            if (fastest > 0.0 && ae_now_seconds() - t0 + 1.5 * fastest > AE_PLAN_BUDGET * (double)req->steps * fastest)
                goto chosen; /* the next pass would not fit */
            if (i == 1 && !blas_started) {
                if ((rc = run_begin(req, &cand[1])) != AE_OK) goto chosen;
                blas_started = 1;
            }
            const double t = req->time(&cand[i], r == 0 && i == 0, req->time_ctx);
            if (!(t > 0.0)) continue;
            if (best[i] == 0.0 || t < best[i]) best[i] = t;
            if (fastest == 0.0 || t < fastest) fastest = t;
        }
chosen:;
    int k = 0;
    if (n == 3 && best[2] > 0.0 && (best[0] == 0.0 || best[2] < 0.95 * best[0])) k = 2;
    if (best[1] > 0.0 && (best[k] == 0.0 || best[1] < 0.9 * best[k])) k = 1;
    for (int i = 0; i < n; i++) info->pass_seconds[cand[i].kind] = best[i];
    if (k == 1)
        ae_plan_stop(run); /* ROWS's pool (COLS's too) */
    else if (blas_started)
        ae_plan_stop(&cand[1]);
    *run = cand[k];
    return rc;
}

int ae_plan_start(const ae_plan_request *req, ae_run *run) {
    const double t0 = ae_now_seconds();
    ae_plan_info info;
    memset(&info, 0, sizeof info);
    info.step_flops = ae_plan_step_flops(req->m, req->batch);
    const int T = ae_threads();
    const char *path = g_forced == AE_PLAN_AUTO ? plan_file() : NULL;
    int from_file = 0, rc = AE_OK;
    if (g_forced != AE_PLAN_AUTO) {
        *run = candidate(g_forced, T, req->batch);
        info.source = "ae_set_plan";
    } else if (path) {
        memset(run, 0, sizeof *run);
        rc = plan_load(req, path, run);
        from_file = rc == AE_OK;
        if (from_file)
            info.source = "the plan file";
        else if (rc == AE_EIO)
            snprintf(info.note, sizeof info.note, "no plan in %.150s yet (%.60s)", path, ae_last_error());
        else
            snprintf(info.note, sizeof info.note, "plan file %.80s refused: %.150s", path, ae_last_error());
        if (!from_file && rc != AE_EIO) (void)ae_fail(rc, "%s", info.note); /* for ae_last_error too */
    }
    if (!info.source) {
        const int t = ae_plan_threads_by_cost(req->m, req->batch, T);
        if (t == 1) {
            *run = candidate(AE_PLAN_ONE, 1, req->batch);
            info.source = T == 1 ? "the thread count" : "the cost model";
        } else {
            *run = candidate(req->covers ? AE_PLAN_ROWS : AE_PLAN_BLAS, req->covers ? t : T, req->batch);
            info.source = "the cost model";
        }
    }
    if ((rc = run_begin(req, run)) != AE_OK) return rc;
    if (!from_file && g_forced == AE_PLAN_AUTO && run->kind == AE_PLAN_ROWS && info.step_flops >= AE_PLAN_TIME_FLOPS &&
        (rc = plan_by_timing(req, run, &info, t0)) != AE_OK) {
        ae_plan_stop(run);
        return rc;
    }
    info.kind = run->kind;
    info.threads = run->threads;
    info.chunks = (int)run->chunks;
    if (path && !from_file && req->save) {
        size_t k = strlen(info.note);
        int s = plan_save(req, path, run, &info);
        snprintf(info.note + k, sizeof info.note - k, "%s%s %.200s", k ? "; " : "",
                 s == AE_OK ? "plan saved to" : "could not save the plan to", path);
    }
    info.plan_seconds = ae_now_seconds() - t0;
    tls_last = info;
    tls_have_last = 1;
    return AE_OK;
}
