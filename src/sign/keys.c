/*
 * keys.c - EC keys (OpenSSL 3 libcrypto): PEM loading, the bundle key
 * hint, keyrings, ECDSA over the DSSE pre-authentication encoding.
 *
 * Only NIST P-256/P-384/P-521 are accepted, each with the hash
 * model_signing pairs with it (SHA-256/384/512): a key on another curve
 * would make bundles the reference tool refuses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/alloc.h"
#include "io/ckd.h"
#include "sign/sign_int.h"

struct mg_key {
    EVP_PKEY *pkey;
    int is_private;
    const char *curve; /* "P-256" ... */
    const char *md;    /* "SHA256" ... */
    char hint[65];
    char *pem; /* public key PEM text */
};

struct mg_keyring {
    struct mg_key **keys;
    char **sources;
    size_t n, cap;
};

__attribute__((format(printf, 3, 4))) static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int
contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Passphrase callback: never prompts (a library must not read the
   terminal); an encrypted key without a passphrase simply fails. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *p = u;
    if (p == NULL || size <= 0)
        return -1;
    size_t n = strlen(p);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, p, n);
    return (int)n;
}

static const struct {
    const char *group;
    const char *curve;
    const char *md;
} curves[] = {
    {"prime256v1", "P-256", "SHA256"},
    {"secp384r1", "P-384", "SHA384"},
    {"secp521r1", "P-521", "SHA512"},
};

/* Fill k from k->pkey: curve check, public PEM, hint. */
static enum mg_status
key_finish(struct mg_key *k, char *err, size_t errlen)
{
    if (EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_EC) {
        set_err(err, errlen,
                "not an EC key (model signing uses ECDSA on P-256, P-384 "
                "or P-521)");
        return MG_E_UNSUPPORTED;
    }
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_group_name(k->pkey, group, sizeof(group), &glen) != 1) {
        set_err(err, errlen, "EC key without a named curve");
        return MG_E_UNSUPPORTED;
    }
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (strcmp(group, curves[i].group) == 0) {
            k->curve = curves[i].curve;
            k->md = curves[i].md;
        }
    }
    if (k->curve == NULL) {
        set_err(err, errlen,
                "curve %s is not supported (P-256, P-384 and P-521 are)",
                group);
        return MG_E_UNSUPPORTED;
    }
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return MG_E_NOMEM;
    enum mg_status st = MG_OK;
    if (PEM_write_bio_PUBKEY(b, k->pkey) != 1) {
        st = MG_E_INTERNAL;
        set_err(err, errlen, "cannot encode the public key");
        goto out;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || data == NULL) {
        st = MG_E_INTERNAL;
        goto out;
    }
    k->pem = mg_strndup(data, (size_t)n);
    if (k->pem == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    uint8_t h[32];
    sig_sha256(k->pem, (size_t)n, h);
    sig_hex_encode(h, sizeof(h), k->hint);
out:
    BIO_free(b);
    return st;
}

enum mg_status
mg_key_from_pem(const void *pem,
                size_t len,
                const char *passphrase,
                struct mg_key **out,
                char *err,
                size_t errlen)
{
    if (out == NULL || (pem == NULL && len > 0))
        return MG_E_INVALID;
    *out = NULL;
    if (len > MG_SIG_MAX_KEY_BYTES || len > INT32_MAX) {
        set_err(err, errlen, "key file larger than %u bytes",
                MG_SIG_MAX_KEY_BYTES);
        return MG_E_LIMIT;
    }
    struct mg_key *k = mg_calloc(1, sizeof(*k));
    if (k == NULL)
        return MG_E_NOMEM;
    enum mg_status st = MG_OK;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (b == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    k->pkey = PEM_read_bio_PrivateKey(b, NULL, pass_cb, (void *)passphrase);
    if (k->pkey != NULL) {
        k->is_private = 1;
    } else {
        ERR_clear_error();
        BIO_free(b);
        b = BIO_new_mem_buf(pem, (int)len);
        if (b == NULL) {
            st = MG_E_NOMEM;
            goto out;
        }
        k->pkey = PEM_read_bio_PUBKEY(b, NULL, pass_cb, NULL);
    }
    ERR_clear_error();
    if (k->pkey == NULL) {
        int encrypted = len > 0 && contains(pem, len, "ENCRYPTED");
        set_err(err, errlen, "%s",
                encrypted ? (passphrase ? "wrong passphrase for the "
                                          "encrypted private key"
                                        : "the private key is encrypted: a "
                                          "passphrase is needed")
                          : "no PEM public or private key found");
        st = MG_E_MALFORMED;
        goto out;
    }
    st = key_finish(k, err, errlen);
out:
    BIO_free(b);
    if (st != MG_OK) {
        mg_key_free(k);
        return st;
    }
    *out = k;
    return MG_OK;
}

/* Read a whole regular file of at most max bytes (NUL-terminated). A
   fifo or device is refused before any read could block on it. */
enum mg_status
sig_read_file(const char *path, size_t max, char **buf, size_t *len, int *eno)
{
    *buf = NULL;
    *len = 0;
    *eno = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        *eno = errno;
        return MG_E_IO;
    }
    enum mg_status st = MG_OK;
    char *b = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        *eno = errno;
    else if (!S_ISREG(sb.st_mode))
        *eno = EINVAL;
    if (*eno != 0) {
        st = MG_E_IO;
        goto out;
    }
    if ((uint64_t)sb.st_size > max) {
        st = MG_E_LIMIT;
        goto out;
    }
    /* read what stat said, no more (the file may grow meanwhile) */
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    b = mg_malloc(cap);
    if (b == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    while (n < cap - 1) {
        ssize_t k = read(fd, b + n, cap - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            *eno = errno;
            st = MG_E_IO;
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    b = NULL;
out:
    mg_free(b);
    close(fd);
    return st;
}

enum mg_status
mg_key_load(const char *path,
            const char *passphrase,
            struct mg_key **out,
            char *err,
            size_t errlen)
{
    if (path == NULL || out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    char *buf;
    size_t len;
    int eno;
    enum mg_status st =
        sig_read_file(path, MG_SIG_MAX_KEY_BYTES, &buf, &len, &eno);
    if (st == MG_E_LIMIT) {
        set_err(err, errlen, "larger than %u bytes", MG_SIG_MAX_KEY_BYTES);
        return st;
    }
    if (st != MG_OK) {
        set_err(err, errlen, "%s",
                st == MG_E_IO ? strerror(eno) : mg_strerror(st));
        return st;
    }
    st = mg_key_from_pem(buf, len, passphrase, out, err, errlen);
    /* a private key was in this buffer */
    memset(buf, 0, len);
    mg_free(buf);
    return st;
}

void
mg_key_free(struct mg_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    mg_free(k->pem);
    mg_free(k);
}

int
mg_key_is_private(const struct mg_key *k)
{
    return k ? k->is_private : 0;
}

const char *
mg_key_curve(const struct mg_key *k)
{
    return k ? k->curve : NULL;
}

const char *
mg_key_hint(const struct mg_key *k)
{
    return k ? k->hint : NULL;
}

const char *
mg_key_public_pem(const struct mg_key *k)
{
    return k ? k->pem : NULL;
}

enum mg_status
sig_pae(const uint8_t *payload, size_t n, uint8_t **out, size_t *outlen)
{
    char head[96];
    int h = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ",
                     strlen(SIG_PAYLOAD_TYPE), SIG_PAYLOAD_TYPE, n);
    if (h < 0 || (size_t)h >= sizeof(head))
        return MG_E_INTERNAL;
    size_t total;
    if (ckd_add_size(&total, (size_t)h, n))
        return MG_E_LIMIT;
    uint8_t *b = mg_malloc(total);
    if (b == NULL)
        return MG_E_NOMEM;
    memcpy(b, head, (size_t)h);
    if (n > 0)
        memcpy(b + h, payload, n);
    *out = b;
    *outlen = total;
    return MG_OK;
}

enum mg_status
sig_key_sign(const struct mg_key *k,
             const uint8_t *msg,
             size_t n,
             uint8_t **sig,
             size_t *siglen)
{
    *sig = NULL;
    *siglen = 0;
    if (!k->is_private)
        return MG_E_INVALID;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return MG_E_NOMEM;
    enum mg_status st = MG_E_INTERNAL;
    uint8_t *b = NULL;
    size_t len = 0;
    if (EVP_DigestSignInit_ex(ctx, NULL, k->md, NULL, NULL, k->pkey, NULL) !=
            1 ||
        EVP_DigestSign(ctx, NULL, &len, msg, n) != 1)
        goto out;
    b = mg_malloc(len);
    if (b == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    if (EVP_DigestSign(ctx, b, &len, msg, n) != 1)
        goto out;
    *sig = b;
    *siglen = len;
    b = NULL;
    st = MG_OK;
out:
    ERR_clear_error();
    mg_free(b);
    EVP_MD_CTX_free(ctx);
    return st;
}

int
sig_key_verify(const struct mg_key *k,
               const uint8_t *msg,
               size_t n,
               const uint8_t *sig,
               size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -1;
    int rc = -1;
    if (EVP_DigestVerifyInit_ex(ctx, NULL, k->md, NULL, NULL, k->pkey, NULL) !=
        1)
        goto out;
    /* 1: valid; 0: invalid; <0: malformed DER and such, also invalid. */
    rc = EVP_DigestVerify(ctx, sig, siglen, msg, n) == 1 ? 1 : 0;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ---- keyrings ---- */

static int
keyring_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    return (n > 4 && strcmp(name + n - 4, ".pem") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".pub") == 0);
}

static enum mg_status
keyring_add(struct mg_keyring *kr, struct mg_key *k, const char *src)
{
    if (kr->n == kr->cap) {
        size_t nc = kr->cap ? kr->cap * 2 : 8;
        struct mg_key **nk = mg_reallocarray(kr->keys, nc, sizeof(*nk));
        if (nk == NULL)
            return MG_E_NOMEM;
        kr->keys = nk;
        char **ns = mg_reallocarray(kr->sources, nc, sizeof(*ns));
        if (ns == NULL)
            return MG_E_NOMEM;
        kr->sources = ns;
        kr->cap = nc;
    }
    char *s = mg_strdup(src);
    if (s == NULL)
        return MG_E_NOMEM;
    kr->keys[kr->n] = k;
    kr->sources[kr->n] = s;
    kr->n++;
    return MG_OK;
}

enum mg_status
mg_keyring_load(const char *dir,
                struct mg_keyring **out,
                char *err,
                size_t errlen)
{
    if (dir == NULL || out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    DIR *d = opendir(dir);
    if (d == NULL) {
        set_err(err, errlen, "%s", strerror(errno));
        return MG_E_IO;
    }
    struct mg_keyring *kr = mg_calloc(1, sizeof(*kr));
    enum mg_status st = kr ? MG_OK : MG_E_NOMEM;
    struct dirent *e;
    while (st == MG_OK && (errno = 0, e = readdir(d)) != NULL) {
        if (!keyring_name_ok(e->d_name))
            continue;
        if (kr->n >= MG_SIG_MAX_KEYRING_KEYS) {
            set_err(err, errlen, "more than %u keys", MG_SIG_MAX_KEYRING_KEYS);
            st = MG_E_LIMIT;
            break;
        }
        size_t plen = strlen(dir) + strlen(e->d_name) + 2;
        char *p = mg_malloc(plen);
        if (p == NULL) {
            st = MG_E_NOMEM;
            break;
        }
        snprintf(p, plen, "%s/%s", dir, e->d_name);
        char kerr[200];
        struct mg_key *k = NULL;
        st = mg_key_load(p, NULL, &k, kerr, sizeof(kerr));
        if (st == MG_OK) {
            st = keyring_add(kr, k, e->d_name);
            if (st != MG_OK)
                mg_key_free(k);
        } else if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s: %s", e->d_name, kerr);
        }
        mg_free(p);
    }
    if (st == MG_OK && errno != 0 && e == NULL) {
        set_err(err, errlen, "%s", strerror(errno));
        st = MG_E_IO;
    }
    closedir(d);
    if (st == MG_OK && kr->n == 0) {
        set_err(err, errlen, "no *.pem or *.pub key in the folder");
        st = MG_E_MALFORMED;
    }
    if (st != MG_OK) {
        mg_keyring_free(kr);
        return st;
    }
    *out = kr;
    return MG_OK;
}

void
mg_keyring_free(struct mg_keyring *kr)
{
    if (kr == NULL)
        return;
    for (size_t i = 0; i < kr->n; i++) {
        mg_key_free(kr->keys[i]);
        mg_free(kr->sources[i]);
    }
    mg_free(kr->keys);
    mg_free(kr->sources);
    mg_free(kr);
}

size_t
mg_keyring_count(const struct mg_keyring *kr)
{
    return kr ? kr->n : 0;
}

const struct mg_key *
mg_keyring_get(const struct mg_keyring *kr, size_t i)
{
    return kr && i < kr->n ? kr->keys[i] : NULL;
}

const char *
mg_keyring_source(const struct mg_keyring *kr, size_t i)
{
    return kr && i < kr->n ? kr->sources[i] : NULL;
}
