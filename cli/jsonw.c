#include <stdio.h>
#include <string.h>

#include "cli.h"

/* JSON string with escapes; bytes that are not valid UTF-8 become
   U+FFFD so that the document stays valid. */
void
json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            p++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n':
                fputs("\\n", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            default:
                fprintf(f, "\\u%04x", c);
                break;
            }
            p++;
        } else if (c < 0x80) {
            fputc(c, f);
            p++;
        } else {
            size_t k = 0;
            if (c >= 0xc2 && c < 0xe0)
                k = 2;
            else if (c >= 0xe0 && c < 0xf0)
                k = 3;
            else if (c >= 0xf0 && c < 0xf5)
                k = 4;
            int ok = k > 0;
            for (size_t i = 1; ok && i < k; i++)
                if ((p[i] & 0xc0) != 0x80)
                    ok = 0;
            if (ok && k == 3) {
                if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))
                    ok = 0;
            }
            if (ok && k == 4) {
                if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
                    ok = 0;
            }
            if (ok) {
                fwrite(p, 1, k, f);
                p += k;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
        }
    }
    fputc('"', f);
}

void
json_str_or_null(FILE *f, const char *s)
{
    if (s == NULL)
        fputs("null", f);
    else
        json_str(f, s);
}
