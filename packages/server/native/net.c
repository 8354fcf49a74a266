/* A sandbox's point-to-point link to the host, by rtnetlink (see net.h). Each request is one message
 * with NLM_F_ACK, answered before the next: a few microseconds each, no process spawned. */
#include "compat.h"
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include "cli.h"
#include "net.h"

#define NL_BUF 1024

struct nl_req {
  struct nlmsghdr h;
  char body[NL_BUF];
};

static void nl_init(struct nl_req *r, uint16_t type, uint16_t flags, const void *hdr, size_t hdr_len) {
  memset(r, 0, sizeof *r);
  r->h.nlmsg_type = type;
  r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(hdr_len);
  memcpy(NLMSG_DATA(&r->h), hdr, hdr_len);
}

/* Appends one attribute; the buffer is sized for every request here, so overflow is a bug (abort). */
static struct rtattr *nl_put(struct nl_req *r, unsigned short type, const void *data, size_t len) {
  size_t at = NLMSG_ALIGN(r->h.nlmsg_len);
  if (at + RTA_SPACE(len) > sizeof *r) abort();
  struct rtattr *a = (struct rtattr *)((char *)r + at);
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
  return a;
}

static void nl_put_str(struct nl_req *r, unsigned short type, const char *s) {
  nl_put(r, type, s, strlen(s) + 1);
}

static void nl_put_u32(struct nl_req *r, unsigned short type, uint32_t v) {
  nl_put(r, type, &v, sizeof v);
}

static void nl_end(struct nl_req *r, struct rtattr *nest) {
  nest->rta_len = (unsigned short)((char *)r + r->h.nlmsg_len - (char *)nest);
}

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Sends r and reads its ack: 0, or -1 with errno from the kernel's answer. */
static int nl_talk(int fd, struct nl_req *r) {
  static uint32_t seq;
  r->h.nlmsg_seq = ++seq;
  if (send(fd, r, r->h.nlmsg_len, 0) < 0) return -1;
  char buf[4096];
  for (int tries = 0; tries < 16; tries++) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      const struct nlmsgerr *err = NLMSG_DATA(h);
      if (err->error == 0) return 0;
      errno = -err->error;
      return -1;
    }
  }
  errno = EPROTO;
  return -1;
}

static int ifname_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 15) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
  }
  return 1;
}

int net_parse(struct net_opts *n, const char *arg, struct tp_err *e) {
  char buf[64];
  if (strlen(arg) >= sizeof buf) goto bad;
  strcpy(buf, arg);
  char *c1 = strchr(buf, ':');
  char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c1 || !c2 || strchr(c2 + 1, ':')) goto bad;
  *c1 = 0;
  *c2 = 0;
  struct in_addr sb, gw;
  if (!ifname_ok(buf) || inet_pton(AF_INET, c1 + 1, &sb) != 1 || inet_pton(AF_INET, c2 + 1, &gw) != 1) goto bad;
  memset(n, 0, sizeof *n);
  n->enabled = 1;
  strcpy(n->host_if, buf);
  n->sandbox_ip = sb.s_addr;
  n->gateway_ip = gw.s_addr;
  return 0;
bad:
  return tp_errf(e, TP_ERR_INVALID_REQUEST, "--net expects HOSTIF:SANDBOXIP:GATEWAYIP (got %.80s)", arg);
}

/* Per-interface sysctl in the caller's network namespace; a missing file (no IPv6 in this kernel) is fine. */
static int dev_sysctl(const char *family, const char *ifname, const char *key, const char *value) {
  char path[128];
  snprintf(path, sizeof path, "/proc/sys/net/%s/conf/%s/%s", family, ifname, key);
  if (write_file(path, value) < 0 && errno != ENOENT) return -1;
  return 0;
}

/* ip link set NAME up */
static int link_up(int fd, const char *ifname) {
  struct nl_req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  nl_init(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  nl_put_str(&r, IFLA_IFNAME, ifname);
  return nl_talk(fd, &r);
}

/* A route to dst/len via dev index (scope link, src prefsrc), or via an onlink gateway when gw != 0.
 * REPLACE: a route left by a pair the kernel is still tearing down gives way. */
static int route_add(int fd, uint32_t dst, unsigned char len, unsigned ifindex, uint32_t gw, uint32_t prefsrc) {
  struct nl_req r;
  struct rtmsg rt = {.rtm_family = AF_INET,
                     .rtm_dst_len = len,
                     .rtm_table = RT_TABLE_MAIN,
                     .rtm_protocol = RTPROT_BOOT,
                     .rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
                     .rtm_type = RTN_UNICAST,
                     .rtm_flags = gw ? RTNH_F_ONLINK : 0};
  nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt, sizeof rt);
  if (len) nl_put_u32(&r, RTA_DST, dst);
  if (gw) nl_put_u32(&r, RTA_GATEWAY, gw);
  if (prefsrc) nl_put_u32(&r, RTA_PREFSRC, prefsrc);
  nl_put_u32(&r, RTA_OIF, ifindex);
  return nl_talk(fd, &r);
}

/* ip addr add ADDR/32 dev index [label] (an existing one is fine) */
static int addr_add(int fd, unsigned ifindex, uint32_t addr, const char *label) {
  struct nl_req r;
  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = ifindex};
  nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifa, sizeof ifa);
  nl_put_u32(&r, IFA_LOCAL, addr);
  nl_put_u32(&r, IFA_ADDRESS, addr);
  if (label) nl_put_str(&r, IFA_LABEL, label);
  return nl_talk(fd, &r);
}

int net_host_setup(const struct net_opts *n, pid_t pid, struct tp_err *e) {
  int fd = nl_open();
  if (fd < 0) return tp_errf(e, TP_ERR_INTERNAL, "netlink socket: %s", strerror(errno));
  const char *step = "create veth";
  struct nl_req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  nl_put_str(&r, IFLA_IFNAME, n->host_if);
  struct rtattr *info = nl_put(&r, IFLA_LINKINFO, NULL, 0);
  nl_put_str(&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = nl_put(&r, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *peer = nl_put(&r, VETH_INFO_PEER, &ifi, sizeof ifi); /* the peer's ifinfomsg, then its attributes */
  nl_put_str(&r, IFLA_IFNAME, "eth0");
  nl_put_u32(&r, IFLA_NET_NS_PID, (uint32_t)pid);
  nl_end(&r, peer);
  nl_end(&r, data);
  nl_end(&r, info);
  if (nl_talk(fd, &r) < 0) goto failed;
  /* Before up: no IPv6 link-local address ever appears; strict reverse-path check (the sandbox can only
   * send from the address routed to its own link, so it cannot pose as another sandbox). */
  step = "set sysctls of";
  if (dev_sysctl("ipv6", n->host_if, "disable_ipv6", "1") < 0 || dev_sysctl("ipv4", n->host_if, "rp_filter", "1") < 0) goto failed;
  step = "bring up";
  if (link_up(fd, n->host_if) < 0) goto failed;
  step = "route to";
  unsigned idx = if_nametoindex(n->host_if);
  if (idx == 0 || route_add(fd, n->sandbox_ip, 32, idx, 0, n->gateway_ip) < 0) goto failed;
  close(fd);
  return 0;
failed: {
  int err = errno;
  close(fd);
  return tp_errf(e, err == EEXIST ? TP_ERR_CONFLICT : TP_ERR_INTERNAL, "%s %s: %s", step, n->host_if, strerror(err));
}
}

int net_sandbox_setup(const struct net_opts *n, struct tp_err *e) {
  /* "all" turns IPv6 off on every existing interface (lo, eth0), "default" on any made later. */
  if (write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1") < 0 && errno != ENOENT) return tp_errf(e, TP_ERR_INTERNAL, "disable IPv6: %s", strerror(errno));
  if (write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1") < 0 && errno != ENOENT) return tp_errf(e, TP_ERR_INTERNAL, "disable IPv6: %s", strerror(errno));
  int fd = nl_open();
  if (fd < 0) return tp_errf(e, TP_ERR_INTERNAL, "netlink socket: %s", strerror(errno));
  const char *step = "find eth0";
  unsigned idx = if_nametoindex("eth0");
  if (idx == 0) goto failed;
  step = "address eth0";
  if (addr_add(fd, idx, n->sandbox_ip, NULL) < 0) goto failed;
  step = "bring up eth0";
  if (link_up(fd, "eth0") < 0) goto failed;
  step = "default route via eth0";
  if (route_add(fd, 0, 0, idx, n->gateway_ip, 0) < 0) goto failed;
  close(fd);
  return 0;
failed: {
  int err = errno;
  close(fd);
  return tp_errf(e, TP_ERR_INTERNAL, "%s: %s", step, strerror(err));
}
}

int net_gateway_main(int argc, char **argv) {
  const char *address = NULL;
  int remove = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--remove")) remove = 1;
    else if (!strcmp(argv[i], "--address") && i + 1 < argc) address = argv[++i];
    else usage();
  }
  struct in_addr a;
  if (!address || inet_pton(AF_INET, address, &a) != 1) usage();
  int fd = nl_open();
  if (fd < 0) fail("netlink socket");
  unsigned lo = if_nametoindex("lo");
  if (lo == 0) fail("find lo");
  if (!remove) {
    if (addr_add(fd, lo, a.s_addr, "lo:tidepool") < 0) fail("add %s/32 to lo", address);
    return 0;
  }
  struct nl_req r;
  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = 32, .ifa_index = lo};
  nl_init(&r, RTM_DELADDR, 0, &ifa, sizeof ifa);
  nl_put_u32(&r, IFA_LOCAL, a.s_addr);
  if (nl_talk(fd, &r) < 0 && errno != EADDRNOTAVAIL && errno != ENODEV) fail("remove %s/32 from lo", address);
  return 0;
}

int net_delete_main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[0], "--link") || !ifname_ok(argv[1])) usage();
  int fd = nl_open();
  if (fd < 0) fail("netlink socket");
  struct nl_req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  nl_init(&r, RTM_DELLINK, 0, &ifi, sizeof ifi);
  nl_put_str(&r, IFLA_IFNAME, argv[1]);
  if (nl_talk(fd, &r) < 0 && errno != ENODEV) fail("delete link %s", argv[1]);
  return 0;
}
