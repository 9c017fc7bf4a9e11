#include "opt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
opt_list_add(struct opt_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        const char **nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = s;
    return 0;
}

void
opt_list_free(struct opt_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int
opt_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0' &&
        !((end[1] == 'i' || end[1] == 'B') && end[2] == '\0') &&
        !(end[1] == 'i' && end[2] == 'B' && end[3] == '\0'))
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static const struct opt *
find_long(const struct opt *t, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].name) == len && strncmp(t[i].name, name, len) == 0)
            return &t[i];
    return NULL;
}

static const struct opt *
find_short(const struct opt *t, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].shortname == c)
            return &t[i];
    return NULL;
}

static int
apply(const struct opt *o, const char *arg, const char *cmd)
{
    switch (o->kind) {
    case OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    case OPT_STRING:
        *(const char **)o->dst = arg;
        return 0;
    case OPT_OPTIONAL:
        *(const char **)o->dst = arg != NULL ? arg : "";
        return 0;
    case OPT_MULTI:
        if (opt_list_add(o->dst, arg) != 0) {
            fprintf(stderr, "modelgate %s: out of memory\n", cmd);
            return 2;
        }
        return 0;
    case OPT_U64:
        if (opt_parse_u64(arg, o->dst) != 0) {
            fprintf(stderr,
                    "modelgate %s: --%s needs a number (K, M, G suffixes "
                    "allowed), not '%s'\n",
                    cmd, o->name, arg);
            return 2;
        }
        return 0;
    case OPT_CUSTOM:
        if (o->fn(arg, o->dst) != 0) {
            fprintf(stderr, "modelgate %s: bad value for --%s: '%s'\n", cmd,
                    o->name, arg);
            return 2;
        }
        return 0;
    default:
        return 2;
    }
}

int
opt_parse(const struct opt *t,
          size_t n,
          int argc,
          char **argv,
          struct opt_list *pos,
          const char *cmd)
{
    int only_pos = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || strcmp(a, "-") == 0) {
            if (opt_list_add(pos, a) != 0)
                return 2;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const struct opt *o;
        const char *val = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            o = find_long(t, n, a + 2, len);
            if (o == NULL) {
                fprintf(stderr,
                        "modelgate %s: unknown option '%.*s' (see "
                        "'modelgate %s --help')\n",
                        cmd, (int)(len + 2), a, cmd);
                return 2;
            }
            if (eq != NULL) {
                if (o->kind == OPT_FLAG) {
                    fprintf(stderr, "modelgate %s: --%s takes no value\n", cmd,
                            o->name);
                    return 2;
                }
                val = eq + 1;
            }
        } else {
            o = find_short(t, n, a[1]);
            if (o == NULL || (a[2] != '\0' && o->kind == OPT_FLAG) ||
                o->kind == OPT_OPTIONAL) {
                fprintf(stderr,
                        "modelgate %s: unknown option '%s' (see "
                        "'modelgate %s --help')\n",
                        cmd, a, cmd);
                return 2;
            }
            if (a[2] != '\0')
                val = a + 2;
        }
        if (o->kind != OPT_FLAG && o->kind != OPT_OPTIONAL && val == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "modelgate %s: --%s needs a value\n", cmd,
                        o->name);
                return 2;
            }
            val = argv[++i];
        }
        int rc = apply(o, val, cmd);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void
opt_help(FILE *f, const struct opt *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char left[64];
        if (t[i].kind == OPT_OPTIONAL)
            snprintf(left, sizeof(left), "    --%s[=%s]", t[i].name,
                     t[i].argname);
        else if (t[i].shortname)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", t[i].shortname,
                     t[i].name, t[i].argname ? " " : "",
                     t[i].argname ? t[i].argname : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", t[i].name,
                     t[i].argname ? " " : "", t[i].argname ? t[i].argname : "");
        fprintf(f, "  %-30s %s\n", left, t[i].help);
    }
}
