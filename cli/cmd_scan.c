/*
 * cmd_scan.c - modelgate scan: expand the paths, scan the files on -j
 * threads (one scanner each, one shared immutable policy), and print the
 * reports in command-line order as they complete.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "out.h"
#include "walk.h"

struct scan_args {
    const char *format;
    const char *fail_on;
    const char *policy_file;
    struct opt_list allow;
    uint64_t jobs;
    int verbose;
    int no_color;
    int no_summary;
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
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const struct mg_options *opt;
    int oom;
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
        enum mg_status st = scan_one(s, j->files->v[i].path, j->opt, &r);
        char *err = NULL;
        if (st != MG_OK)
            err = strdup(mg_scanner_errmsg(s));
        pthread_mutex_lock(&j->mu);
        j->reports[i] = r;
        j->status[i] = st;
        j->errors[i] = err;
        j->done[i] = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
    mg_scanner_free(s);
    return NULL;
}

static const char *
pick_format(const char *name)
{
    static const char *const known[] = {"text", "json"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(name, known[i]) == 0)
            return known[i];
    return NULL;
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
        {"format", 'f', OPT_STRING, "FMT", "output: text (default) or json",
         &a.format, NULL},
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
    struct job j;
    memset(&j, 0, sizeof(j));
    pthread_t *threads = NULL;
    size_t nthreads = 0;
    if (rc != 0)
        goto out;
    if (a.help) {
        printf("usage: modelgate scan [OPTIONS] PATH...\n\n"
               "Scan files, folders (recursively) and '-' (standard input).\n"
               "Exit status: 0 nothing found, 1 a file reached --fail-on, "
               "2 a file could not be\nscanned completely (or bad usage).\n\n"
               "options:\n");
        opt_help(stdout, table, ntable);
        goto out;
    }
    const char *fmt = pick_format(a.format);
    int fail_on = parse_level(a.fail_on);
    if (fmt == NULL || fail_on < 0 || a.jobs == 0 || a.jobs > 1024) {
        fprintf(stderr, "modelgate scan: bad %s\n",
                fmt == NULL   ? "--format (text, json)"
                : fail_on < 0 ? "--fail-on (unknown, suspicious, dangerous)"
                              : "--jobs (1 to 1024)");
        rc = EXIT_ERROR;
        goto out;
    }
    if (paths.n == 0) {
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
    a.opt.report_info = a.verbose || strcmp(fmt, "json") == 0;
    if (walk_paths(paths.v, paths.n, &files) != 0) {
        fprintf(stderr, "modelgate scan: out of memory\n");
        rc = EXIT_ERROR;
        goto out;
    }

    struct out out;
    out_init(&out, fmt, stdout, a.verbose,
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
    nthreads = a.jobs < n ? (size_t)a.jobs : n;
    threads = calloc(nthreads ? nthreads : 1, sizeof(*threads));
    if (!j.reports || !j.status || !j.errors || !j.done || !threads) {
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
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&j.mu);
        while (!j.done[i] && !j.oom)
            pthread_cond_wait(&j.cv, &j.mu);
        int ready = j.done[i];
        pthread_mutex_unlock(&j.mu);
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
        mg_report_free(r);
        j.reports[i] = NULL;
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
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
    free(threads);
    walk_free(&files);
    mg_policy_free(policy);
    opt_list_free(&paths);
    opt_list_free(&a.allow);
    return rc;
}
