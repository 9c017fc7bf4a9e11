/*
 * vm.h - the symbolic pickle machine. It decodes one pickle stream opcode
 * by opcode with CPython's argument rules and runs it on symbolic values
 * (stack, memo, marks), resolving what each GLOBAL, STACK_GLOBAL, INST,
 * OBJ, NEWOBJ(_EX), REDUCE and BUILD really is. It never imports or calls
 * anything: "calls" build call-result values. Everything it learns is
 * reported through one event callback; policy lives in the caller.
 *
 * Where CPython would raise, the machine stops the stream ("break") with
 * the reason and offset. Where the outcome depends on runtime objects the
 * machine cannot know, it goes on (a loader could go on too).
 */
#ifndef MG_PICKLE_VM_H
#define MG_PICKLE_VM_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stdint.h>

#include "io/stream.h"
#include "modelgate/modelgate.h"
#include "pickle/value.h"

struct mg_pvm;

enum mg_pev {
    PEV_OPCODE,  /* an opcode was decoded (only with want_opcodes) */
    PEV_GLOBAL,  /* a global was looked up or derived: glob */
    PEV_CALL,    /* something is called: call; glob = callee if known */
    PEV_METHOD,  /* an implicit method call on an object: method, glob =
                    the object's class or the global itself if known */
    PEV_ANOMALY, /* rule, sev, msg */
    PEV_STRING   /* a string with indicators was decoded: str */
};

struct mg_pevent {
    enum mg_pev kind;
    uint64_t offset;
    uint8_t opcode;
    const char *arg; /* PEV_OPCODE: rendered argument */
    unsigned depth;  /* PEV_OPCODE: marks, pickletools-style */
    struct mg_glob *glob;
    const struct mg_call *call;  /* PEV_CALL */
    const struct mg_val *target; /* PEV_METHOD: the object */
    const char *method;          /* PEV_METHOD: "__setstate__", ... */
    const struct mg_val *margs;  /* PEV_METHOD: its arguments (the state,
                                    the items added) */
    size_t nmargs;               /* PEV_METHOD: how many */
    const char *rule;            /* PEV_ANOMALY */
    enum mg_severity sev;        /* PEV_ANOMALY */
    const char *msg;             /* PEV_ANOMALY */
    const struct mg_str *str;    /* PEV_STRING */
};

typedef enum mg_status (*mg_pvm_cb)(void *user,
                                    struct mg_pvm *vm,
                                    const struct mg_pevent *ev);

enum mg_pend {
    PEND_STOP = 0, /* reached STOP */
    PEND_EMPTY,    /* no byte at all */
    PEND_BREAK     /* CPython would raise here */
};

struct mg_pvm_result {
    enum mg_pend end;
    uint64_t start;      /* offset of the first opcode */
    uint64_t end_off;    /* after STOP, or offset of the failing opcode */
    const char *why;     /* PEND_BREAK: reason (valid until next run) */
    struct mg_val value; /* PEND_STOP: the unpickled value */
    uint64_t nops;
    int proto;        /* last PROTO seen, -1 when none */
    unsigned globals; /* globals looked up */
    unsigned calls;   /* calls made */
};

/* Attribute set on a global by BUILD; lives across streams of one file. */
struct mg_override {
    char *qualname; /* "module.name.attr" */
    char *str;      /* the string value, NULL when not a string */
    struct mg_override *next;
};

struct mg_memo_slot {
    uint64_t key;
    struct mg_val val;
    uint8_t used;
};

struct mg_pvm {
    const struct mg_limits *lim;
    mg_pvm_cb cb;
    void *user;
    int want_opcodes;     /* emit PEV_OPCODE (disasm) */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none (max-seconds) */
    unsigned keep_items;  /* items kept per container */

    struct mg_arena arena;
    struct mg_val *stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    /* The memo: keys written by picklers are dense (0, 1, 2...), so they
       live in an array; sparse keys go to a hash table. */
    struct mg_val *dense; /* kind VK_EMPTY marks a free slot */
    size_t dense_cap;
    struct mg_memo_slot *memo;
    size_t memo_cap, memo_hashed, memo_len;
    struct mg_override *overrides;
    uint64_t nvalues;

    struct mg_stream *s; /* the stream being run (callbacks may consume
                            data that is not pickle, as joblib does) */
    int proto;
    int saw_proto;
    uint64_t frame_end; /* 0: not in a frame */
    int frame_reported;
    unsigned globals, calls;
    const char *limit_name; /* set when MG_E_LIMIT is returned */
    size_t ev_text_len;     /* PEV_STRING: length of ev->msg */
    char why[256];
    char scratch[512];
};

void mg_pvm_init(struct mg_pvm *vm,
                 const struct mg_limits *lim,
                 mg_pvm_cb cb,
                 void *user);
/* Free everything, overrides included. */
void mg_pvm_fini(struct mg_pvm *vm);

/*
 * Run one stream from the stream's current position. Returns MG_OK with
 * *res filled for STOP, EMPTY and BREAK; MG_E_LIMIT (vm->limit_name says
 * which), MG_E_NOMEM, MG_E_IO or a status returned by the callback
 * otherwise (res->end_off still tells where). Values in *res stay valid
 * until the next run or mg_pvm_fini().
 */
enum mg_status
mg_pvm_run(struct mg_pvm *vm, struct mg_stream *s, struct mg_pvm_result *res);

/* For callbacks that consume non-pickle data from vm->s (joblib arrays):
   the current frame, if any, ends here. */
void mg_pvm_end_frame(struct mg_pvm *vm);

/* For callbacks: render a value with the machine's limits. */
const char *mg_pvm_render(struct mg_pvm *vm, const struct mg_val *v);

#endif
