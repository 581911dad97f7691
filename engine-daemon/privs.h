/* PingWatcher — giving up privileges once the raw sockets are open.
 *
 * pingwatcherd needs CAP_NET_RAW for one thing: opening its raw sockets and the capture. It
 * gets it either by starting as root (and then becomes the configured user) or, under
 * systemd, by starting as that user with CAP_NET_RAW as an ambient capability. Either way,
 * right after opening everything it calls pwd_privs_drop() and refuses to go on unless the
 * process ends up with no capability at all.
 */
#ifndef PWD_PRIVS_H
#define PWD_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pwd_ids {
    bool change; /* switch to uid/gid (started as root with a user configured) */
    uid_t uid;
    gid_t gid;
};

/* Looks up user (and group; "" = the user's primary group) with getpwnam/getgrnam. An empty
 * user means "stay who we are" (change = false). Returns 0 or PW_E_NOTFOUND with a reason. */
int pwd_privs_lookup(const char *user, const char *group, struct pwd_ids *out, char *err,
                     size_t errlen);

/* Switches to ids (when change: setgroups, setgid, setuid — in that order, and checks that
 * root cannot be regained), then drops every capability (effective, permitted, inheritable,
 * ambient), turns PR_SET_KEEPCAPS off and PR_SET_NO_NEW_PRIVS on, and verifies with
 * /proc/self/status that CapEff, CapPrm and CapAmb are 0. Returns 0, or -errno / PW_E_RANGE
 * with a reason; the caller must then exit. */
int pwd_privs_drop(const struct pwd_ids *ids, char *err, size_t errlen);

/* Reads CapEff, CapPrm and CapAmb of /proc/self/status. Returns 0 or -errno. */
int pwd_privs_caps(unsigned long long *eff, unsigned long long *prm, unsigned long long *amb);

#endif
