/* Windows build only: byte order (arpa/inet.h beside it) and the IP
 * protocol numbers glassnat uses, without winsock2.h. */
#ifndef GLASSNAT_WIN32_NETINET_IN_H
#define GLASSNAT_WIN32_NETINET_IN_H

#include <arpa/inet.h>

#ifndef IPPROTO_ICMP
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_IPV6 41
#define IPPROTO_ICMPV6 58
#endif

#endif
