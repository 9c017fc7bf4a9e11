/*
 * sigcli.h - what the sign, verify, check and OMS adapter commands share:
 * key loading, ignore paths, the default signature location, printing the
 * reasons of a result and writing a bundle safely.
 */
#ifndef MG_CLI_SIGCLI_H
#define MG_CLI_SIGCLI_H

#include <stddef.h>
#include <stdio.h>

#include "modelgate/mg_sign.h"
#include "opt.h"

/* opt_parse() for cmd, then --help (*help, set by the table): usage, then
   the options, on standard output. 1 when the command ends there, *rc its
   exit code (0 after --help, EXIT_ERROR on bad usage); else 0, *rc 0. */
int sigcli_parse(const struct opt *table,
                 size_t nt,
                 int argc,
                 char **argv,
                 struct opt_list *pos,
                 const char *cmd,
                 const int *help,
                 const char *usage,
                 int *rc);

/* mg_sig_options_init(), then the ignore list and the number of jobs. */
void sigcli_sig_options(struct mg_sig_options *opt,
                        char **ign,
                        size_t nign,
                        unsigned jobs);

/* How many files of r are MG_SIG_FILE_SIGNED. */
size_t sigcli_signed_files(const struct mg_sig_result *r);

/* The signature path when none is given: MODEL/model.sig for a folder,
   MODEL.sig for a file. Returns buf, or NULL when it does not fit. */
const char *sigcli_default_signature(const char *model, char *buf, size_t len);

/* given, or else the default signature path (into buf); NULL after
   printing an error when the model path is too long. */
const char *sigcli_signature(const char *cmd,
                             const char *model,
                             const char *given,
                             char *buf,
                             size_t len);

/* Load the trust anchor: one key, or a keyring (exactly one is non-NULL).
   0, or EXIT_ERROR after printing why. */
int sigcli_trust(const char *cmd,
                 const char *key_path,
                 const char *keyring_dir,
                 struct mg_key **key,
                 struct mg_keyring **kr);

/* The OMS adapter's checks and loading: no positional arguments (npos
   of them given), method "key", the required flags (bundle_flag names
   the bundle option), the key, the ignore paths (outside ones dropped).
   0, or the exit code to return. */
int sigcli_adapter_setup(const char *cmd,
                         size_t npos,
                         const char *method,
                         const char *model,
                         const char *bundle,
                         const char *bundle_flag,
                         const char *key_path,
                         int need_private,
                         const struct opt_list *ignore,
                         struct mg_key **key,
                         char ***ign,
                         size_t *nign);

/* Load a key; on failure print "modelgate CMD: PATH: why" and return
   EXIT_ERROR, else 0. password_file may be NULL. */
int sigcli_load_key(const char *cmd,
                    const char *path,
                    const char *password_file,
                    struct mg_key **out);

/* Load a keyring the same way. */
int
sigcli_load_keyring(const char *cmd, const char *dir, struct mg_keyring **out);

/* Convert user ignore paths to model-relative names (*out: a malloc'd
   array of malloc'd strings, free with sigcli_free_list). Paths outside
   the model are an error, or silently dropped when drop_outside is set
   (the OMS adapter: model_signing drops them). */
int sigcli_ignores(const char *cmd,
                   const char *model,
                   const struct opt_list *in,
                   int drop_outside,
                   char ***out,
                   size_t *n);
void sigcli_free_list(char **v, size_t n);

/* One line per reason: "NAME: code: message" (NAME is the file, or the
   signature file for reasons about the bundle). */
void sigcli_print_reasons(FILE *f,
                          const struct mg_sig_result *r,
                          const char *signature);

/* Write text to path atomically (temporary file in the same folder,
   then rename). Prints why on failure and returns EXIT_ERROR. */
int sigcli_write_file(const char *cmd,
                      const char *path,
                      const char *text,
                      size_t len);

/* Online CPUs, at least 1, at most MG_SIG_MAX_JOBS. */
unsigned sigcli_default_jobs(void);

/* "12.3 MB/s" style throughput of a result, into buf. */
void sigcli_throughput(const struct mg_sig_result *r, char *buf, size_t len);

#endif
