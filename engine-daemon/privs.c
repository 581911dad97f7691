/* PingWatcher — dropping privileges (see privs.h). */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "privs.h"

int pwd_privs_lookup(const char *user, const char *group, struct pwd_ids *out, char *err,
                     size_t errlen)
{
    struct passwd *pw;
    struct group *gr;

    memset(out, 0, sizeof(*out));
    if (!user || !*user)
        return 0;
    errno = 0;
    pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "user \"%s\" does not exist (create it, or change \"user\")", user);
        return PW_E_NOTFOUND;
    }
    out->change = true;
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    if (group && *group) {
        gr = getgrnam(group);
        if (!gr) {
            snprintf(err, errlen, "group \"%s\" does not exist (create it, or change \"group\")",
                     group);
            return PW_E_NOTFOUND;
        }
        out->gid = gr->gr_gid;
    }
    return 0;
}

int pwd_privs_caps(unsigned long long *eff, unsigned long long *prm, unsigned long long *amb)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "re");
    int found = 0;

    if (!f)
        return -errno;
    *eff = *prm = *amb = ~0ULL;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long *dst = NULL;
        if (strncmp(line, "CapEff:", 7) == 0)
            dst = eff;
        else if (strncmp(line, "CapPrm:", 7) == 0)
            dst = prm;
        else if (strncmp(line, "CapAmb:", 7) == 0)
            dst = amb;
        if (dst) {
            char *end = NULL;
            errno = 0;
            *dst = strtoull(line + 7, &end, 16);
            if (errno || end == line + 7)
                *dst = ~0ULL;
            found++;
        }
    }
    fclose(f);
    return found >= 2 ? 0 : -EIO;
}

int pwd_privs_drop(const struct pwd_ids *ids, char *err, size_t errlen)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    unsigned long long eff, prm, amb;
    int rc;

    if (ids->change) {
        gid_t g = ids->gid;
        if (setgroups(1, &g) < 0 || setgid(ids->gid) < 0 || setuid(ids->uid) < 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot switch to uid %u gid %u: %s", (unsigned)ids->uid,
                     (unsigned)ids->gid, strerror(errno));
            return rc;
        }
        /* setuid() from root changes all three uids; make sure of it. */
        if (ids->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
            snprintf(err, errlen, "could regain root after switching to uid %u",
                     (unsigned)ids->uid);
            return PW_E_RANGE;
        }
    }
    /* Nothing survives an exec or a later setuid either. */
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ||
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot clear capabilities: %s", strerror(errno));
        return rc;
    }
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot drop capabilities: %s", strerror(errno));
        return rc;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
        return rc;
    }
    rc = pwd_privs_caps(&eff, &prm, &amb);
    if (rc < 0) {
        snprintf(err, errlen, "cannot verify capabilities: /proc/self/status: %s", strerror(-rc));
        return rc;
    }
    if (eff || prm || amb) {
        snprintf(err, errlen,
                 "capabilities left after dropping them (CapEff %llx CapPrm %llx CapAmb %llx)", eff,
                 prm, amb);
        return PW_E_RANGE;
    }
    return 0;
}
