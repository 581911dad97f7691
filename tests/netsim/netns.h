/*
 * netns.h - the prober-side network namespace netsim creates and always removes
 *
 * Setup creates the namespace NAME (via `ip netns add`), /etc/netns/NAME/resolv.conf pointing
 * at the simulated resolver, and inside the namespace a TUN device pwsim0 carrying
 * 198.18.0.1/15 and 2001:db8::1/32, so the whole simulated space routes into netsim. The TUN fd
 * is opened inside the namespace and kept after returning to the original one. Everything is
 * recorded as it is created so teardown removes exactly that, also after a partial setup.
 */
#ifndef PW_SIM_NETNS_H
#define PW_SIM_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#define PW_SIM_NETNS_PREFIX "pwsim-"
#define PW_SIM_NETNS_NAME_MAX 32
#define PW_SIM_TUN_NAME "pwsim0"

struct pw_sim_netns {
    char name[PW_SIM_NETNS_NAME_MAX + 1];
    bool ns_created;       /* /run/netns/NAME */
    bool etc_root_created; /* /etc/netns */
    bool etc_dir_created;  /* /etc/netns/NAME */
    bool resolv_created;   /* /etc/netns/NAME/resolv.conf */
    int tun_fd;            /* non-blocking, close-on-exec; -1 when not open */
    bool ipv6;             /* IPv6 is configured on pwsim0 */
};

/* Check a namespace name: PW_SIM_NETNS_PREFIX, then 1..26 of [A-Za-z0-9_-]. Returns 0 or
 * -EINVAL with a one-line reason in err. */
int pw_sim_netns_check_name(const char *name, char *err, size_t errlen);

/*
 * Create everything described above. ns must be zeroed (tun_fd -1 is set here). Returns 0, or
 * -errno with a one-line reason in err after undoing whatever was created. Runs `ip`, so it
 * must happen before the process does anything a child should not inherit.
 */
int pw_sim_netns_setup(struct pw_sim_netns *ns, const char *name, char *err, size_t errlen);

/* Remove what setup created, in reverse order; idempotent. Problems are reported on stderr
 * (this runs at exit, where nobody else can report them). */
void pw_sim_netns_teardown(struct pw_sim_netns *ns);

#endif
