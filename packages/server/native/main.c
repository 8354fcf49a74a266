/*
 * tidepool-helper: the privileged half of tidepool's local Linux runtime.
 *
 * Built by scripts/build-native.mjs from the .c files here, one concern per file (this one: dispatch).
 * Subcommands:
 *
 *   tidepool-helper create --id ID --root DIR [--overlay TARGET:LOWER[:LOWER2...]:UPPER:WORK]...
 *       [--bind SRC:DST[:ro]]... [--mask PATH]... [--cgroup-into DIR] [--cgroup-procs FILE]...
 *       [--join-procs FILE]... (--exec-socket PATH | --run-fd FD) --uid-base N --id-count N [--net HOSTIF:SANDBOXIP:GATEWAYIP]
 *
 *     Starts a sandbox's init (PID 1 of new mount, pid, net, ipc, uts and cgroup namespaces, then a
 *     user namespace mapping 0..id-count to uid-base..) and prints its host pid on stdout once it is
 *     ready for exec. This process first joins the --join-procs cgroups (the sandbox's v1 resource
 *     cgroups), so init and everything forked later inherit them; init is cloned straight into the
 *     --cgroup-into cgroup2 directory and joins the --cgroup-procs ones. Failure: one line on stderr
 *     naming the step and errno, exit 1.
 *
 *     After printing the pid this process stays as the sandbox's supervisor: it reaps init (so a dead
 *     sandbox never lingers as a zombie on hosts whose PID 1 does not reap orphans), and it serves
 *     execs on the Unix socket --exec-socket (owner-only; a peer of another uid is refused), forking a
 *     handler per connection. A handler reads one request (uid, gid, cwd, a cgroup2 directory to clone
 *     the command into or cgroup.procs files to join, argv, environment), clones the command into
 *     init's pid namespace and that cgroup, where it enters the sandbox's other namespaces, drops to
 *     uid/gid under seccomp and execs; the handler relays its stdio as frames (real pipes inside, so
 *     /dev/stdout and friends work) and ends with its exit code (128+signal), or with
 *     "<code>: <message>" when it could not start (code is not_found | invalid_request | conflict |
 *     internal). A command that cannot be found exits 127, one that cannot be executed 126, each with
 *     a message on stderr. The environment never shows in host `ps`. The frames are described where
 *     the exec server begins below. The supervisor exits once init has.
 *
 *     With --run-fd FD instead of --exec-socket (a one-shot run), there is no exec socket: FD, a stream
 *     socket the caller holds the other end of (a socketpair), is the one exec connection. Its request may
 *     be sent before the pid is printed. After the pid, one handler serves it exactly as above (same
 *     cgroup, namespaces, uid, seccomp, frames); once the handler is done, the supervisor kills init (and
 *     with it the pid namespace), reaps it and exits 0. The caller closing its end ends the command.
 *
 *     With --disk-subvol PATH --disk-bytes N (first of all) PATH, in a btrfs pool with quotas on,
 *     becomes a new subvolume whose qgroup may hold at most N bytes (referenced and exclusive; a write
 *     past it fails with EDQUOT), recorded in PATH/disk as "<subvolume id> <N>"; then the directories
 *     of every --overlay's upper and work and of --root are made in it, and the root overlay's upper
 *     is given to the sandbox's root (uid-base). The sandbox only sees its layer through overlayfs,
 *     which passes no btrfs ioctl on: it can neither make a subvolume (an own qgroup) nor lift a limit.
 *
 *     With --net the sandbox also gets a veth pair (net.c), made by rtnetlink before init goes on: the
 *     host end HOSTIF (IPv6 off, rp_filter strict, up, a /32 route to SANDBOXIP with source GATEWAYIP),
 *     its peer eth0 made straight in the sandbox's network namespace, where init gives it SANDBOXIP/32,
 *     brings it up, adds a default route via GATEWAYIP (onlink) and turns IPv6 off. Killing init
 *     destroys the namespace and with it the pair and the route. What may pass is nftables' business
 *     (the runtime's one table); the host never forwards.
 *
 *   tidepool-helper net-gateway --address IP [--remove]
 *   tidepool-helper net-delete --link NAME
 *
 *     net-gateway adds IP/32 to lo (label lo:tidepool; idempotent), the address every sandbox's default
 *     route points at and the egress proxy listens on; --remove takes it away (missing is fine).
 *     net-delete deletes link NAME (a stray host end; missing is fine). Failure: a message, exit 1.
 *
 *   tidepool-helper disk-limit --path PATH --bytes N
 *   tidepool-helper disk-pool --path MOUNT
 *
 *     disk-limit sets the qgroup limit of the subvolume at PATH to N bytes (0: none) and updates
 *     PATH/disk. disk-pool turns quotas on in the btrfs filesystem mounted at MOUNT (simple quotas
 *     where the kernel has them, Linux 6.7+, else full qgroups). Failure: a message on stderr, exit 1.
 *
 *     With --disk-from SNAPSHOT as well, PATH starts as a writable btrfs snapshot of SNAPSHOT (made by
 *     `snapshot`; O(1) in bytes and files) instead of an empty subvolume, stripped to its upper/ first.
 *
 *   tidepool-helper snapshot --source SUBVOL --dest DIR/ID
 *   tidepool-helper subvolume-delete --path DIR/NAME
 *
 *     snapshot captures the sandbox subvolume SUBVOL as the read-only subvolume DIR/ID (DIR made 0700
 *     if missing) with one btrfs ioctl and prints its subvolume id; the caller freezes the sandbox
 *     around it. Only DIR/ID/upper is a layer; the rest of the copy is never used. A failure leaves no
 *     copy. subvolume-delete deletes the subvolume DIR/NAME, read-only or not, whatever it holds (the
 *     kernel frees its extents and qgroup in the background); a missing one is fine. Failure:
 *     "<code>: <message>" on stderr (an existing ID, or a NAME that is no subvolume, is
 *     invalid_request; a missing SUBVOL not_found), exit 125.
 *
 *   tidepool-helper mount --pid PID --start-time T --source DIR --target PATH [--ro]
 *   tidepool-helper umount --pid PID --start-time T --target PATH
 *
 *     Hot-mounts host directory DIR at PATH inside the running sandbox whose init is PID (started at
 *     T, /proc/PID/stat field 22), and only there; umount detaches it again. The mount is cloned with
 *     open_tree() here in the host's mount namespace (nosuid, nodev, private, read-only with --ro),
 *     then this process enters the sandbox's mount namespace and root (as host root: the namespace is
 *     owned by the host's user namespace), creates PATH (owned by the sandbox's root, 0755) and
 *     attaches the clone with move_mount(). Idempotent: the same DIR already at PATH is left as it is;
 *     umount of a path that is no mount point succeeds. Needs Linux 5.2+. No seccomp filter here: the
 *     sandbox's own processes are the ones that must never mount. Failure: one line
 *     "<code>: <message>" on stderr (code is not_found | invalid_request | runtime_unavailable |
 *     internal), exit 125.
 */
#include "compat.h"
#include "cli.h"
#include "create.h"
#include "disk.h"
#include "snapshot.h"
#include "hot-mount.h"
#include "net.h"
#include "util.h"
#include "watch.h"

int g_argc;
char **g_argv;

void usage(void) {
  fprintf(stderr,
          "usage: %s create --id ID --root DIR [--overlay T:L[:L...]:U:W]... [--bind S:D[:ro]]...\n"
          "         [--mask PATH]... [--cgroup-into DIR] [--cgroup-procs FILE]... [--join-procs FILE]...\n"
          "         (--exec-socket PATH | --run-fd FD) [--net HOSTIF:SANDBOXIP:GATEWAYIP]\n"
          "         --uid-base N --id-count N [--disk-subvol PATH --disk-bytes N [--disk-from SNAPSHOT]]\n"
          "       %s disk-limit --path PATH --bytes N\n"
          "       %s disk-pool --path MOUNT\n"
          "       %s snapshot --source SUBVOL --dest DIR/ID\n"
          "       %s subvolume-delete --path DIR/NAME\n"
          "       %s mount --pid PID --start-time T --source DIR --target PATH [--ro]\n"
          "       %s umount --pid PID --start-time T --target PATH\n"
          "       %s net-gateway --address IP [--remove]\n"
          "       %s net-delete --link NAME\n",
          prog, prog, prog, prog, prog, prog, prog, prog, prog);
  exit(2);
}

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  if (argc < 2) usage();
  if (!strcmp(argv[1], "create")) return create_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "mount")) return mount_main(argc - 2, argv + 2, 0);
  if (!strcmp(argv[1], "umount")) return mount_main(argc - 2, argv + 2, 1);
  if (!strcmp(argv[1], "disk-limit")) return disk_limit_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "disk-pool")) return disk_pool_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "snapshot")) return snapshot_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "subvolume-delete")) return subvolume_delete_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "watch")) return watch_main();
  if (!strcmp(argv[1], "net-gateway")) return net_gateway_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "net-delete")) return net_delete_main(argc - 2, argv + 2);
  usage();
}
