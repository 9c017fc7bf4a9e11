/*
 * sign_int.h - internals of src/sign: the one place that knows OpenSSL
 * (keys.c, hash.c) and jansson (bundle.c). Pure helpers (names.c, b64.c)
 * have no dependency and are unit-tested directly.
 *
 * Flow of a sign:   walk.c (enumerate, ignore, refuse) -> hash.c (threads)
 *                   -> bundle.c (statement, PAE, bundle) -> keys.c (ECDSA)
 * Flow of a verify: bundle.c (parse, strictly) -> keys.c (pick key, check
 *                   the signature) -> bundle.c (statement -> manifest)
 *                   -> walk.c + hash.c -> compare (verify.c).
 */
#ifndef MG_SIGN_SIGN_INT_H
#define MG_SIGN_SIGN_INT_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/limits.h"
#include "modelgate/mg_sign.h"

#define SIG_BUNDLE_MEDIA_TYPE "application/vnd.dev.sigstore.bundle.v0.3+json"
#define SIG_PAYLOAD_TYPE      "application/vnd.in-toto+json"
#define SIG_STATEMENT_TYPE    "https://in-toto.io/Statement/v1"
#define SIG_PREDICATE_TYPE    "https://model_signing/signature/v1.0"
/* The v0.2 predicate (per-file subjects): verify-only in model_signing,
   and only for certificate bundles in practice; we name it to refuse it
   with a clear reason. */
#define SIG_PREDICATE_TYPE_V01 "https://model_signing/Digests/v0.1"

#define SIG_MAX_DIGEST 64 /* BLAKE2b-512 */

/* ---- names.c: model-relative names (pure) ---- */

/* NULL when name (len bytes, no NUL inside) is a canonical relative name:
   non-empty, not absolute, no empty, "." or ".." component, no trailing
   "/", valid UTF-8, at most MG_SIG_MAX_NAME bytes; otherwise why not.
   allow_dot accepts the single-file name ".". */
const char *sig_name_check(const char *name, size_t len, int allow_dot);
/* Component-wise order (as Python sorts PurePosixPath): "a/b" < "a-b". */
int sig_name_cmp(const char *a, const char *b);
/* 1 when name equals prefix or lies below it (component prefix). */
int sig_name_under(const char *name, const char *prefix);
/* Canonical form of a user-given relative path ("./a//b/" -> "a/b"), in
   a new string (mg_free); NULL with *why set when it cannot be one
   (absolute, "..", empty, the root itself) or out of memory (*why NULL). */
char *sig_name_normalize(const char *p, const char **why);
/* Last component of a path, ignoring trailing slashes, into buf. */
void sig_basename(const char *path, char *buf, size_t len);

/* ---- b64.c: base64 and hex (pure) ---- */

/* Standard base64 with padding; returns a new NUL-terminated string. */
char *sig_b64_encode(const uint8_t *in, size_t n);
/* Standard or URL-safe alphabet (as protobuf JSON accepts), padding
   optional but exact when present, no whitespace. MG_E_MALFORMED or
   MG_E_NOMEM; *out (mg_free) gets a NUL after the data. */
enum mg_status
sig_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);
/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void sig_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2*outlen hex digits (either case) -> out; 0 on success. */
int sig_hex_decode(const char *s, size_t n, uint8_t *out, size_t outlen);

/* ---- result.c ---- */

struct mg_sig_result {
    struct mg_sig_reason *reasons;
    size_t n_reasons, cap_reasons;
    uint64_t dropped;
    int failed; /* a failure reason was added */
    int io;     /* an I/O reason was added */
    int nomem;
    struct mg_sig_file *files; /* strings owned (allocated here) */
    size_t n_files;
    uint64_t bytes_hashed;
    double hash_seconds;
    char key_hint[65];
    char *bundle;
    size_t bundle_len;
};

struct mg_sig_result *sig_result_new(void);
/* Record a reason (copies path and the message). Failures set r->failed,
   MG_SIG_R_IO sets r->io, notes neither. MG_E_NOMEM only. */
__attribute__((format(printf, 4, 5))) enum mg_status
sig_result_add(struct mg_sig_result *r,
               enum mg_sig_code code,
               const char *path,
               const char *fmt,
               ...);

/* ---- walk.c: what is on disk ---- */

enum sig_entry_kind {
    SIG_ENTRY_FILE = 0, /* a regular file to hash */
    SIG_ENTRY_IGNORED   /* a regular file under an ignore path */
};

struct sig_entry {
    char *name; /* canonical relative name; "." for a single file */
    char *path; /* what to open */
    enum sig_entry_kind kind;
    int via_symlink; /* reached through a symbolic link (allowed) */
    dev_t dev;
    ino_t ino;
    uint64_t size;
    /* filled by hash.c */
    int want; /* to be hashed */
    int done;
    int err;     /* errno of a failed open/read, 0 if fine */
    int swapped; /* not the file the walk saw (replaced meanwhile) */
    uint8_t digest[SIG_MAX_DIGEST];
    size_t dlen;
    uint64_t bytes;
};

struct sig_model {
    char *root;      /* model path as given, without trailing slashes */
    char *root_real; /* its realpath */
    char name[256];  /* subject name: last component */
    int single;      /* model is one file */
    struct sig_entry *v;
    size_t n, cap;
};

struct sig_walk_cfg {
    /* canonical relative names, matched from the model root as component
       prefixes: skip ones are left out entirely (git paths, the signature
       file); ignore ones are walked and listed as SIG_ENTRY_IGNORED (so
       that `check` can still scan them) but never hashed. */
    const char *const *skip;
    size_t n_skip;
    const char *const *ignore;
    size_t n_ignore;
    int allow_symlinks;
    /* when set, refusals (symlink, special file, bad name) of files that
       are not in this sorted list are notes, not failures (verify with
       ignore_unsigned_files). */
    const char *const *signed_names;
    size_t n_signed;
};

/* The default ignores of model_signing, matched at the model root only. */
extern const char *const sig_git_paths[4];

/* Enumerate the model. Refusals become reasons in r; returns MG_OK unless
   out of memory or a limit was hit (then also a reason). */
enum mg_status sig_walk(const char *model_path,
                        const struct sig_walk_cfg *cfg,
                        struct sig_model *m,
                        struct mg_sig_result *r);
void sig_model_free(struct sig_model *m);
/* Relative name of path inside the folder model_path (path need not
   exist, its folder must), or NULL when it lies outside, is the root, the
   model is not a folder, or out of memory; new string (mg_free). */
char *sig_relative_inside(const char *model_path, const char *path);

/* ---- sign.c: shared by sign and verify ---- */

/* The skip and ignore lists of one operation (all strings owned). */
struct sig_lists {
    char **skip;
    size_t n_skip;
    char **ignore;
    size_t n_ignore;
    char *sig_rel; /* the signature file inside the model, or NULL */
};

/* skip: git paths (if asked) and the signature file; ignore: the user's
   (normalized) and extra (already canonical, e.g. recorded ones). An
   unusable user path gives MG_E_INVALID and a reason. */
enum mg_status sig_lists_build(struct sig_lists *l,
                               const char *model_path,
                               const char *signature_path,
                               const struct mg_sig_options *opt,
                               char *const *extra,
                               size_t n_extra,
                               struct mg_sig_result *r);
void sig_lists_free(struct sig_lists *l);
/* Move the model's files into the result's file list; signed[i] says
   whether entry i was signed (NULL: every FILE entry was). */
enum mg_status sig_result_files(struct mg_sig_result *r,
                                const struct sig_model *m,
                                const unsigned char *is_signed);
/* Hash the entries with want set; account bytes and time; failures of
   single files become reasons. MG_E_NOMEM when it could not run. */
enum mg_status sig_hash_model(struct mg_sig_result *r,
                              struct sig_model *m,
                              const char *algorithm,
                              unsigned jobs);

/* ---- hash.c: file digests on threads (OpenSSL) ---- */

/* Hash every entry with want set, with algorithm "sha256" or "blake2b",
   on up to jobs threads. Per-file failures are recorded in the entry;
   returns MG_E_NOMEM / MG_E_INTERNAL only when it could not run. */
enum mg_status sig_hash_entries(struct sig_model *m,
                                const char *algorithm,
                                unsigned jobs,
                                double *seconds);
/* Digest size for an algorithm name; 0 when unknown. */
size_t sig_hash_size(const char *algorithm);
/* SHA-256 of a buffer. */
void sig_sha256(const void *buf, size_t n, uint8_t out[32]);

/* ---- keys.c: ECDSA (OpenSSL) ---- */

/* DER ECDSA signature of msg with the curve's hash; *sig is mg_free'd. */
enum mg_status sig_key_sign(const struct mg_key *k,
                            const uint8_t *msg,
                            size_t n,
                            uint8_t **sig,
                            size_t *siglen);
/* 1 valid, 0 not, -1 could not run. */
int sig_key_verify(const struct mg_key *k,
                   const uint8_t *msg,
                   size_t n,
                   const uint8_t *sig,
                   size_t siglen);
/* Read a whole regular file of at most max bytes into *buf (mg_free,
   NUL-terminated). MG_E_IO (with *eno), MG_E_LIMIT, MG_E_NOMEM. */
enum mg_status
sig_read_file(const char *path, size_t max, char **buf, size_t *len, int *eno);
/* DSSE v1 pre-authentication encoding of payload (mg_free). */
enum mg_status
sig_pae(const uint8_t *payload, size_t n, uint8_t **out, size_t *outlen);

/* ---- bundle.c: OMS JSON (jansson) ---- */

struct sig_resource {
    char *name;
    uint8_t digest[SIG_MAX_DIGEST];
    size_t dlen;
};

/* What the bundle's envelope holds, before the signature is checked. */
struct sig_envelope {
    char hint[65]; /* "" when absent */
    int has_raw_key;
    uint8_t *payload;
    size_t payload_len;
    uint8_t *sig;
    size_t sig_len;
};

/* The signed statement. */
struct sig_manifest {
    char hash_type[16];
    int allow_symlinks;
    char **ignore; /* canonical relative names recorded */
    size_t n_ignore;
    struct sig_resource *res;
    size_t n_res;
};

/* Parse a bundle strictly. Anything wrong becomes one reason (malformed,
   media type, unsupported) and MG_E_MALFORMED/MG_E_UNSUPPORTED. */
enum mg_status sig_envelope_parse(const void *buf,
                                  size_t len,
                                  struct sig_envelope *env,
                                  struct mg_sig_result *r);
void sig_envelope_free(struct sig_envelope *env);
/* Parse and check a signed statement (after the signature verified). */
enum mg_status sig_manifest_parse(const uint8_t *payload,
                                  size_t len,
                                  struct sig_manifest *man,
                                  struct mg_sig_result *r);
void sig_manifest_free(struct sig_manifest *man);
/* Build the bundle of a hashed model: entries (kind FILE) sorted, the
   statement, its signature, the JSON. Sets r->bundle. */
enum mg_status sig_bundle_make(const struct sig_model *m,
                               const char *const *ignores,
                               size_t n_ignores,
                               int allow_symlinks,
                               const struct mg_key *key,
                               struct mg_sig_result *r);

#endif
