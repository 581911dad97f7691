/* Unit tests: link-layer stripping of captured frames. */
#include <pcap/pcap.h>

#include "capture.h"
#include "check.h"
#include "error.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

static void test_offsets(void)
{
    uint8_t eth[34] = {0};
    uint8_t vlan[38] = {0};
    uint8_t sll[36] = {0};
    uint8_t sll2[40] = {0};
    uint8_t raw[20] = {0x45};

    eth[12] = 0x08, eth[13] = 0x00;
    CHECK_INT(pw_capture_l3_offset(DLT_EN10MB, eth, sizeof(eth)), 14);
    eth[12] = 0x86, eth[13] = 0xdd;
    CHECK_INT(pw_capture_l3_offset(DLT_EN10MB, eth, sizeof(eth)), 14);
    eth[12] = 0x08, eth[13] = 0x06; /* ARP */
    CHECK_INT(pw_capture_l3_offset(DLT_EN10MB, eth, sizeof(eth)), PW_E_NOT_OURS);
    CHECK_INT(pw_capture_l3_offset(DLT_EN10MB, eth, 13), PW_E_TRUNCATED);
    CHECK_INT(pw_capture_l3_offset(DLT_EN10MB, eth, 14), PW_E_NOT_OURS);

    vlan[12] = 0x81, vlan[13] = 0x00, vlan[16] = 0x08, vlan[17] = 0x00;
    CHECK_INT(pw_capture_l3_offset(DLT_EN10MB, vlan, sizeof(vlan)), 18);
    CHECK_INT(pw_capture_l3_offset(DLT_EN10MB, vlan, 17), PW_E_TRUNCATED);

    sll[14] = 0x08, sll[15] = 0x00;
    CHECK_INT(pw_capture_l3_offset(DLT_LINUX_SLL, sll, sizeof(sll)), 16);
    CHECK_INT(pw_capture_l3_offset(DLT_LINUX_SLL, sll, 16), PW_E_TRUNCATED);
    sll2[0] = 0x86, sll2[1] = 0xdd;
    CHECK_INT(pw_capture_l3_offset(DLT_LINUX_SLL2, sll2, sizeof(sll2)), 20);
    sll2[0] = 0x88, sll2[1] = 0xcc;
    CHECK_INT(pw_capture_l3_offset(DLT_LINUX_SLL2, sll2, sizeof(sll2)), PW_E_NOT_OURS);

    CHECK_INT(pw_capture_l3_offset(DLT_RAW, raw, sizeof(raw)), 0);
    CHECK_INT(pw_capture_l3_offset(DLT_RAW, raw, 0), PW_E_TRUNCATED);
    CHECK_INT(pw_capture_l3_offset(DLT_NULL, raw, sizeof(raw)), 4);
    CHECK_INT(pw_capture_l3_offset(DLT_IEEE802_11, raw, sizeof(raw)), PW_E_NOT_OURS);
}

int main(void)
{
    RUN(test_offsets);
    return check_exit();
}
