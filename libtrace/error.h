/* PingWatcher — return codes shared by every libtrace module.
 *
 * Functions return 0 on success and a negative value on failure: either -errno (for failures
 * that come from the system, e.g. -ENOMEM, -EPERM) or one of the PW_E_* codes below, which are
 * chosen far below any errno value so the two never collide.
 */
#ifndef PW_ERROR_H
#define PW_ERROR_H

enum {
    PW_E_TRUNCATED = -10001, /* input shorter than the headers it announces */
    PW_E_MALFORMED = -10002, /* header fields inconsistent (version, lengths, options) */
    PW_E_CHECKSUM = -10003,  /* a checksum does not verify */
    PW_E_NOT_OURS = -10004,  /* well-formed, but not a reply this engine can have caused */
    PW_E_RANGE = -10005,     /* a value is outside its allowed range */
    PW_E_NOTFOUND = -10006,  /* no such object (target, host, record) */
};

/* Returns a static, human-readable description of a PW_E_* code or a negative errno. */
const char *pw_strerror(int err);

#endif
