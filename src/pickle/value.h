/*
 * value.h - symbolic values of the pickle machine. Scalars live inline in
 * a 16-byte slot; strings and objects come from a per-stream arena that is
 * freed in one go. Precision may degrade under memory pressure (strings
 * beyond the string budget are "forgotten", containers keep only their
 * first items), but never silently: a forgotten or truncated value can
 * never resolve a global, so using one where a name is needed is reported.
 */
#ifndef MG_PICKLE_VALUE_H
#define MG_PICKLE_VALUE_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

enum mg_vk {
    VK_NONE = 0,
    VK_BOOL,
    VK_INT,    /* fits in int64 */
    VK_BIGINT, /* does not; u.i holds the sign (-1/1) */
    VK_FLOAT,
    VK_STR,         /* u.s; str */
    VK_BYTES,       /* u.s; bytes or bytearray (STR_BYTEARRAY) */
    VK_OBJ,         /* u.o */
    VK_EMPTY = 0xff /* a free memo slot, never on the stack */
};

/* mg_str flags */
#define STR_TRUNC     0x01 /* only a prefix is kept */
#define STR_FORGOTTEN 0x02 /* nothing is kept (string budget spent) */
#define STR_BYTEARRAY 0x04
#define STR_SURROGATE 0x08 /* contains encoded surrogates */

struct mg_str {
    uint64_t full_len; /* length in the stream (UTF-8 bytes for str) */
    uint64_t src_off;  /* stream offset of the payload, UINT64_MAX if none */
    uint32_t len;      /* bytes kept in data */
    uint16_t flags;
    uint16_t ind; /* indicator classes found (indicators.h) */
    char data[];  /* len bytes + NUL */
};

struct mg_obj;

struct mg_val {
    uint8_t kind; /* enum mg_vk */
    union {
        int64_t i;
        double f;
        struct mg_str *s;
        struct mg_obj *o;
    } u;
};

enum mg_ok {
    OK_TUPLE = 0,
    OK_LIST,
    OK_DICT,
    OK_SET,
    OK_FROZENSET,
    OK_GLOBAL, /* struct mg_glob: a class, function, module or attribute */
    OK_CALL,   /* struct mg_call: result of calling something */
    OK_PERSID, /* struct mg_call with callee none: persistent_load(pid) */
    OK_BUFFER, /* out-of-band buffer (NEXT_BUFFER) */
    OK_UNKNOWN /* anything the machine cannot know */
};

/* Object flags. */
#define OBJ_TRUNC 0x01 /* container keeps only its first items */

/* What the machine knows a value to be (mg_obj.sem). */
enum mg_sem {
    SEM_NONE = 0,
    SEM_MODULE,       /* a module object (glob with empty name) */
    SEM_ATTRGETTER,   /* operator.attrgetter(name) */
    SEM_ITEMGETTER,   /* operator.itemgetter(key) */
    SEM_METHODCALLER, /* operator.methodcaller(name, *args) */
    SEM_PARTIAL,      /* functools.partial(f, *args) */
    SEM_INSTANCE,     /* instance of a class (call of a class) */
    SEM_GLOBALS_DICT  /* globals() / vars() of an unknown scope */
};

struct mg_obj {
    uint8_t kind; /* enum mg_ok */
    uint8_t flags;
    uint8_t sem;    /* enum mg_sem */
    uint8_t how;    /* OK_CALL: opcode that made it */
    uint32_t nkept; /* items kept */
    uint32_t cap;
    uint32_t count;       /* logical number of items (dict: pairs * 2),
                             saturating */
    uint64_t offset;      /* stream offset of the creating opcode */
    struct mg_val *items; /* containers and filled instances */
};

/* How a global came to be. */
enum mg_via {
    VIA_GLOBAL = 0,   /* GLOBAL opcode */
    VIA_STACK_GLOBAL, /* STACK_GLOBAL opcode */
    VIA_INST,         /* INST opcode */
    VIA_GETATTR,      /* attribute of another global (getattr, attrgetter) */
    VIA_IMPORT,       /* __import__ / import_module / resolve_name */
    VIA_ITEM,         /* item of a module or class __dict__ */
    VIA_INSTANCE,     /* attribute of an instance of a class */
    VIA_BUILD,        /* attribute set by BUILD on a global */
    VIA_EXT           /* EXT1/2/4 registry code */
};

struct mg_glob {
    struct mg_obj h;
    const struct mg_str *module;
    const struct mg_str *name; /* dotted qualname; len 0 for a module */
    uint8_t via;               /* enum mg_via */
    uint8_t sev;               /* policy severity, set by the scan layer */
    uint8_t reported;
};

struct mg_call {
    struct mg_obj h; /* items: what APPEND/SETITEM put into the instance */
    struct mg_val callee;
    struct mg_val args;
    struct mg_val kwargs;
    struct mg_val state; /* BUILD state, VK_NONE when none */
    uint8_t has_state;
};

/* The arena: chunks freed together; a byte cap makes allocation fail. */
struct mg_arena_chunk;
struct mg_arena {
    struct mg_arena_chunk *head;
    size_t used_in_head;
    size_t head_size;
    uint64_t total;     /* bytes allocated from malloc */
    uint64_t cap;       /* total never exceeds this */
    uint64_t str_bytes; /* bytes used by string payloads */
    uint64_t str_budget;
    int capped; /* the last failure was the cap, not malloc */
};

void mg_arena_init(struct mg_arena *a, uint64_t cap, uint64_t str_budget);
void mg_arena_fini(struct mg_arena *a);
void *mg_arena_alloc(struct mg_arena *a, size_t n);

/* New string value: keeps at most `keep` bytes (MG_KEEP_STRING); NULL on
   arena exhaustion. */
struct mg_str *mg_str_new(struct mg_arena *a,
                          const void *p,
                          size_t len,
                          uint64_t full_len,
                          uint64_t src_off,
                          size_t keep);

static inline int
mg_str_exact(const struct mg_str *s)
{
    return (s->flags & (STR_TRUNC | STR_FORGOTTEN)) == 0;
}

static inline int
mg_val_is_str(const struct mg_val *v)
{
    return v->kind == VK_STR;
}

static inline struct mg_obj *
mg_val_obj(const struct mg_val *v, enum mg_ok kind)
{
    return (v->kind == VK_OBJ && v->u.o->kind == kind) ? v->u.o : NULL;
}

/* Python's type name of a builtin value ("int", "dict", "NoneType"...),
   NULL for objects whose type is a class (globals, calls, storages). */
const char *mg_val_type_name(const struct mg_val *v);

/* Render a value as Python-like text into buf (always NUL-terminated,
   truncated with "..." when it does not fit). depth bounds recursion. */
size_t
mg_val_render(const struct mg_val *v, char *buf, size_t size, unsigned depth);
/* Render a string with Python repr() quoting. */
size_t
mg_str_repr(const struct mg_str *s, int is_bytes, char *buf, size_t size);
/* "module.name" of a global into buf. */
size_t mg_glob_qualname(const struct mg_glob *g, char *buf, size_t size);

#endif
