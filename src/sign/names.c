/*
 * names.c - model-relative file names: the checks a name from a bundle
 * must pass before it is joined to the model path, the order
 * model_signing sorts them in, and ignore-path matching.
 */
#include <string.h>

#include "core/alloc.h"
#include "io/utf8.h"
#include "sign/sign_int.h"

const char *
sig_name_check(const char *name, size_t len, int allow_dot)
{
    if (len == 0)
        return "empty name";
    if (len > MG_SIG_MAX_NAME)
        return "name too long";
    if (memchr(name, '\0', len) != NULL)
        return "name contains a NUL byte";
    if (!mg_utf8_valid(name, len))
        return "name is not valid UTF-8";
    if (len == 1 && name[0] == '.')
        return allow_dot ? NULL : "name \".\" for a file in a folder";
    if (name[0] == '/')
        return "absolute name";
    if (name[len - 1] == '/')
        return "name ends with '/'";
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && name[i] != '/')
            continue;
        size_t clen = i - start;
        if (clen == 0)
            return "empty path component";
        if (clen == 1 && name[start] == '.')
            return "'.' path component";
        if (clen == 2 && name[start] == '.' && name[start + 1] == '.')
            return "'..' path component (leaves the model)";
        start = i + 1;
    }
    return NULL;
}

/*
 * Python compares PurePosixPath objects by their parts, so a component
 * ends before any byte: the same as comparing bytes with '/' ranked
 * lowest. Names never hold NUL, and UTF-8 byte order is code point order.
 */
int
sig_name_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;
    for (;; x++, y++) {
        unsigned cx = *x == '/' ? 1u : *x == 0 ? 0u : (unsigned)*x + 1u;
        unsigned cy = *y == '/' ? 1u : *y == 0 ? 0u : (unsigned)*y + 1u;
        if (cx != cy)
            return cx < cy ? -1 : 1;
        if (cx == 0)
            return 0;
    }
}

int
sig_name_under(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0)
        return 0;
    return name[n] == '\0' || name[n] == '/';
}

char *
sig_name_normalize(const char *p, const char **why)
{
    *why = NULL;
    size_t len = strlen(p);
    if (len == 0) {
        *why = "empty path";
        return NULL;
    }
    if (p[0] == '/') {
        *why = "absolute path";
        return NULL;
    }
    if (len > MG_SIG_MAX_NAME) {
        *why = "path too long";
        return NULL;
    }
    char *out = mg_malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        size_t clen = j - i;
        if (clen == 2 && p[i] == '.' && p[i + 1] == '.') {
            mg_free(out);
            *why = "'..' leaves the model";
            return NULL;
        }
        if (clen > 0 && !(clen == 1 && p[i] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p + i, clen);
            o += clen;
        }
        i = j + 1;
    }
    out[o] = '\0';
    if (o == 0) {
        mg_free(out);
        *why = "the model root itself";
        return NULL;
    }
    const char *bad = sig_name_check(out, o, 0);
    if (bad != NULL) {
        mg_free(out);
        *why = bad;
        return NULL;
    }
    return out;
}

void
sig_basename(const char *path, char *buf, size_t len)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/')
        s--;
    size_t k = n - s;
    if (k >= len)
        k = len - 1;
    memcpy(buf, path + s, k);
    buf[k] = '\0';
}
