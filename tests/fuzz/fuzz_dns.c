/* libFuzzer target for pw_dns_parse_ptr(): DNS answers are untrusted bytes from the network.
 * Besides memory errors it checks what a parse promises: a clean, bounded name. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[PW_DNS_NAME_MAX + 1];
    uint32_t ttl = 0;
    uint8_t *copy = malloc(size ? size : 1);
    int rc;

    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    rc = pw_dns_parse_ptr(copy, size, name, sizeof(name), &ttl);
    if (rc >= 0) {
        size_t n = strnlen(name, sizeof(name));
        if (n == sizeof(name))
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
                abort();
    }
    free(copy);
    return 0;
}
