/* Pseudo-terminals of an exec (see exec-pty.h). */
#include "compat.h"
#include "exec-pty.h"
#include <linux/magic.h>
#include <sys/vfs.h>

#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#define TP_RESOLVE_NO_MAGICLINKS 0x02
#define TP_RESOLVE_IN_ROOT 0x10
struct tp_open_how {
  uint64_t flags, mode, resolve;
};

int set_pty_size(int master, unsigned cols, unsigned rows) {
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  return ioctl(master, TIOCSWINSZ, &ws);
}

int open_sandbox_pty(pid_t init, long uid, long tty_gid, unsigned cols, unsigned rows, int *master, int *slave, struct tp_err *e) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/root", (int)init);
  int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    if (errno == ENOENT || errno == ESRCH) return tp_errf(e, TP_ERR_NOT_FOUND, "sandbox init (pid %d) is gone", (int)init);
    return tp_errf(e, TP_ERR_INTERNAL, "open %s: %s", path, strerror(errno));
  }
  struct tp_open_how how = {.flags = O_RDWR | O_NOCTTY | O_CLOEXEC, .resolve = TP_RESOLVE_IN_ROOT | TP_RESOLVE_NO_MAGICLINKS};
  int m = (int)syscall(__NR_openat2, root, "dev/pts/ptmx", &how, sizeof how);
  int err = errno;
  close(root);
  if (m < 0) {
    if (err == ENOSYS) return tp_errf(e, TP_ERR_RUNTIME_UNAVAILABLE, "a pty needs Linux 5.6 or newer (openat2); run the command without pty");
    return tp_errf(e, TP_ERR_CONFLICT, "the sandbox has no /dev/pts/ptmx (%s); it was unmounted or replaced inside the sandbox", strerror(err));
  }
  struct statfs fs;
  struct stat st;
  if (fstatfs(m, &fs) < 0 || fs.f_type != DEVPTS_SUPER_MAGIC || fstat(m, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2) {
    close(m);
    return tp_errf(e, TP_ERR_CONFLICT, "the sandbox's /dev/pts/ptmx is not a devpts terminal multiplexer (it was replaced inside the sandbox)");
  }
  int unlock = 0;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) {
    close(m);
    return tp_errf(e, TP_ERR_INTERNAL, "unlockpt: %s", strerror(errno));
  }
  /* The peer of this very master (Linux 4.13+, and openat2 is newer): no path, so no race on /dev/pts/N. */
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0 || fchown(s, (uid_t)uid, (gid_t)tty_gid) < 0 || fchmod(s, 0620) < 0 || set_pty_size(m, cols, rows) < 0) {
    err = errno;
    if (s >= 0) close(s);
    close(m);
    return tp_errf(e, TP_ERR_INTERNAL, "set up the pty: %s", strerror(err));
  }
  *master = m;
  *slave = s;
  return 0;
}

void become_pty_session(int slave) {
  if (setsid() < 0) fail("setsid");
  if (ioctl(slave, TIOCSCTTY, 0) < 0) fail("make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) fail("dup2 pty");
  if (slave > 2) close(slave);
}
