/* Fuzz target: the safetensors scanner, called directly. Odd-sized inputs
   get their 8-byte header length rewritten to end at the last '}' so that
   mutations reach the header checks instead of the length check. */
#include <stdlib.h>
#include <string.h>

#include "fmt_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    if (size > 9 && (size & 1)) {
        size_t end = size;
        while (end > 8 && copy[end - 1] != '}')
            end--;
        uint64_t n = end > 8 ? end - 8 : 0;
        for (int i = 0; i < 8; i++)
            copy[i] = (uint8_t)(n >> (8 * i));
    }
    fmt_fuzz_scan(&mg_format_safetensors, copy, size);
    free(copy);
    return 0;
}
