/*
 * mg_sign.h - sign and verify ML models with OpenSSF model-signing (OMS
 * v1.0) bundles, key method (ECDSA P-256, P-384, P-521), byte-compatible
 * with the reference `model_signing` tool in both directions.
 *
 * Pattern of use:
 *
 *     struct mg_key *key = NULL;
 *     char err[256];
 *     if (mg_key_load("pub.pem", NULL, &key, err, sizeof(err)) != MG_OK) ...
 *     struct mg_sig_options opt;
 *     mg_sig_options_init(&opt);              // defaults: 1 thread, git
 * ignores opt.jobs = 4; struct mg_sig_result *r = NULL; enum mg_status st =
 * mg_verify_model("model/", "model/model.sig", key, NULL, &opt, &r);
 *     // st says whether verification could run; the verdict is data:
 *     if (st == MG_OK && mg_sig_result_verdict(r) == MG_SIG_VERIFIED) ...
 *     for (size_t i = 0; i < mg_sig_result_count(r); i++)
 *         show(mg_sig_result_get(r, i));      // which file changed, and why
 *     mg_sig_result_free(r);
 *     mg_key_free(key);
 *
 * Signing is the same with a private key and mg_sign_model(); the bundle
 * text is then in the result (mg_sig_result_bundle). Keys, keyrings and
 * options are immutable once built and may be shared between threads; a
 * result belongs to one thread. The library never prints.
 */
#ifndef MODELGATE_MG_SIGN_H
#define MODELGATE_MG_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Name of the signature file when none is given (in the model folder). */
#define MG_SIG_DEFAULT_NAME "model.sig"
/** Most hashing threads one call will start. */
#define MG_SIG_MAX_JOBS 256

/*
 * Keys: an EC key on NIST P-256, P-384 or P-521 (the only curves the
 * reference tool accepts), public or private.
 */
struct mg_key;

/**
 * Load a PEM key from a file: a private key ("PRIVATE KEY", "EC PRIVATE
 * KEY", encrypted ones with @p passphrase) or a public key ("PUBLIC KEY").
 * Text before the PEM block is skipped. @param[out] out receives the key,
 * to free with mg_key_free(). On failure, @p err (may be NULL) receives a
 * sentence saying why. Returns MG_E_IO, MG_E_MALFORMED (no usable PEM
 * key), MG_E_UNSUPPORTED (not EC, or another curve), MG_E_LIMIT (file too
 * large), MG_E_NOMEM.
 */
MG_API enum mg_status mg_key_load(const char *path,
                                  const char *passphrase,
                                  struct mg_key **out,
                                  char *err,
                                  size_t errlen);
/** The same from PEM text in memory (borrowed for the call). */
MG_API enum mg_status mg_key_from_pem(const void *pem,
                                      size_t len,
                                      const char *passphrase,
                                      struct mg_key **out,
                                      char *err,
                                      size_t errlen);
/** Free a key; NULL is a no-op. */
MG_API void mg_key_free(struct mg_key *k);
/** 1 when the key can sign. */
MG_API int mg_key_is_private(const struct mg_key *k);
/** "P-256", "P-384" or "P-521"; static. */
MG_API const char *mg_key_curve(const struct mg_key *k);
/**
 * The key's hint as bundles carry it: lowercase hex SHA-256 of the PEM
 * SubjectPublicKeyInfo text. Owned by the key.
 */
MG_API const char *mg_key_hint(const struct mg_key *k);
/**
 * The public key as PEM text (NUL-terminated, owned by the key): what to
 * hand to verifiers, e.g. `modelgate keygen` style export.
 */
MG_API const char *mg_key_public_pem(const struct mg_key *k);

/*
 * Keyrings: the public keys a site trusts. A bundle's key hint picks the
 * key; a bundle without a hint is tried against every key.
 */
struct mg_keyring;

/**
 * Load every "*.pem" and "*.pub" file of folder @p dir (not recursive;
 * other names are skipped). Every such file must hold one usable public
 * (or private) EC key, else the keyring is refused: a trust store with a
 * broken entry is an operator error, not something to skip silently.
 * @param[out] out receives the keyring (free with mg_keyring_free()).
 */
MG_API enum mg_status mg_keyring_load(const char *dir,
                                      struct mg_keyring **out,
                                      char *err,
                                      size_t errlen);
MG_API void mg_keyring_free(struct mg_keyring *kr);
MG_API size_t mg_keyring_count(const struct mg_keyring *kr);
/** The i-th key (borrowed from the keyring); NULL when out of range. */
MG_API const struct mg_key *mg_keyring_get(const struct mg_keyring *kr,
                                           size_t i);
/** File name the i-th key came from (borrowed); NULL when out of range. */
MG_API const char *mg_keyring_source(const struct mg_keyring *kr, size_t i);

/*
 * Options of sign and verify.
 */
struct mg_sig_options {
    /** Paths to leave out, relative to the model root ("cache",
        "sub/notes.txt"); a folder leaves out its subtree. Borrowed. On
        sign they are recorded in the bundle; on verify they add to the
        ones the bundle records. */
    const char *const *ignore;
    size_t n_ignore;
    /** Leave out .git, .gitattributes, .github, .gitignore at the model
        root (default 1, as model_signing does). */
    int ignore_git_paths;
    /** Sign: hash the target of symbolic links under the link's name
        (default 0: a symbolic link refuses the model). Verify uses what
        the bundle records. */
    int allow_symlinks;
    /** Verify: files present but not named in the signature are allowed
        (still, every signed file must be there and match). */
    int ignore_unsigned_files;
    /** Hashing threads (default 1, at most MG_SIG_MAX_JOBS). */
    unsigned jobs;
};

/** Fill *opt with the defaults. */
MG_API void mg_sig_options_init(struct mg_sig_options *opt);

/**
 * Turn an ignore path as a user gives it into the model-relative name the
 * options and bundles use: a relative path is relative to the model root
 * ("./a//b/" gives "a/b"); an absolute one must lie inside the model
 * folder (its parent folder must exist). Returns MG_OK with the name in
 * @p buf; MG_E_INVALID with a static *why otherwise (".." components,
 * outside the model, the root itself); MG_E_LIMIT when @p len is short.
 */
MG_API enum mg_status mg_sig_ignore_path(const char *model_path,
                                         const char *path,
                                         char *buf,
                                         size_t len,
                                         const char **why);

/** Outcome of a sign or verify. */
enum mg_sig_verdict {
    MG_SIG_VERIFIED = 0, /**< verify: signature and every file match;
                              sign: the bundle was made */
    MG_SIG_FAILED = 1,   /**< verify: it does not match (see reasons);
                              sign: the model was refused */
    MG_SIG_ERROR = 2     /**< could not complete (I/O), nothing failed */
};

/** What one reason is about. */
enum mg_sig_code {
    MG_SIG_R_UNSIGNED = 0,  /**< there is no signature file */
    MG_SIG_R_MALFORMED,     /**< bundle is not a well-formed OMS bundle */
    MG_SIG_R_MEDIA_TYPE,    /**< bundle mediaType is not Sigstore v0.3 */
    MG_SIG_R_UNSUPPORTED,   /**< valid, but a method/hash we do not do */
    MG_SIG_R_KEY_MISMATCH,  /**< bundle names another key than given */
    MG_SIG_R_UNTRUSTED,     /**< no key of the keyring signed it */
    MG_SIG_R_BAD_SIGNATURE, /**< the ECDSA signature does not verify */
    MG_SIG_R_BAD_PAYLOAD,   /**< signed statement is not a valid OMS one */
    MG_SIG_R_BAD_NAME,      /**< a signed name is unsafe (absolute, ..) */
    MG_SIG_R_CHANGED,       /**< a signed file's content differs */
    MG_SIG_R_ADDED,         /**< a file is present but not signed */
    MG_SIG_R_MISSING,       /**< a signed file is absent */
    MG_SIG_R_REFUSED,       /**< the model cannot be signed/verified as
                                 it is: symlink, special file, name not
                                 UTF-8, empty model */
    MG_SIG_R_IO,            /**< a read failed */
    MG_SIG_R_NOTE           /**< not a failure: legacy format, ... */
};

/** One reason. Strings are owned by the result. */
struct mg_sig_reason {
    enum mg_sig_code code;
    const char *path;    /**< model-relative name involved, or NULL */
    const char *message; /**< one line of English */
};

/** State of one file in the result's file list. */
enum mg_sig_file_state {
    MG_SIG_FILE_SIGNED = 0, /**< named in the signature (and matched when
                                 the verdict is MG_SIG_VERIFIED) */
    MG_SIG_FILE_IGNORED,    /**< left out by an ignore path (not git
                                 paths, not the signature file) */
    MG_SIG_FILE_UNSIGNED    /**< present, not signed, allowed by
                                 ignore_unsigned_files */
};

struct mg_sig_file {
    const char *name; /**< model-relative; "." for a single-file model */
    const char *path; /**< path to open it (model path joined with name) */
    enum mg_sig_file_state state;
    uint64_t size;
};

struct mg_sig_result;

/**
 * Sign the model at @p model_path (a folder or one file) with private
 * @p key. @p signature_path is where the caller will write the bundle: it
 * is left out of the model when it lies inside it (and recorded so). It
 * may be NULL. Returns MG_OK when a result was produced (also when the
 * model was refused: verdict MG_SIG_FAILED); *out is then a new result.
 * MG_E_INVALID for a public key; MG_E_NOMEM.
 */
MG_API enum mg_status mg_sign_model(const char *model_path,
                                    const char *signature_path,
                                    const struct mg_key *key,
                                    const struct mg_sig_options *opt,
                                    struct mg_sig_result **out);

/**
 * Verify the model at @p model_path against the bundle at
 * @p signature_path, with public @p key, or else with the key of
 * @p keyring the bundle names (one of the two must be non-NULL). Returns
 * MG_OK when a result was produced, whatever it says; *out is then a new
 * result. A signature file that does not exist gives the verdict
 * MG_SIG_FAILED with reason MG_SIG_R_UNSIGNED.
 */
MG_API enum mg_status mg_verify_model(const char *model_path,
                                      const char *signature_path,
                                      const struct mg_key *key,
                                      const struct mg_keyring *keyring,
                                      const struct mg_sig_options *opt,
                                      struct mg_sig_result **out);

/**
 * The same with the bundle in memory (borrowed for the call);
 * @p signature_path (may be NULL) only serves to leave the signature file
 * out of the model.
 */
MG_API enum mg_status mg_verify_model_buffer(const char *model_path,
                                             const void *bundle,
                                             size_t len,
                                             const char *signature_path,
                                             const struct mg_key *key,
                                             const struct mg_keyring *keyring,
                                             const struct mg_sig_options *opt,
                                             struct mg_sig_result **out);

MG_API void mg_sig_result_free(struct mg_sig_result *r);
MG_API enum mg_sig_verdict mg_sig_result_verdict(const struct mg_sig_result *r);
MG_API const char *mg_sig_verdict_name(enum mg_sig_verdict v);
MG_API const char *mg_sig_code_name(enum mg_sig_code c);
/** Reasons, in the order found (failures and notes). */
MG_API size_t mg_sig_result_count(const struct mg_sig_result *r);
MG_API const struct mg_sig_reason *
mg_sig_result_get(const struct mg_sig_result *r, size_t i);
/** Reasons not kept because MG_SIG_MAX_REASONS was reached. */
MG_API uint64_t mg_sig_result_dropped(const struct mg_sig_result *r);
/** Files of the model (signed, ignored, unsigned), sorted by name. */
MG_API size_t mg_sig_result_file_count(const struct mg_sig_result *r);
MG_API const struct mg_sig_file *
mg_sig_result_file(const struct mg_sig_result *r, size_t i);
/** Bytes hashed and seconds spent hashing (for throughput). */
MG_API uint64_t mg_sig_result_bytes_hashed(const struct mg_sig_result *r);
MG_API double mg_sig_result_hash_seconds(const struct mg_sig_result *r);
/** Hint of the key that signed (verify) or signs (sign); NULL if none. */
MG_API const char *mg_sig_result_key_hint(const struct mg_sig_result *r);
/** Sign only: the bundle JSON text (NUL-terminated), owned by the result;
    NULL unless the verdict is MG_SIG_VERIFIED. */
MG_API const char *mg_sig_result_bundle(const struct mg_sig_result *r,
                                        size_t *len);

/*
 * Hashing (also used by scan --cache): SHA-256 with OpenSSL.
 */

/** SHA-256 of a buffer. */
MG_API void mg_sha256_buffer(const void *buf, size_t n, uint8_t out[32]);
/**
 * SHA-256 of a whole file, read sequentially. @param[out] size receives
 * the bytes hashed (may be NULL). MG_E_IO (errno kept) when it cannot be
 * opened or read, MG_E_NOMEM.
 */
MG_API enum mg_status
mg_sha256_file(const char *path, uint8_t out[32], uint64_t *size);

#ifdef __cplusplus
}
#endif
#endif /* MODELGATE_MG_SIGN_H */
