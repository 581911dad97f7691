/*
 * netns.c - create and remove the prober-side namespace and its TUN device
 */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scenario.h"

#define RUN_NETNS "/run/netns"
#define ETC_NETNS "/etc/netns"

extern char **environ;

int pw_sim_netns_check_name(const char *name, char *err, size_t errlen)
{
    size_t plen = strlen(PW_SIM_NETNS_PREFIX);
    size_t len = strlen(name);

    if (strncmp(name, PW_SIM_NETNS_PREFIX, plen) != 0 || len == plen ||
        len > PW_SIM_NETNS_NAME_MAX) {
        snprintf(err, errlen,
                 "namespace name must be \"%s\" followed by 1 to %zu characters (got \"%.40s\")",
                 PW_SIM_NETNS_PREFIX, PW_SIM_NETNS_NAME_MAX - plen, name);
        return -EINVAL;
    }
    for (size_t i = plen; i < len; i++) {
        char ch = name[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-')) {
            snprintf(err, errlen,
                     "namespace name may only hold letters, digits, '_' and '-' (got \"%.40s\")",
                     name);
            return -EINVAL;
        }
    }
    return 0;
}

static const char *ip_binary(void)
{
    static const char *const paths[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    }
    return "ip";
}

/*
 * Run `ip` with argv (argv[0] ignored) and wait for it. Its stdout goes to our stderr because
 * our stdout carries the READY line. Returns 0 if it exited with status 0.
 */
static int run_ip(char *const argv[], char *err, size_t errlen)
{
    const char *bin = ip_binary();
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    char *args[16];
    pid_t pid;
    int status, rc;
    size_t i;

    args[0] = (char *)"ip";
    for (i = 1; argv[i] != NULL && i + 1 < sizeof(args) / sizeof(args[0]); i++)
        args[i] = argv[i];
    args[i] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    posix_spawnattr_init(&attr);
    /* SIGPIPE is ignored in netsim; ignored dispositions survive exec, so reset them. */
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = bin[0] == '/' ? posix_spawn(&pid, bin, &fa, &attr, args, environ)
                       : posix_spawnp(&pid, bin, &fa, &attr, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "cannot run %s: %s", bin, strerror(rc));
        return -rc;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = -errno;
            snprintf(err, errlen, "waiting for %s failed: %s", bin, strerror(errno));
            return rc;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char cmd[160] = "";
        size_t off = 0;

        for (i = 1; args[i] != NULL && off < sizeof(cmd); i++) {
            int n = snprintf(cmd + off, sizeof(cmd) - off, " %s", args[i]);

            if (n < 0)
                break;
            off += (size_t)n;
        }
        snprintf(err, errlen, "`ip%s` failed (%s %d)", cmd,
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -EIO;
    }
    return 0;
}

static int write_file(const char *path, const char *val, char *err, size_t errlen)
{
    size_t len = strlen(val);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0) {
        rc = -errno;
    } else {
        errno = 0;
        if (write(fd, val, len) != (ssize_t)len)
            rc = errno != 0 ? -errno : -EIO; /* a short write leaves errno alone */
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
    }
    if (rc < 0)
        snprintf(err, errlen, "cannot set %s to \"%s\" in the namespace: %s", path, val,
                 strerror(-rc));
    return rc;
}

/* Prober-side settings; runs while the thread is inside the new namespace. */
static int set_sysctls(struct pw_sim_netns *ns, char *err, size_t errlen)
{
    static const char *const v4[][2] = {
        /* Unprivileged ICMP sockets (ping, the daemon after dropping privileges). */
        {"/proc/sys/net/ipv4/ping_group_range", "0 2147483647"},
        {"/proc/sys/net/ipv4/conf/all/rp_filter", "0"},
        {"/proc/sys/net/ipv4/conf/" PW_SIM_TUN_NAME "/rp_filter", "0"},
    };
    static const char *const v6[][2] = {
        {"/proc/sys/net/ipv6/conf/all/disable_ipv6", "0"},
        {"/proc/sys/net/ipv6/conf/default/disable_ipv6", "0"},
        {"/proc/sys/net/ipv6/conf/" PW_SIM_TUN_NAME "/disable_ipv6", "0"},
        /* No DAD delay before 2001:db8::1 is usable, no router solicitations as noise. */
        {"/proc/sys/net/ipv6/conf/" PW_SIM_TUN_NAME "/accept_dad", "0"},
        {"/proc/sys/net/ipv6/conf/" PW_SIM_TUN_NAME "/dad_transmits", "0"},
        {"/proc/sys/net/ipv6/conf/" PW_SIM_TUN_NAME "/accept_ra", "0"},
        {"/proc/sys/net/ipv6/conf/" PW_SIM_TUN_NAME "/router_solicitations", "0"},
    };
    int rc;

    for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
        if ((rc = write_file(v4[i][0], v4[i][1], err, errlen)) < 0)
            return rc;
    }
    ns->ipv6 = access("/proc/sys/net/ipv6", F_OK) == 0;
    for (size_t i = 0; ns->ipv6 && i < sizeof(v6) / sizeof(v6[0]); i++) {
        if ((rc = write_file(v6[i][0], v6[i][1], err, errlen)) < 0)
            return rc;
    }
    return 0;
}

/* Enter the namespace, create the TUN device there and configure sysctls, come back. */
static int open_tun(struct pw_sim_netns *ns, char *err, size_t errlen)
{
    char path[sizeof(RUN_NETNS) + PW_SIM_NETNS_NAME_MAX + 2];
    struct ifreq ifr;
    int orig = -1, target = -1, rc = 0;
    bool inside = false;

    snprintf(path, sizeof(path), "%s/%s", RUN_NETNS, ns->name);
    orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (orig < 0 || target < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", orig < 0 ? "/proc/self/ns/net" : path,
                 strerror(errno));
        goto out;
    }
    if (setns(target, CLONE_NEWNET) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot enter namespace %s: %s", ns->name, strerror(errno));
        goto out;
    }
    inside = true;
    /* The device belongs to the namespace the fd was opened in, hence the detour. */
    ns->tun_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (ns->tun_fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(errno));
        goto out;
    }
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", PW_SIM_TUN_NAME);
    if (ioctl(ns->tun_fd, TUNSETIFF, &ifr) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create TUN device %s: %s", PW_SIM_TUN_NAME, strerror(errno));
        goto out;
    }
    rc = set_sysctls(ns, err, errlen);
out:
    if (inside && setns(orig, CLONE_NEWNET) < 0) {
        /* Staying in the wrong namespace would make every later step lie; give up hard. */
        fprintf(stderr, "pw-netsim: cannot return to the original namespace: %s\n",
                strerror(errno));
        _exit(1);
    }
    if (orig >= 0)
        close(orig);
    if (target >= 0)
        close(target);
    return rc;
}

static int make_etc(struct pw_sim_netns *ns, char *err, size_t errlen)
{
    char dir[sizeof(ETC_NETNS) + PW_SIM_NETNS_NAME_MAX + 2];
    char file[sizeof(dir) + 16];
    static const char conf[] = "# written by pw-netsim; removed when it exits\n"
                               "nameserver " PW_SIM_DNS4 "\n"
                               "options timeout:1 attempts:2\n";
    int fd, rc;

    snprintf(dir, sizeof(dir), "%s/%s", ETC_NETNS, ns->name);
    snprintf(file, sizeof(file), "%s/resolv.conf", dir);
    errno = 0;
    /* Another netsim that created /etc/netns may remove it between our two mkdir() calls
     * (ENOENT); trying again is enough then. */
    for (int tries = 0;; tries++) {
        if (mkdir(ETC_NETNS, 0755) == 0)
            ns->etc_root_created = true;
        else if (errno != EEXIST)
            goto fail;
        if (mkdir(dir, 0755) == 0)
            break;
        if (errno == EEXIST) {
            snprintf(err, errlen,
                     "%s already exists (left by an earlier run?); remove it or "
                     "choose another -n",
                     dir);
            return -EEXIST;
        }
        if (errno != ENOENT || tries == 2)
            goto fail;
    }
    ns->etc_dir_created = true;
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    ns->resolv_created = true;
    if (write(fd, conf, sizeof(conf) - 1) != (ssize_t)(sizeof(conf) - 1)) {
        close(fd);
        goto fail;
    }
    if (close(fd) < 0)
        goto fail;
    return 0;
fail:
    rc = errno != 0 ? -errno : -EIO; /* a short write leaves errno alone */
    snprintf(err, errlen, "cannot create %s: %s", ns->etc_dir_created ? file : dir, strerror(-rc));
    return rc;
}

int pw_sim_netns_setup(struct pw_sim_netns *ns, const char *name, char *err, size_t errlen)
{
    char *add[] = {"ip", "netns", "add", ns->name, NULL};
    char *lo[] = {"ip", "-n", ns->name, "link", "set", "dev", "lo", "up", NULL};
    /* A long queue so bursts of 50k probes/s are not dropped before netsim reads them. */
    char *up[] = {"ip",  "-n",   ns->name,     "link",  "set", "dev", PW_SIM_TUN_NAME,
                  "mtu", "1500", "txqueuelen", "10000", "up",  NULL};
    char *a4[] = {"ip", "-n", ns->name, "addr", "add", PW_SIM_PROBER4 "/15", "dev", PW_SIM_TUN_NAME,
                  NULL};
    char *a6[] = {
        "ip",    "-n", ns->name, "-6", "addr", "add", PW_SIM_PROBER6 "/32", "dev", PW_SIM_TUN_NAME,
        "nodad", NULL};
    int rc;

    ns->tun_fd = -1;
    if ((rc = pw_sim_netns_check_name(name, err, errlen)) < 0)
        return rc;
    snprintf(ns->name, sizeof(ns->name), "%s", name);

    /* `ip netns add` refuses an existing name, so we never adopt someone else's namespace. */
    if ((rc = run_ip(add, err, errlen)) < 0) {
        char tmp[256];

        snprintf(tmp, sizeof(tmp), "%s", err);
        snprintf(err, errlen, "cannot create namespace %s (exists already, or not root?): %s",
                 ns->name, tmp);
        goto fail;
    }
    ns->ns_created = true;
    if ((rc = make_etc(ns, err, errlen)) < 0)
        goto fail;
    if ((rc = open_tun(ns, err, errlen)) < 0)
        goto fail;
    if ((rc = run_ip(lo, err, errlen)) < 0 || (rc = run_ip(up, err, errlen)) < 0 ||
        (rc = run_ip(a4, err, errlen)) < 0)
        goto fail;
    if (ns->ipv6 && (rc = run_ip(a6, err, errlen)) < 0)
        goto fail;
    return 0;
fail:
    pw_sim_netns_teardown(ns);
    return rc;
}

void pw_sim_netns_teardown(struct pw_sim_netns *ns)
{
    char path[sizeof(ETC_NETNS) + PW_SIM_NETNS_NAME_MAX + 16];

    /* The TUN fd pins the namespace; close it first so the namespace really goes away. */
    if (ns->tun_fd >= 0) {
        close(ns->tun_fd);
        ns->tun_fd = -1;
    }
    if (ns->resolv_created) {
        snprintf(path, sizeof(path), "%s/%s/resolv.conf", ETC_NETNS, ns->name);
        if (unlink(path) < 0 && errno != ENOENT)
            fprintf(stderr, "pw-netsim: cannot remove %s: %s\n", path, strerror(errno));
        ns->resolv_created = false;
    }
    if (ns->etc_dir_created) {
        snprintf(path, sizeof(path), "%s/%s", ETC_NETNS, ns->name);
        if (rmdir(path) < 0 && errno != ENOENT)
            fprintf(stderr, "pw-netsim: cannot remove %s: %s\n", path, strerror(errno));
        ns->etc_dir_created = false;
    }
    if (ns->etc_root_created) {
        /* Another netsim may be using it by now; then it stays, which is fine. */
        rmdir(ETC_NETNS);
        ns->etc_root_created = false;
    }
    if (ns->ns_created) {
        /* What `ip netns del` does, done here so shutdown needs no child process. */
        snprintf(path, sizeof(path), "%s/%s", RUN_NETNS, ns->name);
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            fprintf(stderr, "pw-netsim: cannot unmount %s: %s\n", path, strerror(errno));
        if (unlink(path) < 0 && errno != ENOENT)
            fprintf(stderr, "pw-netsim: cannot remove %s: %s\n", path, strerror(errno));
        ns->ns_created = false;
    }
}
