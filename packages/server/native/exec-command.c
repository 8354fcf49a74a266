/* Entering a sandbox and exec'ing a command in it (see exec-command.h). */
#include "compat.h"
#include "exec-command.h"
#include "util.h"

/* Enters every namespace of init (host pid PID, or the pidfd of it opened in the host's pid namespace).
 * Linux 5.8+: one setns(pidfd) switches all of them atomically and takes init's root; older kernels:
 * one /proc/PID/ns file at a time (the host's /proc), then chroot into /proc/PID/root. */
void enter_sandbox(long pid, int pidfd) {
  const int all = CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUSER;
  if (pidfd >= 0) {
    if (setns(pidfd, all) == 0) {
      close(pidfd);
      return;
    }
    if (errno == ESRCH) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %ld) is gone", pid);
    if (errno != EINVAL) fail("setns(pidfd of %ld)", pid);
    close(pidfd);
  }
  static const char *ns_names[] = {"ipc", "uts", "net", "cgroup", "pid", "mnt", "user"};
  static const int ns_types[] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUSER};
  enum { NS_COUNT = 7 };
  int ns_fd[NS_COUNT];
  char path[64];
  for (int k = 0; k < NS_COUNT; k++) {
    snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, ns_names[k]);
    ns_fd[k] = open(path, O_RDONLY | O_CLOEXEC);
    if (ns_fd[k] < 0) {
      if (errno == ENOENT || errno == ESRCH) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %ld) is gone", pid);
      fail("open %s", path);
    }
  }
  snprintf(path, sizeof path, "/proc/%ld/root", pid);
  int root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    if (errno == ENOENT || errno == ESRCH) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %ld) is gone", pid);
    fail("open %s", path);
  }
  for (int k = 0; k < NS_COUNT - 1; k++)
    if (setns(ns_fd[k], ns_types[k]) < 0) fail("setns(%s)", ns_names[k]);
  if (fchdir(root_fd) < 0 || chroot(".") < 0) fail("chroot into the sandbox root");
  /* the user namespace last: after it we hold no privilege on the host any more */
  if (setns(ns_fd[NS_COUNT - 1], CLONE_NEWUSER) < 0) fail("setns(user)");
  for (int k = 0; k < NS_COUNT; k++) close(ns_fd[k]);
  close(root_fd);
}

/* execvp with a default PATH, telling "not found" (127) from "not executable" (126) apart. */
void __attribute__((noreturn)) exec_command(char **argv) {
  const char *cmd = argv[0];
  int saw_eacces = 0, err = ENOENT;
  if (strchr(cmd, '/')) {
    execve(cmd, argv, environ);
    err = errno;
    if (err == ENOEXEC) goto script;
  } else {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char full[4096];
    for (const char *p = path;; p++) {
      const char *colon = strchrnul(p, ':');
      size_t dl = (size_t)(colon - p);
      if (dl == 0) dl = 1, p = "."; /* empty entry = current directory */
      if (dl + strlen(cmd) + 2 <= sizeof full) {
        memcpy(full, p, dl);
        full[dl] = '/';
        strcpy(full + dl + 1, cmd);
        execve(full, argv, environ);
        if (errno == ENOEXEC) {
          cmd = full;
          goto script;
        }
        if (errno == EACCES) saw_eacces = 1;
        else if (errno != ENOENT && errno != ENOTDIR) {
          err = errno;
          break;
        }
      }
      if (!*colon) break;
      p = colon;
      if (p[0] == ':' && p[1] == 0) break;
    }
    if (saw_eacces) err = EACCES;
  }
  goto out;
script: {
  /* POSIX: a file without an interpreter line runs under the shell. */
  int n = 0;
  while (argv[n]) n++;
  char **sh = calloc((size_t)n + 2, sizeof *sh);
  if (sh) {
    sh[0] = "/bin/sh";
    sh[1] = (char *)cmd;
    for (int i = 1; i < n; i++) sh[i + 1] = argv[i];
    execve("/bin/sh", sh, environ);
  }
  err = errno;
}
out:
  if (err == ENOENT) fprintf(stderr, "tidepool: %s: command not found\n", argv[0]);
  else fprintf(stderr, "tidepool: %s: %s\n", argv[0], strerror(err));
  _exit(err == ENOENT ? 127 : 126);
}

void enter_pid_ns(pid_t init, int pidfd) {
  if (pidfd < 0 || setns(pidfd, CLONE_NEWPID) < 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)init); /* Linux < 5.8: setns takes no pidfd */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ESRCH)) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %d) is gone", (int)init);
    if (fd < 0 || setns(fd, CLONE_NEWPID) < 0) fail("enter the pid namespace of %d", (int)init);
    close(fd);
  }
}

void cwd_message(char *msg, size_t size, const char *cwd, int errnum) {
  if (errnum == ENOENT) snprintf(msg, size, "cwd %s does not exist; create it first or pick an existing directory", cwd);
  else if (errnum == ENOTDIR) snprintf(msg, size, "cwd %s is not a directory (it or a part of it is a file); pick a directory", cwd);
  else if (errnum == EACCES || errnum == EPERM) snprintf(msg, size, "cwd %s may not be entered by the command's user (%s); pick a directory it may enter, or run as another user", cwd, strerror(errnum));
  else if (errnum == ENAMETOOLONG) snprintf(msg, size, "cwd %s is too long (at most 255 bytes per name, 4096 per path)", cwd);
  else snprintf(msg, size, "cwd %s: %s", cwd, strerror(errnum));
}
