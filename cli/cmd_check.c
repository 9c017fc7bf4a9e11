/*
 * cmd_check.c - modelgate check: admission in one step. The model must
 * carry a signature that verifies against a trusted key (unsigned,
 * untrusted or not matching: refused); then every file is scanned, signed
 * ones and ones the signature leaves out alike, and any file at or above
 * --fail-on, or that could not be scanned completely, refuses the model.
 * One verdict, one exit code: 0 admitted, 1 refused, 2 could not run.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "out.h"
#include "sigcli.h"

struct scan_pool {
    const struct mg_sig_result *sig;
    const struct mg_options *opt;
    struct mg_report **reports;
    size_t next;
    pthread_mutex_t mu;
    int failed;
};

static void *
scan_worker(void *arg)
{
    struct scan_pool *p = arg;
    struct mg_scanner *s = NULL;
    if (mg_scanner_new(p->opt, &s) != MG_OK) {
        pthread_mutex_lock(&p->mu);
        p->failed = 1;
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    size_t n = mg_sig_result_file_count(p->sig);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next < n ? p->next++ : SIZE_MAX;
        pthread_mutex_unlock(&p->mu);
        if (i == SIZE_MAX)
            break;
        struct mg_report *r = NULL;
        /* A file that cannot be opened still gets a report (verdict
           error); with none at all the model is refused below. */
        (void)mg_scan_file(s, mg_sig_result_file(p->sig, i)->path, &r);
        p->reports[i] = r;
    }
    mg_scanner_free(s);
    return NULL;
}

/* Scan every file of the verified model on up to jobs threads. */
static int
scan_all(const struct mg_sig_result *sig,
         const struct mg_options *opt,
         unsigned jobs,
         struct mg_report **reports)
{
    struct scan_pool p;
    memset(&p, 0, sizeof(p));
    p.sig = sig;
    p.opt = opt;
    p.reports = reports;
    pthread_mutex_init(&p.mu, NULL);
    size_t n = mg_sig_result_file_count(sig);
    size_t nt = jobs < n ? jobs : n;
    pthread_t th[MG_SIG_MAX_JOBS];
    size_t started = 0;
    for (size_t i = 1; i < nt; i++)
        if (pthread_create(&th[started], NULL, scan_worker, &p) == 0)
            started++;
    scan_worker(&p);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.mu);
    return p.failed;
}

/* Verify, printing the reasons; 0 verified, else the exit code. */
static int
check_signature(const char *model,
                const char *signature,
                const struct mg_key *key,
                const struct mg_keyring *kr,
                unsigned jobs,
                struct mg_sig_result **out)
{
    struct mg_sig_options opt;
    sigcli_sig_options(&opt, NULL, 0, jobs);
    enum mg_status st = mg_verify_model(model, signature, key, kr, &opt, out);
    if (st != MG_OK) {
        fprintf(stderr, "modelgate check: %s: %s\n", model, mg_strerror(st));
        return EXIT_ERROR;
    }
    sigcli_print_reasons(stdout, *out, signature);
    enum mg_sig_verdict v = mg_sig_result_verdict(*out);
    if (v == MG_SIG_VERIFIED)
        return 0;
    printf("REFUSED: %s: signature %s\n", model,
           v == MG_SIG_FAILED ? "does not verify against a trusted key"
                              : "could not be checked (read error)");
    return EXIT_FOUND;
}

int
cmd_check(int argc, char **argv)
{
    const char *key_path = NULL, *keyring_dir = NULL, *signature = NULL;
    const char *fail_on_s = "suspicious", *policy_file = NULL;
    struct opt_list pos = {0};
    int verbose = 0, help = 0;
    uint64_t jobs = sigcli_default_jobs();
    const struct opt table[] = {
        {"keyring", 0, OPT_STRING, "DIR",
         "trusted public keys (default: $MODELGATE_KEYRING)", &keyring_dir,
         NULL},
        {"key", 'k', OPT_STRING, "PUB.pem", "trust this one public key",
         &key_path, NULL},
        {"signature", 's', OPT_STRING, "FILE",
         "the signature (default: MODEL/model.sig, or MODEL.sig for a file)",
         &signature, NULL},
        {"fail-on", 0, OPT_STRING, "LEVEL",
         "refuse a file at LEVEL or worse: unknown, suspicious (default), "
         "dangerous",
         &fail_on_s, NULL},
        {"policy", 0, OPT_STRING, "FILE",
         "extend the scanner's allowlist from FILE", &policy_file, NULL},
        {"jobs", 'j', OPT_U64, "N", "files at a time (default: cores)", &jobs,
         NULL},
        {"verbose", 'v', OPT_FLAG, NULL, "show every file's verdict", &verbose,
         NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &help, NULL},
    };
    const size_t nt = sizeof(table) / sizeof(table[0]);
    struct mg_key *key = NULL;
    struct mg_keyring *kr = NULL;
    struct mg_policy *policy = NULL;
    struct mg_sig_result *sig = NULL;
    struct mg_report **reports = NULL;
    size_t nfiles = 0;
    int rc;
    if (sigcli_parse(table, nt, argc, argv, &pos, "check", &help,
                     "usage: modelgate check [--keyring DIR | --key PUB.pem] "
                     "[--signature FILE] MODEL_PATH\n\n"
                     "Admit a model: its signature must verify against a "
                     "trusted key, then every file\nis scanned. Exit status: "
                     "0 admitted, 1 refused (reasons on standard "
                     "output),\n2 could not run (bad usage, unreadable "
                     "keyring).\n\noptions:\n",
                     &rc))
        goto out;
    if (keyring_dir == NULL && key_path == NULL)
        keyring_dir = getenv("MODELGATE_KEYRING");
    int fail_on = parse_level(fail_on_s);
    if (pos.n != 1 || fail_on < 0 || jobs == 0 || jobs > MG_SIG_MAX_JOBS ||
        (keyring_dir != NULL && key_path != NULL)) {
        fprintf(stderr, "usage: modelgate check [--keyring DIR | --key "
                        "PUB.pem] [--fail-on LEVEL] [-j 1..256] "
                        "MODEL_PATH\n");
        rc = EXIT_ERROR;
        goto out;
    }
    if (keyring_dir == NULL && key_path == NULL) {
        fprintf(stderr, "modelgate check: no trusted key: give --keyring "
                        "DIR or --key PUB.pem (or set MODELGATE_KEYRING)\n");
        rc = EXIT_ERROR;
        goto out;
    }
    const char *model = pos.v[0];
    char defbuf[4096];
    signature =
        sigcli_signature("check", model, signature, defbuf, sizeof(defbuf));
    if (signature == NULL) {
        rc = EXIT_ERROR;
        goto out;
    }
    rc = sigcli_trust("check", key_path, keyring_dir, &key, &kr);
    if (rc != 0)
        goto out;
    struct mg_options sopt;
    mg_options_init(&sopt);
    if (policy_file != NULL) {
        unsigned line = 0;
        enum mg_status st = mg_policy_new(&policy);
        if (st == MG_OK)
            st = mg_policy_load(policy, policy_file, &line);
        if (st != MG_OK) {
            fprintf(stderr, "modelgate check: %s:%u: %s\n", policy_file, line,
                    mg_strerror(st));
            rc = EXIT_ERROR;
            goto out;
        }
        sopt.policy = policy;
    }
    rc = check_signature(model, signature, key, kr, (unsigned)jobs, &sig);
    if (rc != 0)
        goto out;

    nfiles = mg_sig_result_file_count(sig);
    reports = calloc(nfiles ? nfiles : 1, sizeof(*reports));
    if (reports == NULL || scan_all(sig, &sopt, (unsigned)jobs, reports) != 0) {
        fprintf(stderr, "modelgate check: out of memory\n");
        rc = EXIT_ERROR;
        goto out;
    }
    struct out o;
    out_init(&o, OUT_TEXT, stdout, verbose, 0, 0);
    size_t refused = 0;
    for (size_t i = 0; i < nfiles; i++) {
        const struct mg_sig_file *f = mg_sig_result_file(sig, i);
        struct mg_report *r = reports[i];
        if (r == NULL) {
            printf("%s: could not be scanned\n", f->path);
            refused++;
            continue;
        }
        enum mg_verdict v = mg_report_verdict(r);
        int bad = v == MG_VERDICT_ERROR ||
                  (v != MG_VERDICT_SAFE && (int)v >= fail_on);
        if (bad || verbose)
            out_file(&o, r);
        if (bad)
            refused++;
    }
    if (refused > 0) {
        printf("REFUSED: %s: signature verified (key %s), but %zu of %zu "
               "file%s did not pass the scan\n",
               model, mg_sig_result_key_hint(sig), refused, nfiles,
               nfiles == 1 ? "" : "s");
        rc = EXIT_FOUND;
    } else {
        printf("ADMITTED: %s: signature verified (key %s), %zu file%s "
               "scanned, none at or above %s\n",
               model, mg_sig_result_key_hint(sig), nfiles,
               nfiles == 1 ? "" : "s", fail_on_s);
        rc = EXIT_CLEAN;
    }
out:
    for (size_t i = 0; reports != NULL && i < nfiles; i++)
        mg_report_free(reports[i]);
    free(reports);
    mg_sig_result_free(sig);
    mg_policy_free(policy);
    mg_key_free(key);
    mg_keyring_free(kr);
    opt_list_free(&pos);
    return rc;
}
