/* Kernel interfaces newer than some headers or C libraries: numbers and structs defined here. */
#ifndef TP_COMPAT_H
#define TP_COMPAT_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/btrfs.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/time.h>
#include <time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <stdint.h>
#include <sys/statvfs.h>

#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef PR_SET_MM
#define PR_SET_MM 35
#endif
#ifndef PR_SET_MM_ARG_END
#define PR_SET_MM_ARG_END 9
#endif

/* The new mount API (Linux 5.2+; mount_setattr 5.12+). The numbers are the same on x86_64 and aarch64;
 * defined here so neither old headers nor a C library without wrappers matter. */
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#define TP_OPEN_TREE_CLONE 1
#define TP_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define TP_MOUNT_ATTR_RDONLY 0x00000001
#define TP_MOUNT_ATTR_NOSUID 0x00000002
#define TP_MOUNT_ATTR_NODEV 0x00000004
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
struct tp_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* clone3 with CLONE_INTO_CGROUP (Linux 5.7+), defined here so old headers do not matter. */
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#define TP_CLONE_INTO_CGROUP 0x200000000ULL
struct tp_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* A fork-like clone3 (no new stack) straight into the cgroup2 directory `cgroup_fd`: no migration, which
 * on a v1 or hybrid host costs an RCU grace period (~10 ms). -1 with errno ENOSYS, E2BIG or EINVAL where
 * the kernel lacks it (Linux < 5.7); the caller then forks and writes cgroup.procs. */
static inline pid_t clone_into(int cgroup_fd, uint64_t flags) {
  struct tp_clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = flags | TP_CLONE_INTO_CGROUP;
  ca.exit_signal = SIGCHLD;
  ca.cgroup = (uint64_t)cgroup_fd;
  return (pid_t)syscall(__NR_clone3, &ca, sizeof ca);
}

static inline int clone_into_unsupported(int err) {
  return err == ENOSYS || err == E2BIG || err == EINVAL;
}

#define MAX_ITEMS 64
#define EXIT_SETUP 125

#endif
