/*
 * sandbox_ipc_fuzz.c - the sandbox decoders of bytes that come from the
 * sandboxed target: the child -> supervisor message (sb_ipc_decode), and
 * the socket address, msghdr and pointer-array decoders the supervisor
 * applies to memory read from the target. The first byte picks the
 * decoder; the rest is the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sandbox/sandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t which = data[0];
    data++;
    size--;
    switch (which % 4) {
    case 0: {
        struct sb_msg m;
        size_t used = 0;
        if (sb_ipc_decode(size ? data : NULL, size, &m, &used) == MG_OK &&
            (used > size || m.type < SB_MSG_READY || m.type > SB_MSG_GO))
            __builtin_trap();
        break;
    }
    case 1: {
        struct sb_addr a;
        if (sb_decode_sockaddr(data, size, &a) == MG_OK &&
            strlen(a.text) >= sizeof(a.text))
            __builtin_trap();
        break;
    }
    case 2: {
        uint64_t name;
        uint32_t len;
        (void)sb_decode_msghdr(data, size, &name, &len);
        break;
    }
    default: {
        uint64_t ptrs[SB_ARGV_MAX];
        size_t n;
        int term;
        if (sb_decode_ptrs(data, size, ptrs, SB_ARGV_MAX, &n, &term) == MG_OK &&
            n > SB_ARGV_MAX)
            __builtin_trap();
        break;
    }
    }
    return 0;
}
