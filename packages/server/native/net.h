/* A sandbox's link to the host (net.c): a veth pair, host end tp<hex ip> with a /32 route, sandbox end
 * eth0 with the sandbox's /32 and a default route via the gateway (onlink); IPv6 off on both ends. All by
 * rtnetlink: no process is spawned. The nftables rules that police it are installed once by the runtime. */
#ifndef TP_NET_H
#define TP_NET_H
#include <stdint.h>
#include <sys/types.h>
#include "util.h"

struct net_opts {
  int enabled;
  char host_if[16];     /* IFNAMSIZ */
  uint32_t sandbox_ip;  /* network byte order */
  uint32_t gateway_ip;  /* network byte order */
};

/* --net HOSTIF:SANDBOXIP:GATEWAYIP (dotted quads; HOSTIF 1-15 chars of [A-Za-z0-9_-]). 0, or -1 with e set. */
int net_parse(struct net_opts *n, const char *arg, struct tp_err *e);
/* In the host's network namespace: the pair (its peer made straight in the netns of `pid`), then the
 * host end's sysctls (rp_filter strict, no IPv6), up, and the route to the sandbox. 0, or -1 with e set. */
int net_host_setup(const struct net_opts *n, pid_t pid, struct tp_err *e);
/* Inside the sandbox's network namespace (as its owner): IPv6 off, eth0's address, up, default route. */
int net_sandbox_setup(const struct net_opts *n, struct tp_err *e);

/* `tidepool-helper net-gateway --address IP [--remove]`: the gateway address as IP/32 on lo (label
 * lo:tidepool), added idempotently, or removed (a missing one is fine). */
int net_gateway_main(int argc, char **argv);
/* `tidepool-helper net-delete --link NAME`: deletes a stray host end (a missing one is fine). */
int net_delete_main(int argc, char **argv);
#endif
