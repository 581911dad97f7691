/* PingWatcher — descriptions of libtrace return codes. */
#include <string.h>

#include "error.h"

const char *pw_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case PW_E_TRUNCATED:
        return "truncated input";
    case PW_E_MALFORMED:
        return "malformed input";
    case PW_E_CHECKSUM:
        return "bad checksum";
    case PW_E_NOT_OURS:
        return "not a reply to one of our probes";
    case PW_E_RANGE:
        return "value out of range";
    case PW_E_NOTFOUND:
        return "not found";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}
