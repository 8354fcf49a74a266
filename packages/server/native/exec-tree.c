/* Ending an exec's process tree and recording how it ended (see exec-tree.h). */
#include "compat.h"
#include "exec-tree.h"
#include "util.h"


/* One round of SIGKILL for every process in exec cgroup DIR: cgroup.kill where the kernel has it (it
 * also catches processes forking right now), then pid by pid as a backstop and for older kernels.
 * The handler sits outside that cgroup, so this never hits it. Returns how many processes were listed. */
int tree_kill_once(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/cgroup.kill", dir);
  int kfd = open(path, O_WRONLY | O_CLOEXEC);
  if (kfd >= 0) {
    ssize_t w = write(kfd, "1", 1);
    (void)w;
    close(kfd);
  }
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int n = 0;
  long v;
  while (n < 100000 && fscanf(f, "%ld", &v) == 1) {
    if (v > 0) kill((pid_t)v, SIGKILL);
    n++;
  }
  fclose(f);
  return n;
}

/* After the command's main process was reaped: kills what it left behind (a command's lifetime ends
 * with its main process) and removes its cgroup, waiting (bounded) for the last ones to go. So no empty
 * exec cgroup is ever left, with or without a control plane. */
void tree_end(const char *dir) {
  if (!dir[0]) return;
  for (int waited = 0, delay = 1; waited < 10000; waited += delay, delay = delay < 50 ? delay * 2 : 50) {
    if (rmdir(dir) == 0 || errno == ENOENT) return;
    if (errno != EBUSY && errno != ENOTEMPTY) return;
    tree_kill_once(dir);
    usleep((useconds_t)delay * 1000);
  }
}

/* "<code>\n" or "<code> timeout\n" into the status file (written whole, then renamed into place), so a
 * control plane that restarted learns how a background command ended. */
void write_status(const char *file, int code, int timed_out) {
  if (!file[0]) return;
  char tmp[4200], line[32];
  snprintf(tmp, sizeof tmp, "%s.tmp", file);
  int n = snprintf(line, sizeof line, "%d%s\n", code, timed_out ? " timeout" : "");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  int ok = write_all(fd, line, (size_t)n) == 0;
  close(fd);
  if (!ok || rename(tmp, file) < 0) unlink(tmp);
}

