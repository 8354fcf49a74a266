/* `tidepool-helper create`: a sandbox's init in new namespaces; this process stays as its supervisor. */
#ifndef TP_CREATE_H
#define TP_CREATE_H
#include "args.h"
#include "compat.h"
#include "net.h"

struct create_opts {
  const char *id, *root;
  struct overlay overlays[MAX_ITEMS];
  int n_overlays;
  struct bind binds[MAX_ITEMS];
  int n_binds;
  char *masks[MAX_ITEMS];
  int n_masks;
  char *cgroup_procs[MAX_ITEMS];
  int n_cgroup_procs;
  char *join_procs[MAX_ITEMS];
  int n_join_procs;
  const char *exec_socket;
  int run_fd; /* --run-fd: one command over this connection, then the sandbox ends (no exec socket) */
  const char *cgroup_into; /* a cgroup2 directory init is cloned straight into */
  long uid_base, id_count;
  const char *disk_subvol; /* the sandbox's dir, made a btrfs subvolume with a qgroup limit */
  long disk_bytes;
  const char *disk_from; /* a snapshot (helper snapshot) the subvolume starts as a writable snapshot of */
  struct net_opts net;   /* --net: a veth pair to the host (net.c); else loopback only */
};

int create_main(int argc, char **argv);
/* The sandbox's PID 1: sets up its root, then reaps orphans until killed (init.c). */
void __attribute__((noreturn)) init_main(struct create_opts *o, int go_fd, int status_fd);
#endif
