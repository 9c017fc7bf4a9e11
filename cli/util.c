#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int
parse_level(const char *s)
{
    if (strcmp(s, "unknown") == 0)
        return MG_SEV_UNKNOWN;
    if (strcmp(s, "suspicious") == 0)
        return MG_SEV_SUSPICIOUS;
    if (strcmp(s, "dangerous") == 0)
        return MG_SEV_DANGEROUS;
    return -1;
}

int
read_all(const char *path,
         uint64_t max,
         unsigned char **buf,
         size_t *len,
         char *err,
         size_t errlen)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                snprintf(err, errlen, "larger than %llu bytes",
                         (unsigned long long)max);
                goto fail;
            }
            size_t nc = cap * 2;
            unsigned char *nb = realloc(b, nc);
            if (nb == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            b = nb;
            cap = nc;
        }
        ssize_t k = read(fd, b + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            goto fail;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    if (fd != 0)
        close(fd);
    *buf = b;
    *len = n;
    return 0;
fail:
    free(b);
    if (fd > 0)
        close(fd);
    return -1;
}

/* Is path an existing regular file (following links)? */
static int
is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
load_target(struct mg_scanner *s,
            const char *arg,
            void **buf,
            size_t *len,
            const char *cmd)
{
    char *path = strdup(arg);
    if (path == NULL) {
        fprintf(stderr, "modelgate %s: out of memory\n", cmd);
        return EXIT_ERROR;
    }
    const char *member = NULL;
    if (strcmp(arg, "-") != 0 && !is_file(path)) {
        /* FILE!MEMBER: the longest existing file before a '!' */
        for (char *bang = strrchr(path, '!'); bang != NULL;
             bang = strrchr(path, '!')) {
            *bang = '\0';
            if (is_file(path)) {
                member = arg + (bang - path) + 1;
                break;
            }
        }
        if (member == NULL) {
            free(path);
            path = strdup(arg);
            if (path == NULL) {
                fprintf(stderr, "modelgate %s: out of memory\n", cmd);
                return EXIT_ERROR;
            }
        }
    }
    int rc = EXIT_CLEAN;
    if (strcmp(arg, "-") == 0) {
        unsigned char *b = NULL;
        char err[200];
        if (read_all("-", UINT64_MAX, &b, len, err, sizeof(err)) != 0) {
            fprintf(stderr, "modelgate %s: standard input: %s\n", cmd, err);
            rc = EXIT_ERROR;
        } else {
            *buf = b;
        }
    } else {
        enum mg_status st = mg_extract_member(s, path, member, buf, len);
        if (st != MG_OK) {
            fprintf(stderr, "modelgate %s: %s\n", cmd, mg_scanner_errmsg(s));
            rc = EXIT_ERROR;
        }
    }
    free(path);
    return rc;
}

void
free_target(const char *arg, void *buf)
{
    if (strcmp(arg, "-") == 0)
        free(buf);
    else
        mg_buffer_free(buf);
}

int
open_target(uint64_t max_bytes,
            const char *arg,
            const char *cmd,
            struct mg_scanner **s,
            void **buf,
            size_t *len)
{
    struct mg_options opt;
    mg_options_init(&opt);
    opt.limits.max_member_bytes = max_bytes;
    *s = NULL;
    if (mg_scanner_new(&opt, s) != MG_OK) {
        fprintf(stderr, "modelgate %s: out of memory\n", cmd);
        return EXIT_ERROR;
    }
    int rc = load_target(*s, arg, buf, len, cmd);
    if (rc != EXIT_CLEAN) {
        mg_scanner_free(*s);
        *s = NULL;
    }
    return rc;
}
