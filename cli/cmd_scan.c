/*
 * cmd_scan.c - modelgate scan: expand the paths (and the folders of
 * --python-env and --hf-cache), scan the files on -j threads (one scanner
 * each, one shared immutable policy, an optional results cache), and print
 * the reports in command-line order as they complete, with a progress line
 * on stderr when it is a terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "opt.h"
#include "out.h"
#include "roots.h"
#include "walk.h"

#define PROGRESS_NS 100000000 /* redraw the progress line every 0.1 s */

struct scan_args {
    const char *format;
    const char *fail_on;
    const char *policy_file;
    struct opt_list allow;
    const char *python_env; /* NULL, "" (python3) or an interpreter */
    const char *hf_cache;   /* NULL, "" (default folders) or a folder */
    const char *cache_file;
    uint64_t jobs;
    int verbose;
    int no_color;
    int no_summary;
    int no_progress;
    int help;
    struct mg_options opt;
};

struct job {
    struct walk_list *files;
    struct mg_report **reports;
    enum mg_status *status;
    char **errors;
    size_t next;   /* next file to take */
    size_t done_n; /* reports ready, for ordered printing */
    unsigned char *done;
    unsigned char *cached; /* answered by the cache */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const struct mg_options *opt;
    struct cache *cache;
    int oom;
    /* progress, under mu */
    uint64_t p_files, p_bytes, p_findings;
};

static int
set_limit_u64(const char *arg, void *dst)
{
    return opt_parse_u64(arg, dst);
}

static enum mg_status
scan_one(struct mg_scanner *s,
         const char *path,
         const struct mg_options *opt,
         struct mg_report **out)
{
    if (strcmp(path, "-") != 0)
        return mg_scan_file(s, path, out);
    unsigned char *buf = NULL;
    size_t len = 0;
    char err[200];
    if (read_all("-", opt->limits.max_member_bytes, &buf, &len, err,
                 sizeof(err)) != 0) {
        fprintf(stderr, "modelgate scan: standard input: %s\n", err);
        return MG_E_IO;
    }
    enum mg_status st = mg_scan_buffer(s, buf, len, "-", out);
    free(buf);
    return st;
}

static void *
worker(void *arg)
{
    struct job *j = arg;
    struct mg_scanner *s = NULL;
    if (mg_scanner_new(j->opt, &s) != MG_OK) {
        pthread_mutex_lock(&j->mu);
        j->oom = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next < j->files->n ? j->next++ : SIZE_MAX;
        pthread_mutex_unlock(&j->mu);
        if (i == SIZE_MAX)
            break;
        struct mg_report *r = NULL;
        const char *path = j->files->v[i].path;
        struct cache_key key;
        int hit = 0;
        enum mg_status st = MG_OK;
        if (j->cache != NULL && strcmp(path, "-") != 0)
            hit = cache_lookup(j->cache, path, &key, &r);
        if (!hit) {
            st = scan_one(s, path, j->opt, &r);
            if (st == MG_OK && r != NULL && j->cache != NULL &&
                strcmp(path, "-") != 0)
                cache_store(j->cache, path, &key, r);
        }
        char *err = NULL;
        if (st != MG_OK)
            err = strdup(mg_scanner_errmsg(s));
        uint64_t nf = 0;
        for (size_t k = 0; r != NULL && k < mg_report_count(r); k++)
            if (mg_report_get(r, k)->severity >= MG_SEV_UNKNOWN)
                nf++;
        pthread_mutex_lock(&j->mu);
        j->reports[i] = r;
        j->status[i] = st;
        j->errors[i] = err;
        j->cached[i] = (unsigned char)hit;
        j->done[i] = 1;
        j->p_files++;
        j->p_bytes += r != NULL ? mg_report_bytes_read(r) : 0;
        j->p_findings += nf;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
    mg_scanner_free(s);
    return NULL;
}

static uint64_t
now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The progress line: files, bytes and findings so far. Caller holds mu. */
static void
progress_draw(const struct job *j, size_t total, uint64_t t0)
{
    double mb = (double)j->p_bytes / 1e6;
    double sec = (double)(now_ns() - t0) / 1e9;
    fprintf(stderr,
            "\r\033[Kmodelgate: %" PRIu64 "/%zu files, %.1f MB, %" PRIu64
            " finding%s, %.1f s",
            j->p_files, total, mb, j->p_findings, j->p_findings == 1 ? "" : "s",
            sec);
    fflush(stderr);
}

static void
progress_clear(void)
{
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* Add the folders of --python-env and --hf-cache to the paths. */
static int
env_roots(const struct scan_args *a, struct strlist *extra)
{
    if (a->python_env != NULL) {
        int rc = python_env_roots(a->python_env, extra, a->verbose);
        if (rc != 0)
            return rc;
    }
    if (a->hf_cache != NULL) {
        int rc = hf_cache_roots(a->hf_cache, extra, a->verbose);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
cmd_scan(int argc, char **argv)
{
    struct scan_args a;
    memset(&a, 0, sizeof(a));
    mg_options_init(&a.opt);
    a.format = "text";
    a.fail_on = "suspicious";
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    a.jobs = ncpu > 0 ? (uint64_t)ncpu : 1;
    struct mg_limits *l = &a.opt.limits;
    const struct opt table[] = {
        {"format", 'f', OPT_STRING, "FMT",
         "output: text (default), json, jsonl or sarif", &a.format, NULL},
        {"fail-on", 0, OPT_STRING, "LEVEL",
         "exit 1 when a file reaches LEVEL: unknown, suspicious (default), "
         "dangerous",
         &a.fail_on, NULL},
        {"policy", 0, OPT_STRING, "FILE",
         "extend the allowlist from FILE (docs/policy.md)", &a.policy_file,
         NULL},
        {"allow", 0, OPT_MULTI, "MODULE.NAME",
         "treat MODULE.NAME (or MODULE.*) as safe; repeatable", &a.allow, NULL},
        {"jobs", 'j', OPT_U64, "N", "scan N files at a time (default: cores)",
         &a.jobs, NULL},
        {"verbose", 'v', OPT_FLAG, NULL,
         "also show info findings (safe imports...)", &a.verbose, NULL},
        {"no-color", 0, OPT_FLAG, NULL, "no colours in text output",
         &a.no_color, NULL},
        {"no-summary", 0, OPT_FLAG, NULL, "no summary line in text output",
         &a.no_summary, NULL},
        {"no-progress", 0, OPT_FLAG, NULL,
         "no progress line on stderr (shown only on a terminal)",
         &a.no_progress, NULL},
        {"python-env", 0, OPT_OPTIONAL, "PYTHON",
         "also scan the import path of PYTHON (default python3): "
         "site-packages, .pth folders, eggs",
         &a.python_env, NULL},
        {"hf-cache", 0, OPT_OPTIONAL, "DIR",
         "also scan the Hugging Face cache (DIR, or $HF_HOME/hub...) and "
         "the torch hub cache",
         &a.hf_cache, NULL},
        {"cache", 0, OPT_STRING, "FILE",
         "results cache (SQLite): unchanged files are not scanned again",
         &a.cache_file, NULL},
        {"max-opcodes", 0, OPT_CUSTOM, "N", "pickle opcodes per stream",
         &l->max_opcodes, set_limit_u64},
        {"max-stack", 0, OPT_CUSTOM, "N", "pickle stack depth", &l->max_stack,
         set_limit_u64},
        {"max-memo", 0, OPT_CUSTOM, "N", "pickle memo entries", &l->max_memo,
         set_limit_u64},
        {"max-string", 0, OPT_CUSTOM, "BYTES",
         "largest pickle string or bytes argument", &l->max_string,
         set_limit_u64},
        {"max-values", 0, OPT_CUSTOM, "N", "symbolic values per stream",
         &l->max_values, set_limit_u64},
        {"max-value-depth", 0, OPT_CUSTOM, "N",
         "nesting followed in symbolic values", &l->max_value_depth,
         set_limit_u64},
        {"max-streams", 0, OPT_CUSTOM, "N", "pickle streams per layer",
         &l->max_streams, set_limit_u64},
        {"max-findings", 0, OPT_CUSTOM, "N", "distinct findings kept per file",
         &l->max_findings, set_limit_u64},
        {"max-depth", 0, OPT_CUSTOM, "N", "container nesting depth",
         &l->max_depth, set_limit_u64},
        {"max-members", 0, OPT_CUSTOM, "N", "members per archive",
         &l->max_members, set_limit_u64},
        {"max-member-bytes", 0, OPT_CUSTOM, "BYTES",
         "decompressed bytes per member", &l->max_member_bytes, set_limit_u64},
        {"max-total-bytes", 0, OPT_CUSTOM, "BYTES",
         "decompressed bytes per file", &l->max_total_bytes, set_limit_u64},
        {"max-ratio", 0, OPT_CUSTOM, "N", "decompression ratio per member",
         &l->max_ratio, set_limit_u64},
        {"max-spool-bytes", 0, OPT_CUSTOM, "BYTES",
         "member held in memory for random access", &l->max_spool_bytes,
         set_limit_u64},
        {"max-header-bytes", 0, OPT_CUSTOM, "BYTES",
         "JSON and metadata headers", &l->max_header_bytes, set_limit_u64},
        {"max-json-depth", 0, OPT_CUSTOM, "N", "JSON nesting",
         &l->max_json_depth, set_limit_u64},
        {"max-json-values", 0, OPT_CUSTOM, "N", "values in one JSON document",
         &l->max_json_values, set_limit_u64},
        {"max-tensors", 0, OPT_CUSTOM, "N",
         "tensors per safetensors or GGUF file", &l->max_tensors,
         set_limit_u64},
        {"max-nesting", 0, OPT_CUSTOM, "N",
         "nesting of GGUF arrays and protobuf messages", &l->max_nesting,
         set_limit_u64},
        {"max-seconds", 0, OPT_CUSTOM, "N",
         "wall-clock seconds per file (0: none)", &l->max_seconds,
         set_limit_u64},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &a.help, NULL},
    };
    const size_t ntable = sizeof(table) / sizeof(table[0]);
    struct opt_list paths = {0};
    int rc = opt_parse(table, ntable, argc, argv, &paths, "scan");
    struct mg_policy *policy = NULL;
    struct walk_list files = {0};
    struct strlist extra = {0};
    struct opt_list roots = {0};
    struct cache *cache = NULL;
    struct job j;
    memset(&j, 0, sizeof(j));
    pthread_t *threads = NULL;
    size_t nthreads = 0;
    if (rc != 0)
        goto out;
    if (a.help) {
        printf("usage: modelgate scan [OPTIONS] PATH...\n\n"
               "Scan files, folders (recursively) and '-' (standard input).\n"
               "--python-env and --hf-cache add folders (then PATH is "
               "optional).\n"
               "Exit status: 0 nothing found, 1 a file reached --fail-on, "
               "2 a file could not be\nscanned completely (or bad usage).\n\n"
               "options:\n");
        opt_help(stdout, table, ntable);
        goto out;
    }
    enum out_kind kind = OUT_TEXT;
    int bad_fmt = out_parse_format(a.format, &kind) != 0;
    int fail_on = parse_level(a.fail_on);
    if (bad_fmt || fail_on < 0 || a.jobs == 0 || a.jobs > 1024) {
        fprintf(stderr, "modelgate scan: bad %s\n",
                bad_fmt       ? "--format (text, json, jsonl, sarif)"
                : fail_on < 0 ? "--fail-on (unknown, suspicious, dangerous)"
                              : "--jobs (1 to 1024)");
        rc = EXIT_ERROR;
        goto out;
    }
    rc = env_roots(&a, &extra);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < paths.n; i++)
        if (opt_list_add(&roots, paths.v[i]) != 0)
            rc = EXIT_ERROR;
    for (size_t i = 0; i < extra.n; i++)
        if (opt_list_add(&roots, extra.v[i]) != 0)
            rc = EXIT_ERROR;
    if (rc != 0) {
        fprintf(stderr, "modelgate scan: out of memory\n");
        goto out;
    }
    if (roots.n == 0 && a.python_env == NULL && a.hf_cache == NULL) {
        fprintf(stderr, "usage: modelgate scan [OPTIONS] PATH...\n");
        rc = EXIT_ERROR;
        goto out;
    }
    if (a.policy_file != NULL || a.allow.n > 0) {
        if (mg_policy_new(&policy) != MG_OK) {
            fprintf(stderr, "modelgate scan: out of memory\n");
            rc = EXIT_ERROR;
            goto out;
        }
        if (a.policy_file != NULL) {
            unsigned line = 0;
            enum mg_status st = mg_policy_load(policy, a.policy_file, &line);
            if (st != MG_OK) {
                if (line > 0)
                    fprintf(stderr, "modelgate scan: %s:%u: bad policy line\n",
                            a.policy_file, line);
                else
                    fprintf(stderr, "modelgate scan: %s: %s\n", a.policy_file,
                            mg_strerror(st));
                rc = EXIT_ERROR;
                goto out;
            }
        }
        for (size_t i = 0; i < a.allow.n; i++) {
            if (mg_policy_set(policy, a.allow.v[i], MG_SEV_INFO) != MG_OK) {
                fprintf(stderr,
                        "modelgate scan: --allow needs MODULE.NAME, "
                        "MODULE:QUALNAME or MODULE.*, not '%s'\n",
                        a.allow.v[i]);
                rc = EXIT_ERROR;
                goto out;
            }
        }
        a.opt.policy = policy;
    }
    a.opt.report_info = a.verbose || kind == OUT_JSON || kind == OUT_JSONL;
    if (a.cache_file != NULL) {
        rc = cache_open(a.cache_file, &a.opt, &cache);
        if (rc != 0)
            goto out;
    }
    if (walk_paths(roots.v, roots.n, &files) != 0) {
        fprintf(stderr, "modelgate scan: out of memory\n");
        rc = EXIT_ERROR;
        goto out;
    }

    struct out out;
    out_init(&out, kind, stdout, a.verbose,
             !a.no_color && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL,
             !a.no_summary);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    out_begin(&out);

    size_t n = files.n;
    j.files = &files;
    j.opt = &a.opt;
    j.reports = calloc(n ? n : 1, sizeof(*j.reports));
    j.status = calloc(n ? n : 1, sizeof(*j.status));
    j.errors = calloc(n ? n : 1, sizeof(*j.errors));
    j.done = calloc(n ? n : 1, 1);
    j.cached = calloc(n ? n : 1, 1);
    j.cache = cache;
    nthreads = a.jobs < n ? (size_t)a.jobs : n;
    threads = calloc(nthreads ? nthreads : 1, sizeof(*threads));
    if (!j.reports || !j.status || !j.errors || !j.done || !j.cached ||
        !threads) {
        fprintf(stderr, "modelgate scan: out of memory\n");
        rc = EXIT_ERROR;
        goto out;
    }
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    size_t started = 0;
    for (size_t i = 0; i < nthreads; i++) {
        if (pthread_create(&threads[i], NULL, worker, &j) != 0)
            break;
        started++;
    }
    if (started == 0 && n > 0) {
        /* No thread could start: scan here. */
        nthreads = 0;
        worker(&j);
    }
    struct summary sum;
    memset(&sum, 0, sizeof(sum));
    sum.errors_walk = files.errors;
    int progress = !a.no_progress && isatty(STDERR_FILENO);
    uint64_t t0ns = now_ns(), last_draw = 0;
    int drawn = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&j.mu);
        if (!j.done[i] && !j.oom) {
            /* Output streams: what is written reaches the reader before
               we wait (and a fast scan does not pay a write per file). */
            pthread_mutex_unlock(&j.mu);
            fflush(stdout);
            pthread_mutex_lock(&j.mu);
        }
        while (!j.done[i] && !j.oom) {
            if (!progress) {
                pthread_cond_wait(&j.cv, &j.mu);
                continue;
            }
            uint64_t t = now_ns();
            if (t - last_draw >= PROGRESS_NS) {
                progress_draw(&j, n, t0ns);
                drawn = 1;
                last_draw = t;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += PROGRESS_NS;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&j.cv, &j.mu, &until);
        }
        int ready = j.done[i];
        pthread_mutex_unlock(&j.mu);
        if (drawn) {
            fflush(stdout);
            progress_clear();
            drawn = 0;
            last_draw = 0;
        }
        if (!ready) {
            fprintf(stderr, "modelgate scan: out of memory\n");
            sum.oom = 1;
            break;
        }
        struct mg_report *r = j.reports[i];
        if (r == NULL) {
            fprintf(stderr, "modelgate scan: %s: %s\n", files.v[i].path,
                    j.errors[i] ? j.errors[i] : mg_strerror(j.status[i]));
            sum.failed++;
            continue;
        }
        out_file(&out, r);
        summary_add(&sum, r, fail_on);
        sum.cached += j.cached[i];
        mg_report_free(r);
        j.reports[i] = NULL;
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
    if (cache_close(cache) != 0)
        sum.oom = 1; /* results not saved: an operational error */
    cache = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sum.seconds = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    sum.exit_code = summary_exit(&sum);
    out_end(&out, &sum);
    rc = sum.exit_code;
out:
    for (size_t i = 0; j.reports != NULL && i < files.n; i++) {
        mg_report_free(j.reports[i]);
        free(j.errors[i]);
    }
    free(j.reports);
    free(j.status);
    free(j.errors);
    free(j.done);
    free(j.cached);
    free(threads);
    cache_close(cache);
    walk_free(&files);
    strlist_free(&extra);
    opt_list_free(&roots);
    mg_policy_free(policy);
    opt_list_free(&paths);
    opt_list_free(&a.allow);
    return rc;
}
