#include "sigcli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

const char *
sigcli_default_signature(const char *model, char *buf, size_t len)
{
    struct stat sb;
    int dir = stat(model, &sb) == 0 && S_ISDIR(sb.st_mode);
    size_t n = strlen(model);
    while (n > 1 && model[n - 1] == '/')
        n--;
    int k =
        dir ? snprintf(buf, len, "%.*s/%s", (int)n, model, MG_SIG_DEFAULT_NAME)
            : snprintf(buf, len, "%.*s.sig", (int)n, model);
    return k > 0 && (size_t)k < len ? buf : NULL;
}

const char *
sigcli_signature(const char *cmd,
                 const char *model,
                 const char *given,
                 char *buf,
                 size_t len)
{
    if (given != NULL)
        return given;
    const char *s = sigcli_default_signature(model, buf, len);
    if (s == NULL)
        fprintf(stderr, "modelgate %s: model path too long\n", cmd);
    return s;
}

int
sigcli_trust(const char *cmd,
             const char *key_path,
             const char *keyring_dir,
             struct mg_key **key,
             struct mg_keyring **kr)
{
    return key_path ? sigcli_load_key(cmd, key_path, NULL, key)
                    : sigcli_load_keyring(cmd, keyring_dir, kr);
}

int
sigcli_parse(const struct opt *table,
             size_t nt,
             int argc,
             char **argv,
             struct opt_list *pos,
             const char *cmd,
             const int *help,
             const char *usage,
             int *rc)
{
    *rc = opt_parse(table, nt, argc, argv, pos, cmd);
    if (*rc != 0)
        return 1;
    if (!*help)
        return 0;
    fputs(usage, stdout);
    opt_help(stdout, table, nt);
    return 1;
}

void
sigcli_sig_options(struct mg_sig_options *opt,
                   char **ign,
                   size_t nign,
                   unsigned jobs)
{
    mg_sig_options_init(opt);
    opt->ignore = (const char *const *)ign;
    opt->n_ignore = nign;
    opt->jobs = jobs;
}

size_t
sigcli_signed_files(const struct mg_sig_result *r)
{
    size_t n = 0;
    for (size_t i = 0; i < mg_sig_result_file_count(r); i++)
        if (mg_sig_result_file(r, i)->state == MG_SIG_FILE_SIGNED)
            n++;
    return n;
}

int
sigcli_adapter_setup(const char *cmd,
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
                     size_t *nign)
{
    if (npos != 0) {
        fprintf(stderr, "modelgate %s: no positional arguments\n", cmd);
        return EXIT_ERROR;
    }
    if (method == NULL || model == NULL || bundle == NULL) {
        fprintf(stderr,
                "modelgate %s: --method, --model-path and --%s are "
                "required\n",
                cmd, bundle_flag);
        return EXIT_ERROR;
    }
    if (strcmp(method, "key") != 0 || key_path == NULL) {
        fprintf(stderr,
                "modelgate %s: only --method key (with its key) is "
                "supported\n",
                cmd);
        return EXIT_FOUND;
    }
    if (sigcli_load_key(cmd, key_path, NULL, key) != 0)
        return EXIT_FOUND;
    if (need_private && !mg_key_is_private(*key)) {
        fprintf(stderr, "modelgate %s: %s: not a private key\n", cmd, key_path);
        return EXIT_FOUND;
    }
    if (sigcli_ignores(cmd, model, ignore, 1, ign, nign) != 0)
        return EXIT_FOUND;
    return 0;
}

static char *
read_password(const char *path, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (read_all(path, 4096, &buf, &len, err, errlen) != 0)
        return NULL;
    /* one line: the trailing newline is not part of the passphrase */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    char *p = malloc(len + 1);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
    } else {
        memcpy(p, buf, len);
        p[len] = '\0';
    }
    free(buf);
    return p;
}

int
sigcli_load_key(const char *cmd,
                const char *path,
                const char *password_file,
                struct mg_key **out)
{
    char err[256] = "";
    char *pass = NULL;
    if (password_file != NULL) {
        pass = read_password(password_file, err, sizeof(err));
        if (pass == NULL) {
            fprintf(stderr, "modelgate %s: %s: %s\n", cmd, password_file, err);
            return EXIT_ERROR;
        }
    }
    enum mg_status st = mg_key_load(path, pass, out, err, sizeof(err));
    if (pass != NULL) {
        memset(pass, 0, strlen(pass));
        free(pass);
    }
    if (st != MG_OK) {
        fprintf(stderr, "modelgate %s: %s: %s\n", cmd, path,
                err[0] ? err : mg_strerror(st));
        return EXIT_ERROR;
    }
    return 0;
}

int
sigcli_load_keyring(const char *cmd, const char *dir, struct mg_keyring **out)
{
    char err[512] = "";
    enum mg_status st = mg_keyring_load(dir, out, err, sizeof(err));
    if (st != MG_OK) {
        fprintf(stderr, "modelgate %s: keyring %s: %s\n", cmd, dir,
                err[0] ? err : mg_strerror(st));
        return EXIT_ERROR;
    }
    return 0;
}

void
sigcli_free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int
sigcli_ignores(const char *cmd,
               const char *model,
               const struct opt_list *in,
               int drop_outside,
               char ***out,
               size_t *n)
{
    *out = NULL;
    *n = 0;
    if (in->n == 0)
        return 0;
    char **v = calloc(in->n, sizeof(*v));
    if (v == NULL) {
        fprintf(stderr, "modelgate %s: out of memory\n", cmd);
        return EXIT_ERROR;
    }
    size_t k = 0;
    for (size_t i = 0; i < in->n; i++) {
        char buf[4096 + 1];
        const char *why = NULL;
        enum mg_status st =
            mg_sig_ignore_path(model, in->v[i], buf, sizeof(buf), &why);
        if (st == MG_E_INVALID && drop_outside && in->v[i][0] == '/')
            continue;
        if (st != MG_OK) {
            fprintf(stderr, "modelgate %s: ignore path '%s': %s\n", cmd,
                    in->v[i], why ? why : mg_strerror(st));
            sigcli_free_list(v, k);
            return EXIT_ERROR;
        }
        v[k] = strdup(buf);
        if (v[k] == NULL) {
            fprintf(stderr, "modelgate %s: out of memory\n", cmd);
            sigcli_free_list(v, k);
            return EXIT_ERROR;
        }
        k++;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Names come from the disk or a bundle: print control bytes escaped so
   that a file name cannot forge output lines. */
static void
print_safe(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

void
sigcli_print_reasons(FILE *f,
                     const struct mg_sig_result *r,
                     const char *signature)
{
    for (size_t i = 0; i < mg_sig_result_count(r); i++) {
        const struct mg_sig_reason *x = mg_sig_result_get(r, i);
        print_safe(f, x->path ? x->path : signature);
        fprintf(f, ": %s: ", mg_sig_code_name(x->code));
        print_safe(f, x->message);
        fputc('\n', f);
    }
    if (mg_sig_result_dropped(r) > 0)
        fprintf(f, "(%llu more reasons not shown)\n",
                (unsigned long long)mg_sig_result_dropped(r));
}

int
sigcli_write_file(const char *cmd,
                  const char *path,
                  const char *text,
                  size_t len)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (tmp == NULL) {
        fprintf(stderr, "modelgate %s: out of memory\n", cmd);
        return EXIT_ERROR;
    }
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "modelgate %s: %s: %s\n", cmd, path, strerror(errno));
        free(tmp);
        return EXIT_ERROR;
    }
    int rc = 0;
    size_t off = 0;
    while (off < len) {
        ssize_t k = write(fd, text + off, len - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = errno;
            break;
        }
        off += (size_t)k;
    }
    /* mkstemp makes 0600; a signature is public */
    if (rc == 0 && fchmod(fd, 0644) != 0)
        rc = errno;
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc != 0) {
        fprintf(stderr, "modelgate %s: %s: %s\n", cmd, path, strerror(rc));
        unlink(tmp);
        free(tmp);
        return EXIT_ERROR;
    }
    free(tmp);
    return 0;
}

unsigned
sigcli_default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > MG_SIG_MAX_JOBS ? MG_SIG_MAX_JOBS : (unsigned)n;
}

void
sigcli_throughput(const struct mg_sig_result *r, char *buf, size_t len)
{
    double mb = (double)mg_sig_result_bytes_hashed(r) / 1e6;
    double s = mg_sig_result_hash_seconds(r);
    if (s > 0)
        snprintf(buf, len, "%.1f MB in %.2f s, %.0f MB/s", mb, s, mb / s);
    else
        snprintf(buf, len, "%.1f MB", mb);
}
