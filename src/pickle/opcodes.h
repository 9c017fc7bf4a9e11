/*
 * opcodes.h - every opcode of pickle protocols 0 to 5, as CPython's
 * pickletools names them, with the kind of argument that follows the
 * opcode byte in the stream.
 */
#ifndef MG_PICKLE_OPCODES_H
#define MG_PICKLE_OPCODES_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stdint.h>

enum mg_parg {
    PARG_NONE = 0,
    PARG_U1,             /* uint1 */
    PARG_U2,             /* uint2 */
    PARG_I4,             /* int4 (signed) */
    PARG_U4,             /* uint4 */
    PARG_U8,             /* uint8 */
    PARG_F8,             /* float8, big-endian IEEE double */
    PARG_DECIMALNL,      /* INT, GET, PUT: decimal line */
    PARG_LONGNL,         /* LONG: decimal line, optional trailing L */
    PARG_FLOATNL,        /* FLOAT: repr line */
    PARG_STRINGNL,       /* STRING: quoted, escaped line */
    PARG_UNICODENL,      /* UNICODE: raw-unicode-escape line */
    PARG_STRINGNL_NOESC, /* PERSID: one ASCII line */
    PARG_NOESC_PAIR,     /* GLOBAL, INST: two UTF-8 lines */
    PARG_LONG1,          /* uint1 length + little-endian 2's complement */
    PARG_LONG4,          /* int4 length + little-endian 2's complement */
    PARG_STRING1,        /* uint1 length + bytes */
    PARG_STRING4,        /* int4 length + bytes */
    PARG_BYTES1,         /* uint1 length + bytes */
    PARG_BYTES4,         /* uint4 length + bytes */
    PARG_BYTES8,         /* uint8 length + bytes */
    PARG_UNICODE1,       /* uint1 length + UTF-8 */
    PARG_UNICODE4,       /* uint4 length + UTF-8 */
    PARG_UNICODE8        /* uint8 length + UTF-8 */
};

enum mg_pop {
    OP_MARK = '(',
    OP_STOP = '.',
    OP_POP = '0',
    OP_POP_MARK = '1',
    OP_DUP = '2',
    OP_FLOAT = 'F',
    OP_INT = 'I',
    OP_BININT = 'J',
    OP_BININT1 = 'K',
    OP_LONG = 'L',
    OP_BININT2 = 'M',
    OP_NONE = 'N',
    OP_PERSID = 'P',
    OP_BINPERSID = 'Q',
    OP_REDUCE = 'R',
    OP_STRING = 'S',
    OP_BINSTRING = 'T',
    OP_SHORT_BINSTRING = 'U',
    OP_UNICODE = 'V',
    OP_BINUNICODE = 'X',
    OP_APPEND = 'a',
    OP_BUILD = 'b',
    OP_GLOBAL = 'c',
    OP_DICT = 'd',
    OP_EMPTY_DICT = '}',
    OP_APPENDS = 'e',
    OP_GET = 'g',
    OP_BINGET = 'h',
    OP_INST = 'i',
    OP_LONG_BINGET = 'j',
    OP_LIST = 'l',
    OP_EMPTY_LIST = ']',
    OP_OBJ = 'o',
    OP_PUT = 'p',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_SETITEM = 's',
    OP_TUPLE = 't',
    OP_EMPTY_TUPLE = ')',
    OP_SETITEMS = 'u',
    OP_BINFLOAT = 'G',
    /* protocol 2 */
    OP_PROTO = 0x80,
    OP_NEWOBJ = 0x81,
    OP_EXT1 = 0x82,
    OP_EXT2 = 0x83,
    OP_EXT4 = 0x84,
    OP_TUPLE1 = 0x85,
    OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_LONG1 = 0x8a,
    OP_LONG4 = 0x8b,
    /* protocol 3 */
    OP_BINBYTES = 'B',
    OP_SHORT_BINBYTES = 'C',
    /* protocol 4 */
    OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d,
    OP_BINBYTES8 = 0x8e,
    OP_EMPTY_SET = 0x8f,
    OP_ADDITEMS = 0x90,
    OP_FROZENSET = 0x91,
    OP_NEWOBJ_EX = 0x92,
    OP_STACK_GLOBAL = 0x93,
    OP_MEMOIZE = 0x94,
    OP_FRAME = 0x95,
    /* protocol 5 */
    OP_BYTEARRAY8 = 0x96,
    OP_NEXT_BUFFER = 0x97,
    OP_READONLY_BUFFER = 0x98
};

struct mg_opinfo {
    const char *name; /* NULL: not an opcode */
    uint8_t arg;      /* enum mg_parg */
    uint8_t proto;    /* protocol that introduced it */
};

/* Indexed by opcode byte; name == NULL for invalid bytes. */
extern const struct mg_opinfo mg_opcodes[256];

#endif
