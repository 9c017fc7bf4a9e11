/*
 * cmd_verify.c - modelgate verify: check an OMS signature (ours or one
 * model_signing made) against a public key or a keyring, and say exactly
 * what does not match.
 */
#include <string.h>

#include "cli.h"
#include "opt.h"
#include "sigcli.h"

int
cmd_verify(int argc, char **argv)
{
    const char *key_path = NULL, *keyring_dir = NULL, *signature = NULL;
    struct opt_list ignore = {0}, pos = {0};
    int unsigned_ok = 0, no_git = 0, help = 0;
    uint64_t jobs = sigcli_default_jobs();
    const struct opt table[] = {
        {"key", 'k', OPT_STRING, "PUB.pem", "the signer's public key (PEM)",
         &key_path, NULL},
        {"keyring", 0, OPT_STRING, "DIR",
         "trusted public keys (*.pem, *.pub); the signature's key hint "
         "picks one",
         &keyring_dir, NULL},
        {"signature", 's', OPT_STRING, "FILE",
         "the signature (default: MODEL/model.sig for a folder, MODEL.sig "
         "for a file)",
         &signature, NULL},
        {"ignore", 0, OPT_MULTI, "PATH",
         "also leave PATH out (relative to the model, or absolute inside "
         "it); repeatable",
         &ignore, NULL},
        {"ignore-unsigned-files", 0, OPT_FLAG, NULL,
         "accept files the signature does not name (signed ones must all "
         "match)",
         &unsigned_ok, NULL},
        {"no-ignore-git-paths", 0, OPT_FLAG, NULL,
         "do not leave out .git, .gitattributes, .github, .gitignore", &no_git,
         NULL},
        {"jobs", 'j', OPT_U64, "N", "hash N files at a time (default: cores)",
         &jobs, NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &help, NULL},
    };
    const size_t nt = sizeof(table) / sizeof(table[0]);
    struct mg_key *key = NULL;
    struct mg_keyring *kr = NULL;
    struct mg_sig_result *r = NULL;
    char **ign = NULL;
    size_t nign = 0;
    int rc;
    if (sigcli_parse(table, nt, argc, argv, &pos, "verify", &help,
                     "usage: modelgate verify --key PUB.pem|--keyring DIR "
                     "[--signature FILE] [--ignore PATH]... MODEL_PATH\n\n"
                     "Verify an OpenSSF model-signing (OMS v1.0) signature of "
                     "a model folder or file.\nExit status: 0 verified, 1 "
                     "verification failed (reasons on standard output), 2 "
                     "error\n(bad usage, unreadable key or files).\n\n"
                     "options:\n",
                     &rc))
        goto out;
    if (pos.n != 1 || (key_path == NULL) == (keyring_dir == NULL) ||
        jobs == 0 || jobs > MG_SIG_MAX_JOBS) {
        fprintf(stderr, "usage: modelgate verify --key PUB.pem|--keyring DIR "
                        "[--signature FILE] [--ignore PATH]... [-j 1..256] "
                        "MODEL_PATH\n");
        rc = EXIT_ERROR;
        goto out;
    }
    const char *model = pos.v[0];
    char defbuf[4096];
    signature =
        sigcli_signature("verify", model, signature, defbuf, sizeof(defbuf));
    if (signature == NULL) {
        rc = EXIT_ERROR;
        goto out;
    }
    rc = sigcli_trust("verify", key_path, keyring_dir, &key, &kr);
    if (rc == 0)
        rc = sigcli_ignores("verify", model, &ignore, 0, &ign, &nign);
    if (rc != 0)
        goto out;
    struct mg_sig_options opt;
    sigcli_sig_options(&opt, ign, nign, (unsigned)jobs);
    opt.ignore_unsigned_files = unsigned_ok;
    opt.ignore_git_paths = !no_git;
    enum mg_status st = mg_verify_model(model, signature, key, kr, &opt, &r);
    if (st != MG_OK) {
        fprintf(stderr, "modelgate verify: %s: %s\n", model, mg_strerror(st));
        rc = EXIT_ERROR;
        goto out;
    }
    sigcli_print_reasons(stdout, r, signature);
    enum mg_sig_verdict v = mg_sig_result_verdict(r);
    size_t nsigned = sigcli_signed_files(r);
    if (v == MG_SIG_VERIFIED) {
        char tp[96];
        sigcli_throughput(r, tp, sizeof(tp));
        printf("verified: %s: %zu file%s the signature of key %s\n", model,
               nsigned, nsigned == 1 ? " matches" : "s match",
               mg_sig_result_key_hint(r));
        fprintf(stderr, "modelgate verify: hashed %s\n", tp);
        rc = EXIT_CLEAN;
    } else {
        size_t n = mg_sig_result_count(r);
        printf("%s: %s: %zu reason%s\n",
               v == MG_SIG_FAILED ? "FAILED" : "ERROR", model, n,
               n == 1 ? "" : "s");
        rc = v == MG_SIG_FAILED ? EXIT_FOUND : EXIT_ERROR;
    }
out:
    mg_sig_result_free(r);
    mg_key_free(key);
    mg_keyring_free(kr);
    sigcli_free_list(ign, nign);
    opt_list_free(&ignore);
    opt_list_free(&pos);
    return rc;
}
