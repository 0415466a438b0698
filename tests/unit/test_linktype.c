/* Link-layer decapsulation, one case per link type and framing. */
#include <criterion/criterion.h>
#include <string.h>

#include "linktype.h"

static const uint8_t IPV4_HDR[20] = { 0x45 };
static const uint8_t IPV6_HDR[40] = { 0x60 };

struct frame {
	uint8_t b[128];
	size_t len;
};

static struct frame mk(const uint8_t *hdr, size_t hl, const uint8_t *l3,
		       size_t l3len)
{
	struct frame f;
	if (hl)
		memcpy(f.b, hdr, hl);
	if (l3len)
		memcpy(f.b + hl, l3, l3len);
	f.len = hl + l3len;
	return f;
}

static void expect(uint32_t lt, struct frame f, enum trace_l3 want,
		   size_t want_off, const char *what)
{
	size_t off = 99;
	enum trace_l3 got = trace_link_decap(lt, f.b, f.len, &off);
	cr_assert_eq(got, want, "%s: l3 %d, want %d", what, got, want);
	cr_assert_eq(off, want_off, "%s: offset %zu, want %zu", what, off,
		     want_off);
}

Test(linktype, raw_by_version_nibble)
{
	static const uint8_t junk[4] = { 0x20 };
	uint32_t raw[] = { TRACE_LT_RAW, TRACE_LT_DLT_RAW12,
			   TRACE_LT_DLT_RAW14 };
	for (size_t i = 0; i < 3; i++) {
		expect(raw[i], mk(NULL, 0, IPV4_HDR, 20), TRACE_L3_IPV4, 0,
		       "raw v4");
		expect(raw[i], mk(NULL, 0, IPV6_HDR, 40), TRACE_L3_IPV6, 0,
		       "raw v6");
		expect(raw[i], mk(NULL, 0, junk, 4), TRACE_L3_NOT_IP, 0,
		       "raw v2");
		expect(raw[i], mk(NULL, 0, junk, 0), TRACE_L3_NOT_IP, 0,
		       "raw empty");
	}
}

Test(linktype, ipv4_and_ipv6_by_the_link_type)
{
	static const uint8_t junk[1] = { 0 };
	expect(TRACE_LT_IPV4, mk(NULL, 0, junk, 1), TRACE_L3_IPV4, 0, "IPV4");
	expect(TRACE_LT_IPV6, mk(NULL, 0, junk, 1), TRACE_L3_IPV6, 0, "IPV6");
}

Test(linktype, ethernet_plain_vlan_qinq)
{
	uint8_t h[14 + 3 * 4] = { 0 };
	/* plain */
	h[12] = 0x08, h[13] = 0x00;
	expect(TRACE_LT_ETHERNET, mk(h, 14, IPV4_HDR, 20), TRACE_L3_IPV4, 14,
	       "plain");
	h[12] = 0x86, h[13] = 0xdd;
	expect(TRACE_LT_ETHERNET, mk(h, 14, IPV6_HDR, 40), TRACE_L3_IPV6, 14,
	       "IPv6");
	h[12] = 0x08, h[13] = 0x06;
	expect(TRACE_LT_ETHERNET, mk(h, 14, IPV4_HDR, 20), TRACE_L3_NOT_IP, 0,
	       "ARP");
	/* 802.1Q */
	h[12] = 0x81, h[13] = 0x00, h[16] = 0x08, h[17] = 0x00;
	expect(TRACE_LT_ETHERNET, mk(h, 18, IPV4_HDR, 20), TRACE_L3_IPV4, 18,
	       "802.1Q");
	/* 802.1ad outer + 802.1Q inner */
	h[12] = 0x88, h[13] = 0xa8, h[16] = 0x81, h[17] = 0x00;
	h[20] = 0x08, h[21] = 0x00;
	expect(TRACE_LT_ETHERNET, mk(h, 22, IPV4_HDR, 20), TRACE_L3_IPV4, 22,
	       "QinQ");
	/* pre-standard QinQ */
	h[12] = 0x91, h[13] = 0x00;
	expect(TRACE_LT_ETHERNET, mk(h, 22, IPV4_HDR, 20), TRACE_L3_IPV4, 22,
	       "0x9100");
	/* a tag cut off */
	h[12] = 0x81, h[13] = 0x00;
	expect(TRACE_LT_ETHERNET, mk(h, 15, NULL, 0), TRACE_L3_NOT_IP, 0,
	       "cut tag");
	expect(TRACE_LT_ETHERNET, mk(h, 13, NULL, 0), TRACE_L3_NOT_IP, 0,
	       "short");
}

Test(linktype, ethernet_gives_up_after_max_tags)
{
	uint8_t h[14 + 4 * (TRACE_LINK_MAX_TAGS + 1)] = { 0 };
	for (int i = 0; i <= TRACE_LINK_MAX_TAGS; i++)
		h[12 + 4 * i] = 0x81;
	h[12 + 4 * (TRACE_LINK_MAX_TAGS + 1) - 4 + 4] = 0x08;
	expect(TRACE_LT_ETHERNET, mk(h, sizeof h, IPV4_HDR, 20),
	       TRACE_L3_NOT_IP, 0, "too many tags");
	/* exactly the maximum still decapsulates */
	uint8_t g[14 + 4 * TRACE_LINK_MAX_TAGS] = { 0 };
	for (int i = 0; i < TRACE_LINK_MAX_TAGS; i++)
		g[12 + 4 * i] = 0x81;
	g[12 + 4 * TRACE_LINK_MAX_TAGS] = 0x08;
	expect(TRACE_LT_ETHERNET, mk(g, sizeof g, IPV4_HDR, 20),
	       TRACE_L3_IPV4, sizeof g, "max tags");
}

Test(linktype, linux_cooked_v1_and_v2)
{
	uint8_t s1[16] = { 0 }, s2[20] = { 0 };
	s1[14] = 0x08;
	expect(TRACE_LT_LINUX_SLL, mk(s1, 16, IPV4_HDR, 20), TRACE_L3_IPV4, 16,
	       "SLL");
	s1[14] = 0x86, s1[15] = 0xdd;
	expect(TRACE_LT_LINUX_SLL, mk(s1, 16, IPV6_HDR, 40), TRACE_L3_IPV6, 16,
	       "SLL v6");
	s1[14] = 0x08, s1[15] = 0x06;
	expect(TRACE_LT_LINUX_SLL, mk(s1, 16, IPV4_HDR, 20), TRACE_L3_NOT_IP,
	       0, "SLL ARP");
	expect(TRACE_LT_LINUX_SLL, mk(s1, 15, NULL, 0), TRACE_L3_NOT_IP, 0,
	       "SLL short");
	s2[0] = 0x08;
	expect(TRACE_LT_LINUX_SLL2, mk(s2, 20, IPV4_HDR, 20), TRACE_L3_IPV4,
	       20, "SLL2");
	expect(TRACE_LT_LINUX_SLL2, mk(s2, 19, NULL, 0), TRACE_L3_NOT_IP, 0,
	       "SLL2 short");
}

Test(linktype, bsd_loopback_family_in_either_order)
{
	static const uint8_t le2[4] = { 2, 0, 0, 0 }, be2[4] = { 0, 0, 0, 2 };
	static const uint8_t le24[4] = { 24, 0, 0, 0 }, be30[4] = { 0, 0, 0, 30 };
	static const uint8_t be10[4] = { 0, 0, 0, 10 }, bad[4] = { 0, 0, 0, 7 };
	uint32_t lts[] = { TRACE_LT_NULL, TRACE_LT_LOOP };
	for (size_t i = 0; i < 2; i++) {
		expect(lts[i], mk(le2, 4, IPV4_HDR, 20), TRACE_L3_IPV4, 4,
		       "AF_INET le");
		expect(lts[i], mk(be2, 4, IPV4_HDR, 20), TRACE_L3_IPV4, 4,
		       "AF_INET be");
		expect(lts[i], mk(le24, 4, IPV6_HDR, 40), TRACE_L3_IPV6, 4,
		       "AF_INET6 BSD");
		expect(lts[i], mk(be30, 4, IPV6_HDR, 40), TRACE_L3_IPV6, 4,
		       "AF_INET6 macOS");
		expect(lts[i], mk(be10, 4, IPV6_HDR, 40), TRACE_L3_IPV6, 4,
		       "AF_INET6 Linux");
		expect(lts[i], mk(bad, 4, IPV4_HDR, 20), TRACE_L3_NOT_IP, 0,
		       "family 7");
		expect(lts[i], mk(le2, 3, NULL, 0), TRACE_L3_NOT_IP, 0,
		       "short");
	}
}

Test(linktype, unknown_link_types_and_names)
{
	expect(147, mk(IPV4_HDR, 20, NULL, 0), TRACE_L3_UNKNOWN_LINK, 0,
	       "USER0");
	cr_assert_null(trace_link_name(147));
	cr_assert_str_eq(trace_link_name(TRACE_LT_ETHERNET), "ETHERNET");
	cr_assert_str_eq(trace_link_name(TRACE_LT_LINUX_SLL2), "LINUX_SLL2");
	cr_assert_str_eq(trace_link_name(TRACE_LT_DLT_RAW12), "RAW");
}
