/*
 * keras.c - Keras JSON configurations (config.json and metadata.json of a
 * .keras archive, model_config of a legacy .h5, keras_metadata.pb
 * entries). Keras turns this JSON into objects: every {"class_name",
 * "config", "module", "registered_name"} object names a class or function
 * to import and call, a Lambda layer carries marshalled Python bytecode,
 * preprocessing layers read files named in their config, and strings can
 * carry pickles. Each of these is reported with the JSON path where it
 * sits; nothing is decoded beyond what is needed to say what it is.
 */
#include "formats/keras/keras.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "json/json.h"
#include "pickle/policy.h"

/* Packages of the Keras and TensorFlow family: importing them is what
   loading a Keras model does anyway. */
static const char *const keras_family[] = {
    "keras", "tf_keras", "tensorflow", "keras_hub", "keras_nlp", "keras_cv"};

/* Names inside the family that still reach files, the network or code,
   by their last component (the module path moves between versions). */
static const struct {
    const char *name;
    enum mg_severity sev;
    const char *why;
} family_risky[] = {
    {"get_file", MG_SEV_DANGEROUS,
     "downloads a URL and writes the file to disk"},
    {"enable_unsafe_deserialization", MG_SEV_DANGEROUS,
     "turns off safe_mode for the rest of the load"},
    {"load_model", MG_SEV_SUSPICIOUS, "loads another model file"},
    {"load_weights", MG_SEV_SUSPICIOUS, "loads another weights file"},
    {"TFSMLayer", MG_SEV_SUSPICIOUS,
     "loads an external SavedModel and runs its graph"},
    {"read_file", MG_SEV_DANGEROUS, "reads a file"},
    {"write_file", MG_SEV_DANGEROUS, "writes a file"},
    {"py_function", MG_SEV_DANGEROUS, "calls a Python function"},
    {"numpy_function", MG_SEV_DANGEROUS, "calls a Python function"},
    {"py_func", MG_SEV_DANGEROUS, "calls a Python function"},
    {"set_random_seed", MG_SEV_INFO, NULL},
};

/* Layers whose config names a file they read when built. */
static const char *const file_layers[] = {"StringLookup", "IntegerLookup",
                                          "IndexLookup", "TextVectorization",
                                          "TFSMLayer"};
static const char *const file_keys[] = {
    "vocabulary", "vocabulary_file", "vocab_file", "filepath", "file_path",
    "path",       "filename"};

struct kc {
    struct mg_ctx *ctx;
    struct mg_json_doc *d;
    uint32_t *parent;
    const char *where;
    int64_t base_off;
    uint32_t handled[64]; /* strings already judged as bytecode */
    unsigned nhandled;
    unsigned nested;
};

static int
is_family(const char *m, size_t n)
{
    for (size_t i = 0; i < sizeof(keras_family) / sizeof(keras_family[0]);
         i++) {
        size_t k = strlen(keras_family[i]);
        if (n >= k && memcmp(m, keras_family[i], k) == 0 &&
            (n == k || m[k] == '.'))
            return 1;
    }
    return 0;
}

static int64_t
off_of(const struct kc *k, uint32_t node)
{
    if (k->base_off < 0)
        return -1;
    return k->base_off + (int64_t)k->d->nodes[node].a;
}

/* Decoded string node, NUL-terminated, truncated to cap-1 bytes. */
static size_t
sval(const struct kc *k, uint32_t node, char *buf, size_t cap)
{
    if (node == MG_JSON_NONE || mg_json_type_of(k->d, node) != MG_JSON_STRING) {
        buf[0] = '\0';
        return 0;
    }
    size_t n = mg_json_str(k->d, node, buf, cap);
    return n < cap ? n : cap - 1;
}

/* The JSON path of node v ("config.layers[2].config.function"). */
static const char *
path_of(const struct kc *k, uint32_t v, char *buf, size_t cap)
{
    const char *parts[24];
    char store[24][48];
    unsigned np = 0;
    const struct mg_json_doc *d = k->d;
    if (v != MG_JSON_ROOT && (d->nodes[v].flags & MG_JSON_F_KEY))
        v = k->parent[v]; /* a key: the path of its object */
    while (v != MG_JSON_ROOT && np < 24) {
        uint32_t p = k->parent[v];
        if (mg_json_type_of(d, p) == MG_JSON_ARRAY) {
            unsigned idx = 0;
            for (uint32_t e = mg_json_first(d, p); e != MG_JSON_NONE && e != v;
                 e = mg_json_next(d, e))
                idx++;
            snprintf(store[np], sizeof(store[np]), "[%u]", idx);
        } else {
            char key[40];
            key[0] = '\0';
            for (uint32_t kk = mg_json_first(d, p); kk != MG_JSON_NONE;
                 kk = mg_json_next_key(d, kk))
                if (mg_json_value(d, kk) == v) {
                    char raw[40];
                    size_t n = mg_json_str(d, kk, raw, sizeof(raw));
                    mg_quote(key, sizeof(key), raw,
                             n < sizeof(raw) ? n : sizeof(raw) - 1, 32);
                    break;
                }
            snprintf(store[np], sizeof(store[np]), ".%s", key);
        }
        parts[np] = store[np];
        np++;
        v = p;
    }
    size_t o = 0;
    buf[0] = '\0';
    if (v != MG_JSON_ROOT)
        o += (size_t)snprintf(buf, cap, "...");
    for (unsigned i = np; i > 0 && o < cap; i--) {
        const char *s = parts[i - 1];
        if (o == 0 && s[0] == '.')
            s++;
        int w = snprintf(buf + o, cap - o, "%s", s);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (np == 0)
        snprintf(buf, cap, "(top level)");
    return buf;
}

/* The layer name for messages: config.name of the nearest object that
   has a class_name. */
static const char *
layer_name(const struct kc *k, uint32_t v, char *buf, size_t cap)
{
    const struct mg_json_doc *d = k->d;
    buf[0] = '\0';
    for (unsigned hops = 0; hops < 64; hops++) {
        if (mg_json_type_of(d, v) == MG_JSON_OBJECT &&
            mg_json_get(d, v, "class_name") != MG_JSON_NONE) {
            uint32_t cfg = mg_json_get(d, v, "config");
            uint32_t nm = cfg != MG_JSON_NONE ? mg_json_get(d, cfg, "name")
                                              : MG_JSON_NONE;
            if (nm != MG_JSON_NONE &&
                mg_json_type_of(d, nm) == MG_JSON_STRING) {
                char raw[81];
                size_t n = sval(k, nm, raw, sizeof(raw));
                mg_quote(buf, cap, raw, n, 80);
                return buf;
            }
        }
        if (v == MG_JSON_ROOT)
            break;
        v = k->parent[v];
    }
    return buf;
}

__attribute__((format(printf, 5, 6))) static enum mg_status
find(struct kc *k,
     enum mg_severity sev,
     const char *rule,
     uint32_t node,
     const char *fmt,
     ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char path[300], layer[400];
    path_of(k, node, path, sizeof(path));
    layer_name(k, node, layer, sizeof(layer));
    return mg_ctx_findf(
        k->ctx, sev, rule, off_of(k, node), "%s: %s%s%s at %s: %s", k->where,
        layer[0] ? "layer \"" : "", layer, layer[0] ? "\"" : "", path, msg);
}

/* Identifier strings inside marshalled code (short ASCII objects), for
   the message: what the bytecode names. */
static void
marshal_names(const uint8_t *b, size_t n, char *out, size_t cap)
{
    size_t o = 0, count = 0;
    out[0] = '\0';
    for (size_t i = 0; i + 1 < n && count < 12; i++) {
        uint8_t t = b[i] & 0x7F;
        if (t != 'z' && t != 'Z')
            continue;
        size_t len = b[i + 1];
        if (len < 2 || len > 40 || len > n - i - 2)
            continue;
        const uint8_t *s = b + i + 2;
        int ok = !(s[0] >= '0' && s[0] <= '9');
        for (size_t j = 0; j < len && ok; j++)
            ok = mg_is_ident(s[j]);
        if (!ok)
            continue;
        /* skip the usual suspects of every code object */
        if ((len == 8 && !memcmp(s, "<lambda>", 8)) ||
            (len == 6 && !memcmp(s, "lambda", 6)))
            continue;
        int w = snprintf(out + o, cap - o, "%s%.*s", o ? ", " : "", (int)len,
                         (const char *)s);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
        count++;
        i += len + 1;
    }
}

/* Marshalled code object: TYPE_CODE ('c'), maybe with FLAG_REF. */
static int
is_marshal_code(const uint8_t *b, size_t n)
{
    return n >= 16 && (b[0] & 0x7F) == 'c';
}

static int
is_pickle(const uint8_t *b, size_t n)
{
    return n >= 3 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5;
}

static void
mark_handled(struct kc *k, uint32_t node)
{
    if (k->nhandled < sizeof(k->handled) / sizeof(k->handled[0]))
        k->handled[k->nhandled++] = node;
}

static int
was_handled(const struct kc *k, uint32_t node)
{
    for (unsigned i = 0; i < k->nhandled; i++)
        if (k->handled[i] == node)
            return 1;
    return 0;
}

/* Decode a base64 string node into a new buffer (*out, *outlen). */
static enum mg_status
b64_node(const struct kc *k, uint32_t node, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t n = mg_json_str_len(k->d, node);
    if (n > MG_B64_MAX_DECODE)
        n = MG_B64_MAX_DECODE;
    char *txt = mg_malloc(n + 1);
    if (txt == NULL)
        return MG_E_NOMEM;
    mg_json_str(k->d, node, txt, n + 1);
    size_t cap = n / 4 * 3 + 3;
    uint8_t *b = mg_malloc(cap);
    if (b == NULL) {
        mg_free(txt);
        return MG_E_NOMEM;
    }
    size_t got = mg_b64_decode(txt, n, b, cap);
    mg_free(txt);
    if (got == (size_t)-1) {
        mg_free(b);
        return MG_OK;
    }
    *out = b;
    *outlen = got < cap ? got : cap;
    return MG_OK;
}

/* A function stored as bytecode: the Keras 2 Lambda list or the Keras 3
   __lambda__ "code" string. */
static enum mg_status
lambda_code(struct kc *k, uint32_t code, const char *what)
{
    if (code == MG_JSON_NONE || mg_json_type_of(k->d, code) != MG_JSON_STRING)
        return MG_OK;
    mark_handled(k, code);
    uint8_t *b;
    size_t n;
    enum mg_status st = b64_node(k, code, &b, &n);
    if (st != MG_OK)
        return st;
    if (b != NULL && is_marshal_code(b, n)) {
        char names[300];
        marshal_names(b, n, names, sizeof(names));
        st = find(k, MG_SEV_DANGEROUS, "keras-lambda", code,
                  "%s is %zu bytes of marshalled Python bytecode%s%s%s: "
                  "Keras runs it when the model is loaded without "
                  "safe_mode (and always before Keras 3)",
                  what, n, names[0] ? " (names and strings: " : "", names,
                  names[0] ? ")" : "");
    } else {
        st = find(k, MG_SEV_SUSPICIOUS, "keras-lambda", code,
                  "%s should be marshalled bytecode in base64 but is not "
                  "(%zu bytes decoded): Keras fails or does something "
                  "unexpected when it loads it",
                  what, n);
    }
    mg_free(b);
    return st;
}

/* A (module, name) reference outside the Keras family, or a risky one
   inside it. */
static enum mg_status
judge_ref(struct kc *k,
          uint32_t node,
          const char *mod,
          size_t ml,
          const char *name,
          size_t nl,
          int is_function)
{
    char qm[200], qn[200];
    mg_quote(qm, sizeof(qm), mod, ml, 80);
    mg_quote(qn, sizeof(qn), name, nl, 80);
    const char *kind = is_function ? "function" : "class";
    struct mg_class cl = mg_policy_class(k->ctx->policy, mod, ml, name, nl);
    if (is_family(mod, ml)) {
        const char *last = name;
        for (size_t i = 0; i < nl; i++)
            if (name[i] == '.')
                last = name + i + 1;
        size_t ll = nl - (size_t)(last - name);
        for (size_t i = 0; i < sizeof(family_risky) / sizeof(family_risky[0]);
             i++)
            if (strlen(family_risky[i].name) == ll &&
                memcmp(family_risky[i].name, last, ll) == 0 &&
                family_risky[i].why != NULL)
                return find(k, family_risky[i].sev, "keras-function", node,
                            "refers to %s %s.%s, which %s", kind, qm, qn,
                            family_risky[i].why);
        if (cl.sev >= MG_SEV_SUSPICIOUS && !cl.safe)
            return find(k, cl.sev, "keras-module", node,
                        "refers to %s %s.%s (%s)", kind, qm, qn,
                        mg_cat_text(cl.cat));
        return MG_OK;
    }
    if (cl.safe)
        return MG_OK;
    enum mg_severity sev = cl.sev < MG_SEV_UNKNOWN ? MG_SEV_UNKNOWN : cl.sev;
    struct mg_finding_in f;
    char msg[2048], path[300], layer[400];
    path_of(k, node, path, sizeof(path));
    layer_name(k, node, layer, sizeof(layer));
    snprintf(msg, sizeof(msg),
             "%s: %s%s%s at %s: refers to %s %s.%s from outside Keras "
             "(%s): loading the model imports %s and %s it",
             k->where, layer[0] ? "layer \"" : "", layer, layer[0] ? "\"" : "",
             path, kind, qm, qn, mg_cat_text(cl.cat), qm,
             is_function ? "calls" : "instantiates");
    char mz[200], nz[200];
    memcpy(mz, mod, ml < sizeof(mz) ? ml : sizeof(mz) - 1);
    mz[ml < sizeof(mz) ? ml : sizeof(mz) - 1] = '\0';
    memcpy(nz, name, nl < sizeof(nz) ? nl : sizeof(nz) - 1);
    nz[nl < sizeof(nz) ? nl : sizeof(nz) - 1] = '\0';
    memset(&f, 0, sizeof(f));
    f.sev = sev;
    f.rule = "keras-module";
    f.message = msg;
    f.has_offset = k->base_off >= 0;
    f.offset = f.has_offset ? (uint64_t)off_of(k, node) : 0;
    f.module = mz;
    f.name = nz;
    return mg_ctx_add(k->ctx, &f);
}

/* Keras 2 Lambda: function is [code, defaults, closure] (function_type
   "lambda") or a name (function_type "function", resolved in config
   "module"); output_shape likewise. */
static enum mg_status
keras2_lambda(struct kc *k, uint32_t cfg)
{
    static const char *const fields[][2] = {
        {"function", "function_type"}, {"output_shape", "output_shape_type"}};
    for (size_t i = 0; i < 2; i++) {
        uint32_t f = mg_json_get(k->d, cfg, fields[i][0]);
        uint32_t t = mg_json_get(k->d, cfg, fields[i][1]);
        if (f == MG_JSON_NONE)
            continue;
        enum mg_status st = MG_OK;
        char what[80];
        snprintf(what, sizeof(what), "the Lambda %s", fields[i][0]);
        if (mg_json_type_of(k->d, f) == MG_JSON_ARRAY &&
            (t == MG_JSON_NONE || mg_json_str_eq(k->d, t, "lambda"))) {
            st = lambda_code(k, mg_json_first(k->d, f), what);
        } else if (mg_json_type_of(k->d, f) == MG_JSON_STRING &&
                   t != MG_JSON_NONE && mg_json_str_eq(k->d, t, "function")) {
            char fn[256], mod[256];
            size_t fl = sval(k, f, fn, sizeof(fn));
            size_t ml =
                sval(k, mg_json_get(k->d, cfg, "module"), mod, sizeof(mod));
            if (ml == 0) {
                memcpy(mod, "__main__", 9);
                ml = 8;
            }
            st = judge_ref(k, f, mod, ml, fn, fl, 1);
        }
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

static enum mg_status
file_refs(struct kc *k, uint32_t obj, uint32_t cfg, const char *cls, size_t cl)
{
    if (cfg == MG_JSON_NONE || mg_json_type_of(k->d, cfg) != MG_JSON_OBJECT)
        return MG_OK;
    int reader = 0;
    for (size_t i = 0; i < sizeof(file_layers) / sizeof(file_layers[0]); i++)
        reader |= strlen(file_layers[i]) == cl &&
                  memcmp(file_layers[i], cls, cl) == 0;
    (void)obj;
    for (size_t i = 0; i < sizeof(file_keys) / sizeof(file_keys[0]); i++) {
        uint32_t v = mg_json_get(k->d, cfg, file_keys[i]);
        if (v == MG_JSON_NONE || mg_json_type_of(k->d, v) != MG_JSON_STRING)
            continue;
        char p[512];
        size_t n = sval(k, v, p, sizeof(p));
        enum mg_path_risk r = mg_path_risk(p, n, 0);
        if (!reader && r == MG_PATH_OK)
            continue;
        char q[MG_QUOTE_BYTES * 4 + 8];
        mg_quote(q, sizeof(q), p, n, MG_QUOTE_BYTES);
        enum mg_severity sev =
            r == MG_PATH_OK ? MG_SEV_SUSPICIOUS : MG_SEV_DANGEROUS;
        char cq[200];
        mg_quote(cq, sizeof(cq), cls, cl, 80);
        enum mg_status st = find(
            k, sev, "keras-file", v, "%s \"%s\" = \"%s\" (a path that %s) %s",
            reader ? cq : "config key", file_keys[i], q,
            r == MG_PATH_OK ? "is outside the model archive"
                            : mg_path_risk_text(r),
            reader ? "is opened when the model is loaded: a file read, "
                     "or a request for a URL"
                   : "names a file outside the model");
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

static enum mg_status
judge_object(struct kc *k, uint32_t obj)
{
    struct mg_json_doc *d = k->d;
    uint32_t cn = mg_json_get(d, obj, "class_name");
    if (cn == MG_JSON_NONE || mg_json_type_of(d, cn) != MG_JSON_STRING)
        return MG_OK;
    char cls[256], mod[256], reg[256];
    size_t cl = sval(k, cn, cls, sizeof(cls));
    uint32_t cfg = mg_json_get(d, obj, "config");
    uint32_t mn = mg_json_get(d, obj, "module");
    uint32_t rn = mg_json_get(d, obj, "registered_name");
    size_t ml = sval(k, mn, mod, sizeof(mod));
    size_t rl = sval(k, rn, reg, sizeof(reg));
    enum mg_status st = MG_OK;

    if (cl == 10 && memcmp(cls, "__lambda__", 10) == 0) {
        if (cfg != MG_JSON_NONE && mg_json_type_of(d, cfg) == MG_JSON_OBJECT)
            st = lambda_code(k, mg_json_get(d, cfg, "code"), "the lambda");
        return st;
    }
    if (cl == 6 && memcmp(cls, "Lambda", 6) == 0 && cfg != MG_JSON_NONE &&
        mg_json_type_of(d, cfg) == MG_JSON_OBJECT &&
        (ml == 0 || is_family(mod, ml))) {
        st = keras2_lambda(k, cfg);
        if (st != MG_OK)
            return st;
    }
    /* Layer names become file names inside the archive (CVE-2026-12479):
       ones that leave the folder are refused here. */
    if (cfg != MG_JSON_NONE && mg_json_type_of(d, cfg) == MG_JSON_OBJECT) {
        uint32_t nm = mg_json_get(d, cfg, "name");
        char name[256];
        size_t nl = sval(k, nm, name, sizeof(name));
        enum mg_path_risk r =
            nm != MG_JSON_NONE ? mg_path_risk(name, nl, 1) : MG_PATH_OK;
        if (r != MG_PATH_OK && r != MG_PATH_EMPTY && r != MG_PATH_SEPARATOR &&
            r != MG_PATH_URL) {
            char q[MG_QUOTE_BYTES * 4 + 8];
            mg_quote(q, sizeof(q), name, nl, MG_QUOTE_BYTES);
            st = find(k, MG_SEV_DANGEROUS, "keras-path", nm,
                      "the object name \"%s\" %s: Keras builds file names "
                      "from object names when it loads and saves",
                      q, mg_path_risk_text(r));
            if (st != MG_OK)
                return st;
        }
        st = file_refs(k, obj, cfg, cls, cl);
        if (st != MG_OK)
            return st;
    }
    if (cl >= 2 && cls[0] == '_' && cls[1] == '_')
        return MG_OK; /* __tensor__, __numpy__...: Keras' own types */
    if (ml > 0) {
        int is_fn = cl == 8 && memcmp(cls, "function", 8) == 0;
        if (is_fn) {
            char fn[256];
            size_t fl = sval(k, cfg, fn, sizeof(fn));
            if (fl > 0)
                st = judge_ref(k, cfg, mod, ml, fn, fl, 1);
        } else {
            st = judge_ref(k, cn, mod, ml, cls, cl, 0);
        }
        if (st != MG_OK)
            return st;
    }
    /* A registered custom object from outside the family (the module
       judgement above covers the import itself). */
    const char *gt = rl ? memchr(reg, '>', rl) : NULL;
    const char *custom = NULL;
    size_t customl = 0;
    uint32_t where = cn;
    if (gt != NULL && !is_family(reg, (size_t)(gt - reg)) &&
        (ml == 0 || is_family(mod, ml))) {
        custom = reg;
        customl = rl;
        where = rn;
    } else if (ml == 0 && gt == NULL && memchr(cls, '>', cl) != NULL) {
        custom = cls; /* Keras 2: "package>Name" as the class name */
        customl = cl;
    }
    if (custom == NULL)
        return MG_OK;
    char q[MG_QUOTE_BYTES * 4 + 8];
    mg_quote(q, sizeof(q), custom, customl, MG_QUOTE_BYTES);
    return find(k, MG_SEV_UNKNOWN, "keras-custom-object", where,
                "custom object \"%s\" is code the loading program must "
                "register (custom_objects or an import)",
                q);
}

/* Strings that carry a pickle (latin-1 text, or base64) or bytecode. */
static enum mg_status
judge_string(struct kc *k, uint32_t s)
{
    const struct mg_json_node *nd = mg_json_node(k->d, s);
    if ((nd->flags & MG_JSON_F_KEY) || nd->len < 16 || was_handled(k, s))
        return MG_OK;
    enum mg_status st = MG_OK;
    uint8_t *bytes = NULL;
    size_t n = 0;
    char head[8];
    size_t hl = mg_json_str(k->d, s, head, sizeof(head));
    /* json.dumps of bytes.decode('latin-1'): U+0080 then the protocol */
    if (hl >= 4 && (uint8_t)head[0] == 0xC2 && (uint8_t)head[1] == 0x80 &&
        head[2] >= 2 && head[2] <= 5) {
        size_t len = mg_json_str_len(k->d, s);
        char *txt = mg_malloc(len + 1);
        if (txt == NULL)
            return MG_E_NOMEM;
        mg_json_str(k->d, s, txt, len + 1);
        bytes = mg_malloc(len ? len : 1);
        if (bytes == NULL) {
            mg_free(txt);
            return MG_E_NOMEM;
        }
        size_t o = 0;
        int latin1 = 1;
        for (size_t i = 0; i < len && latin1; i++) {
            uint8_t c = (uint8_t)txt[i];
            if (c < 0x80) {
                bytes[o++] = c;
            } else if ((c == 0xC2 || c == 0xC3) && i + 1 < len) {
                bytes[o++] = (uint8_t)(((c & 3) << 6) | (txt[i + 1] & 0x3F));
                i++;
            } else {
                latin1 = 0;
            }
        }
        mg_free(txt);
        n = latin1 ? o : 0;
    } else {
        char probe[64];
        size_t pl = mg_json_str(k->d, s, probe, sizeof(probe));
        if (pl >= 24 && mg_b64_looks(probe, pl < 63 ? pl : 63, 16)) {
            st = b64_node(k, s, &bytes, &n);
            if (st != MG_OK)
                return st;
        }
    }
    if (bytes == NULL || n == 0) {
        mg_free(bytes);
        return MG_OK;
    }
    if (is_pickle(bytes, n)) {
        char path[200], name[260];
        path_of(k, s, path, sizeof(path));
        snprintf(name, sizeof(name), "%s:%s", k->where, path);
        st = find(k, MG_SEV_INFO, "keras-embedded-pickle", s,
                  "a string holds a %zu-byte pickle: scanned as its own layer",
                  n);
        if (st == MG_OK) {
            struct mg_input in;
            mg_input_mem(&in, bytes, n);
            k->nested++;
            st = mg_scan_input(k->ctx, &in, name);
        }
    } else if (is_marshal_code(bytes, n)) {
        char names[300];
        marshal_names(bytes, n, names, sizeof(names));
        st = find(k, MG_SEV_DANGEROUS, "keras-bytecode", s,
                  "a string holds %zu bytes of marshalled Python bytecode%s%s%s"
                  " outside any Lambda layer",
                  n, names[0] ? " (names and strings: " : "", names,
                  names[0] ? ")" : "");
    }
    mg_free(bytes);
    return st;
}

enum mg_status
mg_keras_scan_json(struct mg_ctx *ctx,
                   const uint8_t *text,
                   size_t len,
                   int64_t base_off,
                   const char *where)
{
    const char *utf8;
    size_t ulen;
    int owned;
    enum mg_status st = mg_json_py_bytes(text, len, ctx->lim->max_header_bytes,
                                         &utf8, &ulen, &owned);
    if (st == MG_E_LIMIT)
        return mg_ctx_incomplete(ctx, "max-header-bytes", base_off, where);
    if (st == MG_E_MALFORMED)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "keras-json", base_off,
                            "%s: not decodable as UTF-8, UTF-16 or UTF-32: "
                            "Keras refuses it",
                            where);
    if (st != MG_OK)
        return st;
    /* Offsets are only meaningful when the text was used as is. */
    if (owned)
        base_off = -1;
    struct mg_json_opts o = {.max_depth = ctx->lim->max_json_depth,
                             .max_nodes = ctx->lim->max_json_values,
                             .python = 1};
    struct mg_json_doc d;
    st = mg_json_parse(&d, utf8, ulen, &o);
    struct kc k = {.ctx = ctx, .d = &d, .where = where, .base_off = base_off};
    if (st == MG_E_LIMIT) {
        st = mg_ctx_incomplete(
            ctx, d.limit, base_off >= 0 ? base_off + (int64_t)d.err_off : -1,
            where);
        goto out;
    }
    if (st == MG_E_MALFORMED) {
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "keras-json",
                          base_off >= 0 ? base_off + (int64_t)d.err_off : -1,
                          "%s: not valid JSON (%s at byte %zu): Keras refuses "
                          "it",
                          where, d.err, d.err_off);
        goto out;
    }
    if (st != MG_OK)
        goto out;
    k.parent = mg_calloc(d.n ? d.n : 1, sizeof(*k.parent));
    if (k.parent == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < d.n; i++) {
        enum mg_json_type t = mg_json_type_of(&d, i);
        if (t == MG_JSON_ARRAY) {
            for (uint32_t e = mg_json_first(&d, i); e != MG_JSON_NONE;
                 e = mg_json_next(&d, e))
                k.parent[e] = i;
        } else if (t == MG_JSON_OBJECT) {
            for (uint32_t kk = mg_json_first(&d, i); kk != MG_JSON_NONE;
                 kk = mg_json_next_key(&d, kk)) {
                k.parent[kk] = i;
                k.parent[mg_json_value(&d, kk)] = i;
            }
        }
    }
    for (uint32_t i = 0; i < d.ndup && i < MG_JSON_MAX_DUPS; i++) {
        char raw[81], q[400];
        size_t n = mg_json_str(&d, d.dups[i], raw, sizeof(raw));
        mg_quote(q, sizeof(q), raw, n < sizeof(raw) ? n : sizeof(raw) - 1, 80);
        st = find(&k, MG_SEV_SUSPICIOUS, "keras-json", d.dups[i],
                  "key \"%s\" appears twice in one object: Python keeps the "
                  "last, other readers the first",
                  q);
        if (st != MG_OK)
            goto out;
    }
    for (uint32_t i = 0; i < d.n && st == MG_OK; i++) {
        enum mg_json_type t = mg_json_type_of(&d, i);
        if (t == MG_JSON_OBJECT)
            st = judge_object(&k, i);
        if ((i & 0xFFFF) == 0xFFFF && mg_ctx_expired(ctx))
            st = mg_ctx_incomplete(ctx, "max-seconds", -1, where);
    }
    /* Strings after objects, so that Lambda code is judged as such. */
    for (uint32_t i = 0; i < d.n && st == MG_OK; i++)
        if (mg_json_type_of(&d, i) == MG_JSON_STRING)
            st = judge_string(&k, i);
out:
    mg_free(k.parent);
    mg_json_free(&d);
    if (owned)
        mg_free((void *)utf8);
    return st;
}

/* The ASCII characters of a head in any encoding json.loads accepts. */
static size_t
ascii_view(const uint8_t *h, size_t len, char *out, size_t cap)
{
    size_t step = 1, first = 0, o = 0;
    if (len >= 4 && h[0] == 0xFF && h[1] == 0xFE && h[2] == 0 && h[3] == 0) {
        step = 4;
        first = 4;
    } else if (len >= 4 && h[0] == 0 && h[1] == 0 && h[2] == 0xFE &&
               h[3] == 0xFF) {
        step = 4;
        first = 7;
    } else if (len >= 2 && h[0] == 0xFF && h[1] == 0xFE) {
        step = 2;
        first = 2;
    } else if (len >= 2 && h[0] == 0xFE && h[1] == 0xFF) {
        step = 2;
        first = 3;
    } else if (len >= 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF) {
        first = 3;
    } else if (len >= 4 && h[0] == 0) {
        step = h[1] ? 2 : 4;
        first = h[1] ? 1 : 3;
    } else if (len >= 4 && h[1] == 0) {
        step = (h[2] || h[3]) ? 2 : 4;
    }
    for (size_t i = first; i < len && o + 1 < cap; i += step)
        out[o++] = (char)h[i];
    out[o] = '\0';
    return o;
}

unsigned
mg_keras_json_probe(const uint8_t *head, size_t len)
{
    char a[MG_SNIFF_BYTES + 1];
    size_t n = ascii_view(head, len, a, sizeof(a));
    size_t i = 0;
    while (i < n &&
           (a[i] == ' ' || a[i] == '\n' || a[i] == '\r' || a[i] == '\t'))
        i++;
    if (i >= n || a[i] != '{')
        return 0;
    if (mg_has(a + i, n - i, "\"class_name\"") &&
        (mg_has(a + i, n - i, "\"config\"") ||
         mg_has(a + i, n - i, "\"module\"")))
        return 24;
    if (mg_has(a + i, n - i, "\"keras_version\""))
        return 20;
    return 0;
}

static unsigned
keras_probe(const uint8_t *head, size_t len, uint64_t size)
{
    (void)size;
    return mg_keras_json_probe(head, len);
}

static enum mg_status
keras_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    if (in->mem != NULL && in->size <= SIZE_MAX)
        return mg_keras_scan_json(ctx, in->mem, (size_t)in->size, 0,
                                  "Keras config");
    if (in->size != UINT64_MAX && in->size > ctx->lim->max_header_bytes)
        return mg_ctx_incomplete(ctx, "max-header-bytes", 0,
                                 "Keras JSON document");
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st;
    if (!mg_fmt_random(ctx, in, ctx->lim->max_header_bytes, &tmp, &buf, &use,
                       &st))
        return st;
    if (buf == NULL) {
        /* random access but not in memory: read it whole */
        st = mg_input_dup(in, 0, (size_t)in->size, &buf);
        if (st != MG_OK)
            return st == MG_E_NOMEM
                       ? st
                       : mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
        st = mg_keras_scan_json(ctx, buf, (size_t)in->size, 0, "Keras config");
    } else {
        st = mg_keras_scan_json(ctx, use->mem, (size_t)use->size, 0,
                                "Keras config");
    }
    mg_free(buf);
    return st;
}

const struct mg_format mg_format_keras_json = {"keras-json", keras_probe,
                                               keras_scan};
