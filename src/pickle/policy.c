/*
 * policy.c - allowlist-first classification of imports.
 *
 * Order of the checks for a global (module m, qualified name q):
 *  1. names the machine made up (<dynamic>, <unknown>...) are suspicious at
 *     least; names holding bytes Python cannot import are unknown;
 *  2. the user's exact entries win;
 *  3. dangerous or suspicious: m or a parent package in the module table
 *     (unless (m, q) is exactly allowlisted), (m, a prefix of q) in the
 *     name table, or a component of q in the component table; the worst
 *     match wins;
 *  4. the user's module-wide entries (they cannot make 3 safe);
 *  5. safe: (m, q) exactly in the name table's allowlist;
 *  6. unknown.
 */
#include "pickle/policy.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "pickle/policy_tables.h"

struct mg_user_entry {
    char *module;
    char *name; /* "*" for the whole module and its submodules */
    enum mg_severity sev;
    int safe;
};

struct mg_policy {
    struct mg_user_entry *user;
    size_t nuser, cap;
    int builtin; /* the static built-in policy */
};

static const struct mg_policy builtin_policy = {NULL, 0, 0, 1};

const struct mg_policy *
mg_policy_builtin(void)
{
    return &builtin_policy;
}

const char *
mg_cat_text(enum mg_cat c)
{
    switch (c) {
    case CAT_SAFE:
        return "allowlisted";
    case CAT_UNKNOWN:
        return "not in the allowlist";
    case CAT_EXEC:
        return "runs code";
    case CAT_PROCESS:
        return "starts processes";
    case CAT_FILE:
        return "touches files";
    case CAT_NETWORK:
        return "opens network connections";
    case CAT_DESER:
        return "deserialises nested data";
    case CAT_IMPORT:
        return "imports modules by name";
    case CAT_PRIMITIVE:
        return "attack primitive";
    case CAT_INTERNALS:
        return "reaches interpreter internals";
    case CAT_OBFUSCATION:
        return "decodes hidden data";
    case CAT_DYNAMIC:
        return "cannot be resolved statically";
    case CAT_USER:
        return "set by the user's policy";
    default:
        return "?";
    }
}

/* Compare a length-delimited string with a C string, bytewise. */
static int
lcmp(const char *s, size_t n, const char *z)
{
    size_t zn = strlen(z);
    size_t k = n < zn ? n : zn;
    int c = memcmp(s, z, k);
    if (c != 0)
        return c;
    return n < zn ? -1 : n > zn ? 1 : 0;
}

static const struct mg_pol_mod *
find_mod(const struct mg_pol_mod *t, size_t nt, const char *m, size_t ml)
{
    size_t lo = 0, hi = nt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = lcmp(m, ml, t[mid].module);
        if (c == 0)
            return &t[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const struct mg_pol_name *
find_name(const char *m, size_t ml, const char *n, size_t nl)
{
    size_t lo = 0, hi = mg_pol_nnames;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = lcmp(m, ml, mg_pol_names[mid].module);
        if (c == 0)
            c = lcmp(n, nl, mg_pol_names[mid].name);
        if (c == 0)
            return &mg_pol_names[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void
worse(struct mg_class *cl, enum mg_severity sev, enum mg_cat cat)
{
    if (sev > cl->sev) {
        cl->sev = sev;
        cl->cat = cat;
    }
}

/* Each dotted component of s[from..n) against the component table. */
static void
check_components(struct mg_class *cl, const char *s, size_t n, int skip_first)
{
    size_t i = 0;
    int first = 1;
    while (i <= n) {
        const char *dot = memchr(s + i, '.', n - i);
        size_t e = dot ? (size_t)(dot - s) : n;
        if (!(first && skip_first)) {
            const struct mg_pol_mod *c =
                find_mod(mg_pol_components, mg_pol_ncomponents, s + i, e - i);
            if (c != NULL)
                worse(cl, c->sev, c->cat);
        }
        first = 0;
        if (dot == NULL)
            break;
        i = e + 1;
    }
}

static int
importable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int
user_matches_module(const struct mg_user_entry *e, const char *m, size_t ml)
{
    size_t el = strlen(e->module);
    if (ml < el || memcmp(m, e->module, el) != 0)
        return 0;
    return ml == el || m[el] == '.';
}

struct mg_class
mg_policy_class(const struct mg_policy *p,
                const char *m,
                size_t ml,
                const char *q,
                size_t ql)
{
    struct mg_class cl = {MG_SEV_UNKNOWN, CAT_UNKNOWN, 0};
    if (p == NULL)
        p = &builtin_policy;

    /* 1. Names the machine made up. */
    if (ml > 0 && m[0] == '<') {
        cl.sev = MG_SEV_SUSPICIOUS;
        cl.cat = CAT_DYNAMIC;
        check_components(&cl, q, ql, 0);
        return cl;
    }
    if (!importable(m, ml) || !importable(q, ql) || ml == 0)
        return cl;

    /* 2. Exact user entries. */
    for (size_t i = 0; i < p->nuser; i++) {
        const struct mg_user_entry *e = &p->user[i];
        if (strcmp(e->name, "*") != 0 && lcmp(m, ml, e->module) == 0 &&
            lcmp(q, ql, e->name) == 0) {
            cl.sev = e->safe ? MG_SEV_INFO : e->sev;
            cl.cat = CAT_USER;
            cl.safe = e->safe;
            return cl;
        }
    }

    /* 3. Dangerous and suspicious. An exact allowlist entry inside a
       dangerous module (torch.jit._pickle's list builders) is an
       exception to the module-wide entry, never to the others. */
    struct mg_class bad = {MG_SEV_INFO, CAT_UNKNOWN, 0};
    const struct mg_pol_name *exact = find_name(m, ml, q, ql);
    int allowlisted = exact != NULL && exact->sev == MG_SEV_INFO;
    for (size_t k = 0; k <= ml && !allowlisted; k++) {
        if (k == ml || m[k] == '.') {
            const struct mg_pol_mod *e =
                find_mod(mg_pol_modules, mg_pol_nmodules, m, k);
            if (e != NULL)
                worse(&bad, e->sev, e->cat);
        }
    }
    for (size_t k = 0; k <= ql; k++) {
        if (k == ql || q[k] == '.') {
            const struct mg_pol_name *e = find_name(m, ml, q, k);
            if (e != NULL && e->sev >= MG_SEV_SUSPICIOUS)
                worse(&bad, e->sev, e->cat);
        }
    }
    /* Components of the qualified name only: a.b.os is a submodule of
       a.b, not the os module, while a.b + os.system reaches os through
       attributes. */
    check_components(&bad, q, ql, 0);
    if (bad.sev >= MG_SEV_SUSPICIOUS)
        return bad;

    /* 4. Module-wide user entries. */
    for (size_t i = 0; i < p->nuser; i++) {
        const struct mg_user_entry *e = &p->user[i];
        if (strcmp(e->name, "*") == 0 && user_matches_module(e, m, ml)) {
            cl.sev = e->safe ? MG_SEV_INFO : e->sev;
            cl.cat = CAT_USER;
            cl.safe = e->safe;
            return cl;
        }
    }

    /* 5. The allowlist. */
    const struct mg_pol_name *e = find_name(m, ml, q, ql);
    if (e != NULL && e->sev == MG_SEV_INFO) {
        cl.sev = MG_SEV_INFO;
        cl.cat = CAT_SAFE;
        cl.safe = 1;
        return cl;
    }
    return cl;
}

enum mg_severity
mg_policy_classify(const struct mg_policy *p,
                   const char *module,
                   const char *name)
{
    if (module == NULL || name == NULL)
        return MG_SEV_UNKNOWN;
    return mg_policy_class(p, module, strlen(module), name, strlen(name)).sev;
}

enum mg_status
mg_policy_new(struct mg_policy **out)
{
    struct mg_policy *p = mg_calloc(1, sizeof(*p));
    if (p == NULL)
        return MG_E_NOMEM;
    *out = p;
    return MG_OK;
}

void
mg_policy_free(struct mg_policy *p)
{
    if (p == NULL || p->builtin)
        return;
    for (size_t i = 0; i < p->nuser; i++) {
        mg_free(p->user[i].module);
        mg_free(p->user[i].name);
    }
    mg_free(p->user);
    mg_free(p);
}

/* "pkg.mod:Qual.Name", "pkg.mod.Name" (split at the last dot) or
   "pkg.mod.*". */
static enum mg_status
split_qualname(const char *s, char **mod, char **name)
{
    const char *colon = strchr(s, ':');
    const char *split = colon ? colon : strrchr(s, '.');
    if (split == NULL || split == s || split[1] == '\0')
        return MG_E_INVALID;
    *mod = mg_strndup(s, (size_t)(split - s));
    *name = mg_strdup(split + 1);
    if (*mod == NULL || *name == NULL) {
        mg_free(*mod);
        mg_free(*name);
        return MG_E_NOMEM;
    }
    return MG_OK;
}

enum mg_status
mg_policy_set(struct mg_policy *p, const char *qualname, enum mg_severity sev)
{
    if (p == NULL || p->builtin || qualname == NULL ||
        (unsigned)sev > MG_SEV_DANGEROUS)
        return MG_E_INVALID;
    for (const char *c = qualname; *c; c++)
        if ((unsigned char)*c <= 0x20)
            return MG_E_INVALID;
    if (p->nuser == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        struct mg_user_entry *n = mg_reallocarray(p->user, ncap, sizeof(*n));
        if (n == NULL)
            return MG_E_NOMEM;
        p->user = n;
        p->cap = ncap;
    }
    struct mg_user_entry *e = &p->user[p->nuser];
    enum mg_status st = split_qualname(qualname, &e->module, &e->name);
    if (st != MG_OK)
        return st;
    e->sev = sev;
    e->safe = sev == MG_SEV_INFO;
    p->nuser++;
    return MG_OK;
}

enum mg_status
mg_policy_load(struct mg_policy *p, const char *path, unsigned *errline)
{
    if (errline != NULL)
        *errline = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return MG_E_IO;
    char line[1024];
    unsigned lineno = 0;
    enum mg_status st = MG_OK;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            st = MG_E_MALFORMED;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *tok[3] = {NULL, NULL, NULL};
        int n = 0;
        for (char *c = line; *c != '\0' && n < 3;) {
            while (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
                *c++ = '\0';
            if (*c == '\0')
                break;
            tok[n++] = c;
            while (*c != '\0' && *c != ' ' && *c != '\t' && *c != '\r' &&
                   *c != '\n')
                c++;
        }
        if (n == 0)
            continue;
        const char *word = tok[0], *qual = tok[1];
        enum mg_severity sev;
        if (n != 2) {
            st = MG_E_MALFORMED;
            break;
        }
        if (strcmp(word, "safe") == 0 || strcmp(word, "allow") == 0)
            sev = MG_SEV_INFO;
        else if (strcmp(word, "unknown") == 0)
            sev = MG_SEV_UNKNOWN;
        else if (strcmp(word, "suspicious") == 0)
            sev = MG_SEV_SUSPICIOUS;
        else if (strcmp(word, "dangerous") == 0 || strcmp(word, "deny") == 0)
            sev = MG_SEV_DANGEROUS;
        else {
            st = MG_E_MALFORMED;
            break;
        }
        st = mg_policy_set(p, qual, sev);
        if (st != MG_OK)
            break;
    }
    if (st == MG_OK && ferror(f))
        st = MG_E_IO;
    fclose(f);
    if (st != MG_OK && st != MG_E_IO && errline != NULL)
        *errline = lineno;
    return st;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t
mg_policy_hash(const struct mg_policy *p)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < mg_pol_nnames; i++) {
        h = fnv(h, mg_pol_names[i].module, strlen(mg_pol_names[i].module));
        h = fnv(h, mg_pol_names[i].name, strlen(mg_pol_names[i].name) + 1);
        h = fnv(h, &mg_pol_names[i].sev, sizeof(mg_pol_names[i].sev));
    }
    for (size_t i = 0; i < mg_pol_nmodules; i++)
        h = fnv(h, mg_pol_modules[i].module,
                strlen(mg_pol_modules[i].module) + 1);
    for (size_t i = 0; i < mg_pol_ncomponents; i++)
        h = fnv(h, mg_pol_components[i].module,
                strlen(mg_pol_components[i].module) + 1);
    for (size_t i = 0; p != NULL && i < p->nuser; i++) {
        h = fnv(h, p->user[i].module, strlen(p->user[i].module) + 1);
        h = fnv(h, p->user[i].name, strlen(p->user[i].name) + 1);
        h = fnv(h, &p->user[i].sev, sizeof(p->user[i].sev));
    }
    return h;
}
