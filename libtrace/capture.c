/* PingWatcher — reply capture with libpcap (see capture.h for the design). */
#include <errno.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "error.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* Only what can be a reply to a probe of ours passes the kernel filter: ICMP echo reply,
 * unreachable and time exceeded; ICMPv6 unreachable, time exceeded and echo reply; TCP
 * segments with RST, or with SYN and ACK. libpcap cannot index tcp[] over IPv6, hence the
 * explicit offsets (fixed 40-byte header; extension headers are not ours to follow). */
static const char capture_filter[] =
    "(icmp and (icmp[0] = 0 or icmp[0] = 3 or icmp[0] = 11))"
    " or (ip6 and ip6[6] = 58 and (ip6[40] = 1 or ip6[40] = 3 or ip6[40] = 129))"
    " or (ip and tcp and (tcp[13] & 4 != 0 or tcp[13] & 18 = 18))"
    " or (ip6 and ip6[6] = 6 and (ip6[53] & 4 != 0 or ip6[53] & 18 = 18))";

struct pw_capture {
    pcap_t *pcap;
    int dlt;
    int fd;
    pw_capture_cb cb;
    void *arg;
};

int pw_capture_l3_offset(int dlt, const uint8_t *frame, size_t len)
{
    size_t off;
    unsigned ethertype;

    switch (dlt) {
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        off = 0;
        break;
    case DLT_EN10MB:
        if (len < 14)
            return PW_E_TRUNCATED;
        ethertype = (unsigned)frame[12] << 8 | frame[13];
        off = 14;
        if (ethertype == 0x8100 || ethertype == 0x88a8) { /* one VLAN tag */
            if (len < 18)
                return PW_E_TRUNCATED;
            ethertype = (unsigned)frame[16] << 8 | frame[17];
            off = 18;
        }
        if (ethertype != 0x0800 && ethertype != 0x86dd)
            return PW_E_NOT_OURS;
        break;
    case DLT_LINUX_SLL:
        if (len < 16)
            return PW_E_TRUNCATED;
        ethertype = (unsigned)frame[14] << 8 | frame[15];
        if (ethertype != 0x0800 && ethertype != 0x86dd)
            return PW_E_NOT_OURS;
        off = 16;
        break;
    case DLT_LINUX_SLL2:
        if (len < 20)
            return PW_E_TRUNCATED;
        ethertype = (unsigned)frame[0] << 8 | frame[1];
        if (ethertype != 0x0800 && ethertype != 0x86dd)
            return PW_E_NOT_OURS;
        off = 20;
        break;
    case DLT_NULL:
    case DLT_LOOP:
        off = 4;
        break;
    default:
        return PW_E_NOT_OURS;
    }
    if (len <= off)
        return PW_E_TRUNCATED;
    return (int)off;
}

struct pw_capture *pw_capture_open(const struct pw_capture_opts *opts, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    const char *device = opts && opts->device ? opts->device : "any";
    int timeout_ms = opts && opts->timeout_ms ? (int)opts->timeout_ms : 5;
    int buffer = opts && opts->buffer_bytes ? (int)opts->buffer_bytes : 8 << 20;
    struct bpf_program prog;
    struct pw_capture *c = calloc(1, sizeof(*c));
    int rc, saved_errno = EIO;

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->pcap = pcap_create(device, ebuf);
    if (!c->pcap) {
        snprintf(err, errlen, "capture on %s: %s", device, ebuf);
        goto fail;
    }
    /* Buffered ring (TPACKET_V3), not immediate mode: cheaper per packet and the kernel's
     * arrival timestamps make the measurement exact anyway. */
    if (pcap_set_snaplen(c->pcap, 65535) || pcap_set_promisc(c->pcap, 0) ||
        pcap_set_timeout(c->pcap, timeout_ms) || pcap_set_immediate_mode(c->pcap, 0) ||
        pcap_set_buffer_size(c->pcap, buffer) ||
        pcap_set_tstamp_precision(c->pcap, PCAP_TSTAMP_PRECISION_NANO)) {
        snprintf(err, errlen, "capture on %s: cannot set options: %s", device,
                 pcap_geterr(c->pcap));
        goto fail;
    }
    rc = pcap_activate(c->pcap);
    if (rc == PCAP_ERROR_PERM_DENIED) {
        snprintf(err, errlen,
                 "capturing replies needs CAP_NET_RAW: run as root, or grant it with "
                 "'setcap cap_net_raw+ep' on the program");
        saved_errno = EPERM;
        goto fail;
    }
    if (rc < 0) {
        snprintf(err, errlen, "capture on %s: %s", device, pcap_geterr(c->pcap));
        goto fail;
    }
    if (pcap_get_tstamp_precision(c->pcap) != PCAP_TSTAMP_PRECISION_NANO) {
        snprintf(err, errlen, "capture on %s: no nanosecond timestamps", device);
        goto fail;
    }
    if (pcap_setdirection(c->pcap, PCAP_D_IN) < 0) {
        snprintf(err, errlen, "capture on %s: cannot select inbound packets: %s", device,
                 pcap_geterr(c->pcap));
        goto fail;
    }
#ifdef PACKET_IGNORE_OUTGOING
    {
        /* libpcap 1.10 applies PCAP_D_IN in user space: the kernel would still clone every
         * probe we send for this socket and run the filter on it (~0.3 us a probe). Linux
         * >= 4.20 skips the socket for outgoing packets instead; older kernels refuse the
         * option, and the user-space direction check still applies. */
        int one = 1;
        (void)setsockopt(pcap_fileno(c->pcap), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
                         sizeof(one));
    }
#endif
    if (pcap_compile(c->pcap, &prog, capture_filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        snprintf(err, errlen, "capture filter: %s", pcap_geterr(c->pcap));
        goto fail;
    }
    rc = pcap_setfilter(c->pcap, &prog);
    pcap_freecode(&prog);
    if (rc < 0) {
        snprintf(err, errlen, "capture filter: %s", pcap_geterr(c->pcap));
        goto fail;
    }
    if (pcap_setnonblock(c->pcap, 1, ebuf) < 0) {
        snprintf(err, errlen, "capture on %s: %s", device, ebuf);
        goto fail;
    }
    c->fd = pcap_get_selectable_fd(c->pcap);
    c->dlt = pcap_datalink(c->pcap);
    if (c->fd < 0) {
        snprintf(err, errlen, "capture on %s: no selectable descriptor", device);
        goto fail;
    }
    return c;
fail:
    pw_capture_free(c);
    errno = saved_errno;
    return NULL;
}

void pw_capture_free(struct pw_capture *c)
{
    if (!c)
        return;
    if (c->pcap)
        pcap_close(c->pcap);
    free(c);
}

int pw_capture_fd(const struct pw_capture *c)
{
    return c->fd;
}

static void capture_handler(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct pw_capture *c = (struct pw_capture *)user;
    int off = pw_capture_l3_offset(c->dlt, bytes, h->caplen);
    int64_t ts_ns;

    if (off < 0)
        return;
    /* With nanosecond precision libpcap stores nanoseconds in tv_usec. */
    ts_ns = (int64_t)h->ts.tv_sec * 1000000000 + (int64_t)h->ts.tv_usec;
    c->cb(c->arg, bytes + off, h->caplen - (size_t)off, ts_ns);
}

int pw_capture_dispatch(struct pw_capture *c, pw_capture_cb cb, void *arg)
{
    int n;

    c->cb = cb;
    c->arg = arg;
    n = pcap_dispatch(c->pcap, -1, capture_handler, (u_char *)c);
    if (n == PCAP_ERROR)
        return -EIO;
    return n < 0 ? 0 : n;
}

uint64_t pw_capture_drops(struct pw_capture *c)
{
    struct pcap_stat st;

    if (pcap_stats(c->pcap, &st) < 0)
        return 0;
    return st.ps_drop;
}
