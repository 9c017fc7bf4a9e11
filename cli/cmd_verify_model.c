/*
 * cmd_verify_model.c - `modelgate verify-model`: the verifying half of the
 * OMS conformance adapter CLI protocol. Exit 0 verified, 1 not (reasons on
 * standard error), 2 bad usage.
 */
#include "cli.h"
#include "opt.h"
#include "sigcli.h"

int
cmd_verify_model(int argc, char **argv)
{
    const char *method = NULL, *model = NULL, *bundle = NULL, *key_path = NULL;
    struct opt_list ignore = {0}, chain = {0}, pos = {0};
    int unsigned_ok = 0, help = 0;
    const struct opt table[] = {
        {"method", 0, OPT_STRING, "METHOD", "signing method: key (only)",
         &method, NULL},
        {"model-path", 0, OPT_STRING, "PATH", "model folder or file", &model,
         NULL},
        {"bundle", 0, OPT_STRING, "FILE", "the bundle to verify", &bundle,
         NULL},
        {"public-key", 0, OPT_STRING, "PUB.pem", "EC public key (PEM)",
         &key_path, NULL},
        {"ignore-paths", 0, OPT_MULTI, "PATH",
         "absolute path to leave out; repeatable", &ignore, NULL},
        {"ignore-unsigned-files", 0, OPT_FLAG, NULL,
         "accept files the bundle does not name", &unsigned_ok, NULL},
        {"cert-chain", 0, OPT_MULTI, "FILE",
         "certificate method: not supported", &chain, NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &help, NULL},
    };
    const size_t nt = sizeof(table) / sizeof(table[0]);
    struct mg_key *key = NULL;
    struct mg_sig_result *r = NULL;
    char **ign = NULL;
    size_t nign = 0;
    int rc;
    if (sigcli_parse(table, nt, argc, argv, &pos, "verify-model", &help,
                     "usage: modelgate verify-model --method key --model-path "
                     "PATH --bundle FILE --public-key PUB.pem [--ignore-paths "
                     "PATH]... [--ignore-unsigned-files]\n\nOMS conformance "
                     "adapter: verify, exit 0 when verified.\n\noptions:\n",
                     &rc))
        goto out;
    rc =
        sigcli_adapter_setup("verify-model", pos.n, method, model, bundle,
                             "bundle", key_path, 0, &ignore, &key, &ign, &nign);
    if (rc != 0)
        goto out;
    struct mg_sig_options opt;
    sigcli_sig_options(&opt, ign, nign, sigcli_default_jobs());
    opt.ignore_unsigned_files = unsigned_ok;
    enum mg_status st = mg_verify_model(model, bundle, key, NULL, &opt, &r);
    if (st != MG_OK) {
        fprintf(stderr, "modelgate verify-model: %s\n", mg_strerror(st));
        rc = EXIT_FOUND;
        goto out;
    }
    sigcli_print_reasons(stderr, r, bundle);
    rc = mg_sig_result_verdict(r) == MG_SIG_VERIFIED ? 0 : EXIT_FOUND;
out:
    mg_sig_result_free(r);
    mg_key_free(key);
    sigcli_free_list(ign, nign);
    opt_list_free(&ignore);
    opt_list_free(&chain);
    opt_list_free(&pos);
    return rc;
}
