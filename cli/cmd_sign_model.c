/*
 * cmd_sign_model.c - `modelgate sign-model`: the signing half of the OMS
 * conformance adapter CLI protocol (sampras343/model-signing-conformance,
 * docs/conformance_adapter_cli_protocol.md), so that the public
 * conformance suite can run modelgate. Only the exit code is read: 0 the
 * bundle was written, 1 signing failed, 2 bad usage.
 */
#include "cli.h"
#include "opt.h"
#include "sigcli.h"

int
cmd_sign_model(int argc, char **argv)
{
    const char *method = NULL, *model = NULL, *bundle = NULL, *key_path = NULL;
    const char *cert = NULL;
    struct opt_list ignore = {0}, chain = {0}, pos = {0};
    int help = 0;
    const struct opt table[] = {
        {"method", 0, OPT_STRING, "METHOD", "signing method: key (only)",
         &method, NULL},
        {"model-path", 0, OPT_STRING, "PATH", "model folder or file", &model,
         NULL},
        {"output-bundle", 0, OPT_STRING, "FILE", "where to write the bundle",
         &bundle, NULL},
        {"private-key", 0, OPT_STRING, "KEY.pem", "EC private key (PEM)",
         &key_path, NULL},
        {"ignore-paths", 0, OPT_MULTI, "PATH",
         "absolute path to leave out; repeatable (paths outside the model "
         "are dropped, as model_signing does)",
         &ignore, NULL},
        {"signing-cert", 0, OPT_STRING, "FILE",
         "certificate method: not supported", &cert, NULL},
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
    if (sigcli_parse(table, nt, argc, argv, &pos, "sign-model", &help,
                     "usage: modelgate sign-model --method key --model-path "
                     "PATH --output-bundle FILE --private-key KEY.pem "
                     "[--ignore-paths PATH]...\n\nOMS conformance adapter: "
                     "sign, exit 0 on success.\n\noptions:\n",
                     &rc))
        goto out;
    rc = sigcli_adapter_setup("sign-model", pos.n, method, model, bundle,
                              "output-bundle", key_path, 1, &ignore, &key, &ign,
                              &nign);
    if (rc != 0)
        goto out;
    struct mg_sig_options opt;
    sigcli_sig_options(&opt, ign, nign, sigcli_default_jobs());
    enum mg_status st = mg_sign_model(model, bundle, key, &opt, &r);
    if (st != MG_OK || mg_sig_result_verdict(r) != MG_SIG_VERIFIED) {
        if (r != NULL)
            sigcli_print_reasons(stderr, r, model);
        fprintf(stderr, "modelgate sign-model: %s: not signed\n", model);
        rc = EXIT_FOUND;
        goto out;
    }
    size_t len = 0;
    const char *text = mg_sig_result_bundle(r, &len);
    rc = sigcli_write_file("sign-model", bundle, text, len) ? EXIT_FOUND : 0;
out:
    mg_sig_result_free(r);
    mg_key_free(key);
    sigcli_free_list(ign, nign);
    opt_list_free(&ignore);
    opt_list_free(&chain);
    opt_list_free(&pos);
    return rc;
}
