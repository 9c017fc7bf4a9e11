/*
 * chat_template.c - the Jinja chat-template analyser. One pass: the
 * template text is split as Jinja's lexer splits it (data, {# comments #},
 * {% raw %} blocks, {{ expressions }} and {% statements %} whose end is
 * only recognised outside strings and balanced brackets), each block is
 * tokenised (names, Python-escaped strings, operators) and judged on what
 * it names. State per block is constant-size: the analysis never stores
 * the token list.
 */
#include "formats/common/chat_template.h"

#include <stdio.h>
#include <string.h>

#include "formats/common/common.h"

/* Names that lead from any object to the interpreter: Python internals
   used by every Jinja sandbox escape and SSTI payload. */
static const char *const internals[] = {
    "__class__",     "__mro__",          "__subclasses__",
    "__globals__",   "__builtins__",     "__import__",
    "__base__",      "__bases__",        "__init__",
    "__dict__",      "__getattribute__", "__code__",
    "__func__",      "__self__",         "__reduce__",
    "__reduce_ex__", "__loader__",       "__spec__",
    "__closure__",   "__traceback__",    "func_globals",
    "f_globals",     "f_locals",         "f_back",
    "gi_frame",      "gi_code",          "cr_frame",
    "tb_frame",      "_module",          "_TemplateReference__context"};

/* Names of code execution, process, import and file primitives. "system"
   and "open" are common words in templates (a "system" role), so they
   count only as an attribute or in a call chain with another name here. */
static const char *const execs[] = {
    "os",           "popen",      "subprocess", "eval",          "exec",
    "execfile",     "compile",    "importlib",  "import_module", "builtins",
    "getattr",      "spawnl",     "spawnv",     "execv",         "execve",
    "check_output", "check_call", "Popen",      "pty",           "posix",
    "load_module",  "globals",    "locals",     "breakpoint",    "__import__"};
static const char *const execs_attr_only[] = {"system", "open"};

/* Jinja (and Flask) globals that carry __globals__ / __init__ in public
   payloads: named in the message when they start a chain. */
static const char *const gadgets[] = {"cycler",
                                      "joiner",
                                      "namespace",
                                      "lipsum",
                                      "range",
                                      "dict",
                                      "self",
                                      "config",
                                      "request",
                                      "url_for",
                                      "get_flashed_messages",
                                      "g",
                                      "loop",
                                      "caller",
                                      "varargs",
                                      "kwargs",
                                      "raise_exception"};

static int
in_list(const char *const *l, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(l[i]) == len && memcmp(l[i], s, len) == 0)
            return 1;
    return 0;
}
#define IN(l, s, n) in_list((l), sizeof(l) / sizeof((l)[0]), (s), (n))

/* Internals worth finding inside a longer string: the dunders and the
   mangled TemplateReference name ("_module" or "f_back" inside a word are
   ordinary text). */
static int
spellable(const char *name)
{
    return name[0] == '_' && (name[1] == '_' || strstr(name, "__") != NULL);
}

/*
 * Find a listed name inside s[0..n): the first one, or NULL. word: the
 * match must not touch identifier characters on either side. min: names
 * shorter than this are ignored. With bounds (sorted piece start offsets,
 * nb of them), a match must span two pieces.
 */
static const char *
find_in(const char *const *l,
        size_t nl,
        const char *s,
        size_t n,
        int word,
        size_t min,
        int dunders_only,
        const size_t *bounds,
        size_t nb)
{
    /* Positions are tried only where a listed name can start (its first
       byte, and a word start in word mode): linear in n for most text. */
    uint8_t first[256];
    memset(first, 0, sizeof(first));
    for (size_t i = 0; i < nl; i++) {
        size_t k = strlen(l[i]);
        if (k >= min && k <= n && !(dunders_only && !spellable(l[i])))
            first[(unsigned char)l[i][0]] = 1;
    }
    for (size_t j = 0; j < n; j++) {
        if (!first[(unsigned char)s[j]])
            continue;
        if (word && j > 0 && mg_is_ident((unsigned char)s[j - 1]))
            continue;
        for (size_t i = 0; i < nl; i++) {
            size_t k = strlen(l[i]);
            if (k < min || k > n - j || l[i][0] != s[j] ||
                (dunders_only && !spellable(l[i])) ||
                memcmp(s + j, l[i], k) != 0)
                continue;
            if (word && j + k < n && mg_is_ident((unsigned char)s[j + k]))
                continue;
            if (bounds != NULL) {
                int spans = 0;
                for (size_t b = 0; b < nb; b++)
                    spans |= bounds[b] > j && bounds[b] < j + k;
                if (!spans)
                    continue;
            }
            return l[i];
        }
    }
    return NULL;
}
#define FIND(l, s, n, w, m, d, b, nb) \
    find_in((l), sizeof(l) / sizeof((l)[0]), (s), (n), (w), (m), (d), (b), (nb))

enum {
    R_INTERNAL = 1 << 0,  /* dangerous */
    R_EXEC = 1 << 1,      /* dangerous */
    R_ASSEMBLED = 1 << 2, /* dangerous */
    R_PRIVATE = 1 << 3,   /* suspicious */
    R_ESCAPE = 1 << 4,    /* suspicious */
    R_COMPUTED = 1 << 5,  /* suspicious */
    R_INCLUDE = 1 << 6,   /* suspicious */
    R_DUNDER = 1 << 7     /* suspicious */
};

#define NAMES_KEPT   4
#define NAME_MAX_LEN 40
#define CONCAT_MAX   2048
#define STR_MAX      512

struct names {
    unsigned n;
    char v[NAMES_KEPT][NAME_MAX_LEN];
};

static void
names_add(struct names *nm, const char *s, size_t n)
{
    if (n >= NAME_MAX_LEN)
        n = NAME_MAX_LEN - 1;
    for (unsigned i = 0; i < nm->n; i++)
        if (strlen(nm->v[i]) == n && memcmp(nm->v[i], s, n) == 0)
            return;
    if (nm->n == NAMES_KEPT)
        return;
    /* Names are shown: keep only identifier characters. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        nm->v[nm->n][k++] = mg_is_ident((unsigned char)s[i]) ? s[i] : '?';
    nm->v[nm->n][k] = '\0';
    nm->n++;
}

struct block {
    size_t start, end; /* the block in the template */
    size_t first_hit;  /* offset of the first offending token */
    unsigned reasons;
    struct names internal, exec, private_, assembled, gadget;
    int first_name_seen; /* statements: first name decides the tag */
    int stmt;            /* {% %} rather than {{ }} */
    /* previous tokens */
    char prev_op;         /* last operator character, 0 after other tokens */
    int prev_was_attr_kw; /* previous tokens were `attr (` */
    int prev_name_attr;   /* previous name was `attr` (filter) */
    char last_name[NAME_MAX_LEN];
    size_t last_name_len;
    int last_name_root; /* last name was not after '.' */
    int os_seen;
    size_t nconcat;
    char concat[CONCAT_MAX];
    size_t npieces;
    size_t pieces[64]; /* where each string starts in concat */
};

static void
hit(struct block *b, unsigned r, size_t at)
{
    if (b->reasons == 0 || at < b->first_hit)
        b->first_hit = at;
    b->reasons |= (unsigned)r;
}

static int
is_dunder(const char *s, size_t n)
{
    return n > 4 && s[0] == '_' && s[1] == '_' && s[n - 1] == '_' &&
           s[n - 2] == '_';
}

/* A name used as an attribute (after '.'), as a variable, or spelled in a
   string (used with attr() or [...]). */
static void
judge_name(struct block *b,
           const char *s,
           size_t n,
           size_t at,
           int attr,
           int in_string)
{
    if (n == 0)
        return;
    if (IN(internals, s, n)) {
        hit(b, R_INTERNAL, at);
        names_add(&b->internal, s, n);
    } else if (is_dunder(s, n)) {
        hit(b, R_DUNDER, at);
        names_add(&b->private_, s, n);
    } else if (attr && s[0] == '_' && n > 1 &&
               (!in_string || mg_is_ident((unsigned char)s[1]))) {
        hit(b, R_PRIVATE, at);
        names_add(&b->private_, s, n);
    }
    if (IN(execs, s, n)) {
        /* A string "os" alone is too weak; as a name or attribute it is
           not: Jinja has no such global. */
        if (!in_string || n > 2) {
            hit(b, R_EXEC, at);
            names_add(&b->exec, s, n);
        }
        if (n == 2 && memcmp(s, "os", 2) == 0)
            b->os_seen = 1;
    } else if (attr && IN(execs_attr_only, s, n) &&
               (b->os_seen || b->reasons & (R_INTERNAL | R_EXEC))) {
        hit(b, R_EXEC, at);
        names_add(&b->exec, s, n);
    }
}

/* Decode a Jinja string literal body (Python unicode-escape rules) into
   out (at most cap bytes kept); *escaped is set when an escape produced an
   identifier character, the classic way to hide "__class__". */
static size_t
decode_string(const char *s, size_t n, char *out, size_t cap, int *escaped)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned long cp = (unsigned char)s[i];
        int esc = 0;
        if (s[i] == '\\' && i + 1 < n) {
            char e = s[++i];
            esc = 1;
            switch (e) {
            case 'n':
                cp = '\n';
                break;
            case 't':
                cp = '\t';
                break;
            case 'r':
                cp = '\r';
                break;
            case 'a':
                cp = 7;
                break;
            case 'b':
                cp = 8;
                break;
            case 'f':
                cp = 12;
                break;
            case 'v':
                cp = 11;
                break;
            case '\n':
                continue;
            case 'x':
            case 'u':
            case 'U': {
                size_t w = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                unsigned long v = 0;
                size_t j = 0;
                for (; j < w && i + 1 + j < n; j++) {
                    char h = s[i + 1 + j];
                    int d = (h >= '0' && h <= '9')   ? h - '0'
                            : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                            : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                     : -1;
                    if (d < 0)
                        break;
                    v = v * 16 + (unsigned long)d;
                }
                i += j;
                cp = v;
                break;
            }
            case 'N': {
                /* \N{NAME}: only LOW LINE matters for names; any use is
                   an obfuscation in a chat template. */
                size_t j = i + 1;
                while (j < n && s[j] != '}')
                    j++;
                const char *nm = s + i + 2;
                size_t nl = j > i + 2 ? j - (i + 2) : 0;
                cp = (nl == 8 && memcmp(nm, "LOW LINE", 8) == 0) ? '_' : '?';
                *escaped = 1;
                i = j;
                break;
            }
            default:
                if (e >= '0' && e <= '7') {
                    unsigned long v = (unsigned long)(e - '0');
                    for (int j = 0; j < 2 && i + 1 < n && s[i + 1] >= '0' &&
                                    s[i + 1] <= '7';
                         j++)
                        v = v * 8 + (unsigned long)(s[++i] - '0');
                    cp = v;
                } else {
                    cp = (unsigned char)e; /* \\ \' \" and unknown ones */
                    if (e != '\\' && e != '\'' && e != '"' && k < cap)
                        out[k++] = '\\';
                    esc = 0;
                }
            }
        }
        if (esc && cp < 0x80 && mg_is_ident((int)cp))
            *escaped = 1;
        if (k < cap)
            out[k++] = cp < 0x80 ? (char)cp : '?';
    }
    return k;
}

static void
judge_string(struct block *b, const char *body, size_t n, size_t at)
{
    char dec[STR_MAX];
    int escaped = 0;
    size_t k = decode_string(body, n, dec, sizeof(dec), &escaped);
    if (escaped)
        hit(b, R_ESCAPE, at);
    /* The whole string as a name (attr('__class__'), ['__globals__']),
       then any internal spelled inside it ("{0.__class__}".format). */
    judge_name(b, dec, k, at, 1, 1);
    const char *in = FIND(internals, dec, k, 0, 3, 1, NULL, 0);
    if (in != NULL) {
        hit(b, R_INTERNAL, at);
        names_add(&b->internal, in, strlen(in));
    }
    if (b->npieces < sizeof(b->pieces) / sizeof(b->pieces[0]))
        b->pieces[b->npieces++] = b->nconcat;
    size_t room = CONCAT_MAX - b->nconcat;
    if (k > room)
        k = room;
    memcpy(b->concat + b->nconcat, dec, k);
    b->nconcat += k;
}

/* Names split across strings ('__cla' ~ 'ss__', joined lists) and
   reversed strings ('__ssalc__'|reverse): look in the concatenation of
   the block's strings for names that span two of them, and in its reverse
   for any. Short names are left out of the reverse ("so" is text). */
static void
judge_concat(struct block *b)
{
    char rev[CONCAT_MAX];
    size_t n = b->nconcat;
    for (size_t i = 0; i < n; i++)
        rev[i] = b->concat[n - 1 - i];
    const char *f =
        FIND(internals, b->concat, n, 0, 3, 1, b->pieces, b->npieces);
    if (f == NULL)
        f = FIND(execs, b->concat, n, 1, 2, 0, b->pieces, b->npieces);
    if (f == NULL)
        f = FIND(internals, rev, n, 0, 3, 1, NULL, 0);
    if (f == NULL)
        f = FIND(execs, rev, n, 1, 5, 0, NULL, 0);
    if (f != NULL) {
        hit(b, R_ASSEMBLED, b->start);
        names_add(&b->assembled, f, strlen(f));
    }
}

static void
on_name(struct block *b, const char *s, size_t n, size_t at)
{
    int attr = b->prev_op == '.';
    if (b->prev_was_attr_kw) {
        hit(b, R_COMPUTED, at); /* attr(variable) */
        b->prev_was_attr_kw = 0;
    }
    if (b->stmt && !b->first_name_seen) {
        b->first_name_seen = 1;
        if ((n == 7 && memcmp(s, "include", 7) == 0) ||
            (n == 6 && memcmp(s, "import", 6) == 0) ||
            (n == 7 && memcmp(s, "extends", 7) == 0) ||
            (n == 4 && memcmp(s, "from", 4) == 0))
            hit(b, R_INCLUDE, at);
    }
    judge_name(b, s, n, at, attr, 0);
    if (attr && s[0] == '_' && b->last_name_root &&
        IN(gadgets, b->last_name, b->last_name_len))
        names_add(&b->gadget, b->last_name, b->last_name_len);
    b->prev_name_attr = b->prev_op == '|' && n == 4 && !memcmp(s, "attr", 4);
    if (n < NAME_MAX_LEN) {
        memcpy(b->last_name, s, n);
        b->last_name_len = n;
        b->last_name_root = !attr;
    }
    b->prev_op = 0;
}

static void
on_op(struct block *b, char c, size_t at)
{
    if (b->prev_was_attr_kw && c != '\'' && c != '"') {
        /* attr( followed by something other than a string literal. */
        hit(b, R_COMPUTED, at);
        b->prev_was_attr_kw = 0;
    }
    if (c == '(' && b->prev_name_attr)
        b->prev_was_attr_kw = 1;
    b->prev_name_attr = 0;
    b->prev_op = c;
}

static void
append(char *buf, size_t cap, size_t *k, const char *s)
{
    int w = snprintf(buf + *k, cap - *k, "%s", s);
    if (w > 0)
        *k += (size_t)w < cap - *k ? (size_t)w : cap - *k - 1;
}

static void
append_names(
    char *buf, size_t cap, size_t *k, const char *what, const struct names *nm)
{
    if (nm->n == 0)
        return;
    append(buf, cap, k, *k ? "; " : "");
    append(buf, cap, k, what);
    append(buf, cap, k, " (");
    for (unsigned i = 0; i < nm->n; i++) {
        append(buf, cap, k, i ? ", " : "");
        append(buf, cap, k, nm->v[i]);
    }
    append(buf, cap, k, ")");
}

static enum mg_status
finish_block(struct block *b, const char *t, mg_tmpl_cb cb, void *user)
{
    judge_concat(b);
    if (b->reasons == 0)
        return MG_OK;
    char why[512];
    size_t k = 0;
    why[0] = '\0';
    append_names(why, sizeof(why), &k, "reaches Python internals",
                 &b->internal);
    append_names(why, sizeof(why), &k, "names code-execution primitives",
                 &b->exec);
    append_names(why, sizeof(why), &k, "assembles the names", &b->assembled);
    append_names(why, sizeof(why), &k,
                 "through Jinja globals used in "
                 "sandbox escapes",
                 &b->gadget);
    append_names(why, sizeof(why), &k,
                 "uses private or special attributes "
                 "the sandbox refuses",
                 &b->private_);
    if (b->reasons & R_ESCAPE)
        append(why, sizeof(why), &k,
               k ? "; spells names with string escapes"
                 : "spells names with string escapes");
    if (b->reasons & R_COMPUTED)
        append(why, sizeof(why), &k,
               k ? "; computes an attribute name at render time"
                 : "computes an attribute name at render time");
    if (b->reasons & R_INCLUDE)
        append(why, sizeof(why), &k,
               k ? "; loads another template through the loader"
                 : "loads another template through the loader");
    struct mg_tmpl_hit h;
    memset(&h, 0, sizeof(h));
    if (b->reasons & (R_INTERNAL | R_EXEC | R_ASSEMBLED)) {
        h.sev = MG_SEV_DANGEROUS;
        h.rule = "chat-template-injection";
    } else {
        h.sev = MG_SEV_SUSPICIOUS;
        h.rule = (b->reasons & ~(unsigned)R_INCLUDE)
                     ? "chat-template-obfuscation"
                     : "chat-template-include";
    }
    h.off = b->start;
    /* Quote from the block start, or shortly before the first offending
       token when it is far into a long block. */
    size_t q = b->start;
    if (b->first_hit > b->start + 100)
        q = b->first_hit - 40;
    h.quote_off = q;
    h.quote_len = b->end - q;
    h.reason = why;
    (void)t;
    return cb(user, &h);
}

static int
at(const char *t, size_t n, size_t i, const char *s)
{
    size_t k = strlen(s);
    return n - i >= k && memcmp(t + i, s, k) == 0;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* {% raw %} at i? Returns the offset after the matching {% endraw %}. */
static size_t
skip_raw(const char *t, size_t n, size_t i)
{
    size_t j = i + 2;
    if (j < n && (t[j] == '-' || t[j] == '+'))
        j++;
    while (j < n && is_space(t[j]))
        j++;
    if (!at(t, n, j, "raw"))
        return 0;
    j += 3;
    while (j < n && is_space(t[j]))
        j++;
    if (j < n && t[j] == '-')
        j++;
    if (!at(t, n, j, "%}"))
        return 0;
    for (j += 2; j + 1 < n; j++) {
        if (t[j] != '{' || t[j + 1] != '%')
            continue;
        size_t k = j + 2;
        if (k < n && (t[k] == '-' || t[k] == '+'))
            k++;
        while (k < n && is_space(t[k]))
            k++;
        if (!at(t, n, k, "endraw"))
            continue;
        k += 6;
        while (k < n && is_space(t[k]))
            k++;
        if (k < n && t[k] == '-')
            k++;
        if (at(t, n, k, "%}"))
            return k + 2;
    }
    return n;
}

/* Tokenise one block from i (just after the opening delimiter) to its end
   delimiter; returns the offset after it (n when unterminated). */
static size_t
lex_block(const char *t, size_t n, size_t i, struct block *b)
{
    char close = b->stmt ? '%' : '}';
    int depth = 0;
    while (i < n) {
        char c = t[i];
        if (depth == 0 && c == '-' && i + 2 < n && t[i + 1] == close &&
            t[i + 2] == '}')
            return i + 3;
        if (depth == 0 && c == close && i + 1 < n && t[i + 1] == '}')
            return i + 2;
        if (is_space(c)) {
            i++;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < n && t[j] != c) {
                if (t[j] == '\\' && j + 1 < n)
                    j++;
                j++;
            }
            if (b->prev_was_attr_kw)
                b->prev_was_attr_kw = 0;
            judge_string(b, t + i + 1, (j < n ? j : n) - (i + 1), i);
            b->prev_op = 0;
            b->prev_name_attr = 0;
            i = j < n ? j + 1 : n;
            continue;
        }
        if (mg_is_ident((unsigned char)c) && !(c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < n && mg_is_ident((unsigned char)t[j]))
                j++;
            on_name(b, t + i, j - i, i);
            i = j;
            continue;
        }
        if (c >= '0' && c <= '9') {
            while (i < n && (mg_is_ident((unsigned char)t[i]) || t[i] == '.'))
                i++;
            b->prev_op = 0;
            continue;
        }
        if (c == '(' || c == '[' || c == '{')
            depth++;
        else if ((c == ')' || c == ']' || c == '}') && depth > 0)
            depth--;
        on_op(b, c, i);
        i++;
    }
    return n;
}

enum mg_status
mg_tmpl_scan(const char *t, size_t n, mg_tmpl_cb cb, void *user)
{
    size_t i = 0;
    struct block b;
    while (i + 1 < n) {
        if (t[i] != '{' ||
            (t[i + 1] != '{' && t[i + 1] != '%' && t[i + 1] != '#')) {
            i++;
            continue;
        }
        if (t[i + 1] == '#') {
            size_t j = i + 2;
            while (j + 1 < n && !(t[j] == '#' && t[j + 1] == '}'))
                j++;
            i = j + 2;
            continue;
        }
        if (t[i + 1] == '%') {
            size_t r = skip_raw(t, n, i);
            if (r != 0) {
                i = r;
                continue;
            }
        }
        memset(&b, 0, sizeof(b));
        b.start = i;
        b.stmt = t[i + 1] == '%';
        size_t j = i + 2;
        if (j < n && (t[j] == '-' || t[j] == '+'))
            j++;
        size_t end = lex_block(t, n, j, &b);
        if (b.prev_was_attr_kw)
            hit(&b, R_COMPUTED, end);
        b.end = end;
        enum mg_status st = finish_block(&b, t, cb, user);
        if (st != MG_OK)
            return st;
        i = end;
    }
    return MG_OK;
}
