/* PingWatcher — reply capture with libpcap.
 *
 * One capture on the "any" device, inbound only, in buffered TPACKET_V3 mode (not immediate
 * mode): the kernel stamps each packet on arrival with nanosecond precision, and the ring
 * hands packets over in blocks, at most timeout_ms after they arrived. Buffering delays
 * delivery, never the measurement. A BPF filter admits only packets that can be replies to
 * our probes. Opening needs CAP_NET_RAW; reading afterwards does not.
 */
#ifndef PW_CAPTURE_H
#define PW_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct pw_capture;

/* Called for each captured packet: pkt points at the IP header (link layer removed), len is
 * the captured length, ts_ns the kernel's CLOCK_REALTIME arrival time in nanoseconds. pkt is
 * borrowed until the callback returns. */
typedef void (*pw_capture_cb)(void *arg, const uint8_t *pkt, size_t len, int64_t ts_ns);

struct pw_capture_opts {
    const char *device;    /* NULL = "any" */
    uint32_t buffer_bytes; /* kernel ring size; 0 = 8 MiB */
    uint32_t timeout_ms;   /* longest a packet waits in the ring; 0 = 5 */
};

/* Opens and activates the capture, sets the filter and non-blocking mode. Returns NULL and
 * writes a reason into err on failure (e.g. "capture needs CAP_NET_RAW: run as root or grant
 * it with setcap cap_net_raw+ep"); errno is set (EPERM when privileges are missing). */
struct pw_capture *pw_capture_open(const struct pw_capture_opts *opts, char *err, size_t errlen);
void pw_capture_free(struct pw_capture *c);

/* Descriptor that becomes readable when packets are ready (for epoll/poll). */
int pw_capture_fd(const struct pw_capture *c);

/* Delivers every packet ready now to cb without blocking. Returns the number delivered, or a
 * negative error. */
int pw_capture_dispatch(struct pw_capture *c, pw_capture_cb cb, void *arg);

/* Packets the kernel dropped because the ring was full (since open). */
uint64_t pw_capture_drops(struct pw_capture *c);

/* Strips the link-layer header of a packet of the given DLT (DLT_RAW, DLT_EN10MB,
 * DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP, DLT_IPV4, DLT_IPV6). Returns the offset
 * of the IP header, or a negative PW_E_* when the frame is not IPv4/IPv6 or too short. */
int pw_capture_l3_offset(int dlt, const uint8_t *frame, size_t len);

#endif
