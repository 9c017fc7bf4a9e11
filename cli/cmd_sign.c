/*
 * cmd_sign.c - modelgate sign: write an OMS (OpenSSF model signing v1.0)
 * signature of a model folder or file, that model_signing verifies too.
 */
#include <string.h>

#include "cli.h"
#include "opt.h"
#include "sigcli.h"

int
cmd_sign(int argc, char **argv)
{
    const char *key_path = NULL, *output = NULL, *password_file = NULL;
    struct opt_list ignore = {0}, pos = {0};
    int allow_symlinks = 0, no_git = 0, help = 0;
    uint64_t jobs = sigcli_default_jobs();
    const struct opt table[] = {
        {"key", 'k', OPT_STRING, "KEY.pem",
         "EC private key (P-256, P-384, P-521), PEM", &key_path, NULL},
        {"output", 'o', OPT_STRING, "FILE",
         "where to write the signature (default: MODEL/model.sig for a "
         "folder, MODEL.sig for a file)",
         &output, NULL},
        {"ignore", 0, OPT_MULTI, "PATH",
         "leave PATH out (relative to the model, or absolute inside it); "
         "repeatable; recorded in the signature",
         &ignore, NULL},
        {"allow-symlinks", 0, OPT_FLAG, NULL,
         "hash the target of symbolic links (default: refuse them)",
         &allow_symlinks, NULL},
        {"no-ignore-git-paths", 0, OPT_FLAG, NULL,
         "also sign .git, .gitattributes, .github, .gitignore", &no_git, NULL},
        {"key-password-file", 0, OPT_STRING, "FILE",
         "passphrase of an encrypted key (first line of FILE)", &password_file,
         NULL},
        {"jobs", 'j', OPT_U64, "N", "hash N files at a time (default: cores)",
         &jobs, NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &help, NULL},
    };
    const size_t nt = sizeof(table) / sizeof(table[0]);
    struct mg_key *key = NULL;
    struct mg_sig_result *r = NULL;
    char **ign = NULL;
    size_t nign = 0;
    int rc;
    if (sigcli_parse(table, nt, argc, argv, &pos, "sign", &help,
                     "usage: modelgate sign --key KEY.pem [--ignore PATH]... "
                     "[--output FILE] MODEL_PATH\n\n"
                     "Sign a model folder or file with an OpenSSF "
                     "model-signing (OMS v1.0) bundle.\nExit status: 0 "
                     "signed, 1 the model was refused (symbolic link, special "
                     "file,\nempty model...), 2 error (bad usage, key, "
                     "I/O).\n\noptions:\n",
                     &rc))
        goto out;
    if (pos.n != 1 || key_path == NULL || jobs == 0 || jobs > MG_SIG_MAX_JOBS) {
        fprintf(stderr, "usage: modelgate sign --key KEY.pem [--ignore "
                        "PATH]... [--output FILE] [-j 1..256] MODEL_PATH\n");
        rc = EXIT_ERROR;
        goto out;
    }
    const char *model = pos.v[0];
    char defbuf[4096];
    output = sigcli_signature("sign", model, output, defbuf, sizeof(defbuf));
    if (output == NULL) {
        rc = EXIT_ERROR;
        goto out;
    }
    rc = sigcli_load_key("sign", key_path, password_file, &key);
    if (rc != 0)
        goto out;
    if (!mg_key_is_private(key)) {
        fprintf(stderr, "modelgate sign: %s: a public key cannot sign\n",
                key_path);
        rc = EXIT_ERROR;
        goto out;
    }
    rc = sigcli_ignores("sign", model, &ignore, 0, &ign, &nign);
    if (rc != 0)
        goto out;
    struct mg_sig_options opt;
    sigcli_sig_options(&opt, ign, nign, (unsigned)jobs);
    opt.allow_symlinks = allow_symlinks;
    opt.ignore_git_paths = !no_git;
    enum mg_status st = mg_sign_model(model, output, key, &opt, &r);
    if (st != MG_OK) {
        fprintf(stderr, "modelgate sign: %s: %s\n", model, mg_strerror(st));
        rc = EXIT_ERROR;
        goto out;
    }
    enum mg_sig_verdict v = mg_sig_result_verdict(r);
    sigcli_print_reasons(v == MG_SIG_VERIFIED ? stdout : stderr, r, model);
    if (v != MG_SIG_VERIFIED) {
        fprintf(stderr, "modelgate sign: %s: not signed\n", model);
        rc = v == MG_SIG_FAILED ? EXIT_FOUND : EXIT_ERROR;
        goto out;
    }
    size_t len = 0;
    const char *text = mg_sig_result_bundle(r, &len);
    rc = sigcli_write_file("sign", output, text, len);
    if (rc != 0)
        goto out;
    size_t nsigned = sigcli_signed_files(r);
    char tp[96];
    sigcli_throughput(r, tp, sizeof(tp));
    printf("signed: %s: %zu file%s, %s key %s\n", output, nsigned,
           nsigned == 1 ? "" : "s", mg_key_curve(key), mg_key_hint(key));
    fprintf(stderr, "modelgate sign: hashed %s\n", tp);
out:
    mg_sig_result_free(r);
    mg_key_free(key);
    sigcli_free_list(ign, nign);
    opt_list_free(&ignore);
    opt_list_free(&pos);
    return rc;
}
