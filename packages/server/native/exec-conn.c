/* One exec connection's handler: forks the command into the sandbox and relays its stdio. */
#include "compat.h"
#include "exec-command.h"
#include "exec-pty.h"
#include "exec-relay.h"
#include "exec-request.h"
#include "exec-server.h"
#include "exec-tree.h"
#include "port-forward.h"
#include "seccomp.h"
#include "util.h"

/*
 * One exec, in a process of its own (forked by the supervisor for each connection): forks the command
 * into the sandbox of `init`, relays stdio as frames, and ends with its exit code. This process stays
 * host root in the host's namespaces, outside the command's cgroup: killing or freezing that never hits
 * it, so it always outlives and reaps the command. It inherited the sandbox's resource cgroups from the
 * supervisor, and the command is cloned straight into its own cgroup2 directory, so no migration.
 */
void __attribute__((noreturn)) serve_connection(int conn, pid_t init, long uid_base) {
  prctl(PR_SET_NAME, (unsigned long)"tidepool-exec", 0, 0, 0);
  signal(SIGCHLD, SIG_DFL);
  err_frame_fd = conn;
  err_prefix_code = 1;
  struct timeval tv = {.tv_sec = 10};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* a client that never sends its request */
  unsigned char kind;
  if (recv(conn, &kind, 1, MSG_PEEK) == 1 && kind == 'p') serve_port_forward(conn, init); /* not an exec */
  struct exec_req r;
  read_request(conn, &r);
  long long deadline = r.timeout_ms > 0 ? mono_ms() + r.timeout_ms : 0;
  char cgdir[4096];
  exec_cgroup_dir(&r, cgdir, sizeof cgdir);
  tv.tv_sec = 0;
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  /* The exec's cgroup, opened now: gone means it was killed (or the sandbox destroyed) before it started. */
  int into = -1, into_procs = -1;
  if (r.clone_into[0]) {
    into = open(r.clone_into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (into >= 0) into_procs = openat(into, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (into < 0 || into_procs < 0) {
      if (errno == ENOENT) fail_code(TP_ERR_NOT_FOUND, 0, "cgroup %s is gone (the sandbox or the command was ended)", r.clone_into);
      fail("open %s", r.clone_into);
    }
  }
  int cg_fd[MAX_ITEMS];
  for (long k = 0; k < r.n_cgroup_procs; k++) {
    cg_fd[k] = open(r.cgroup_procs[k], O_WRONLY | O_CLOEXEC);
    if (cg_fd[k] < 0) {
      if (errno == ENOENT) fail_code(TP_ERR_NOT_FOUND, 0, "cgroup %s is gone (the sandbox or the command was ended)", r.cgroup_procs[k]);
      fail("open %s", r.cgroup_procs[k]);
    }
  }
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Opened here, in the host's pid namespace: inside the sandbox's, init's host pid means nothing. */
  int init_fd = (int)syscall(SYS_pidfd_open, init, 0); /* always close-on-exec */
  if (init_fd < 0 && errno == ESRCH) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %d) is gone", (int)init);
  enter_pid_ns(init, init_fd);

  /* Real pipes for the command (so /dev/stdout and friends work inside), owned by its user: uid-base
   * + uid on the host, which is what fchown needs here, outside the sandbox's user namespace. */
  long base = uid_base, gbase = uid_base;
  int io[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, status[2];
  /* A pty instead: one terminal for stdin, stdout and stderr, from the sandbox's devpts (gid 5 is tty). */
  int pty = r.pty_cols > 0, master = -1, slave = -1;
  if (pty) {
    struct tp_err pe;
    if (open_sandbox_pty(init, base + r.uid, gbase + 5, (unsigned)r.pty_cols, (unsigned)r.pty_rows, &master, &slave, &pe) < 0) fail_err(&pe);
  }
  for (int k = 0; k < 3 && !pty; k++) {
    if (pipe2(io[k], O_CLOEXEC) < 0) fail("pipe");
    int child_end = k == 0 ? io[k][0] : io[k][1];
    if (fchown(child_end, (uid_t)(base + r.uid), (gid_t)(gbase + r.gid)) < 0) fail("fchown pipe");
    set_nonblock(k == 0 ? io[k][1] : io[k][0]);
  }
  if (pipe2(status, O_CLOEXEC) < 0) fail("pipe");
  signal(SIGPIPE, SIG_IGN);

  /* The first process to land in the sandbox's pid namespace, and in its exec cgroup. */
  pid_t child = -1;
  int joined = 0;
  if (into >= 0) {
    child = clone_into(into, 0);
    if (child >= 0) joined = 1;
    else if (errno == EAGAIN) fail_code(TP_ERR_CONFLICT, 0, "the sandbox's pids limit is reached; end some of its processes or raise resources.pids");
    else if (errno == ENODEV || errno == ENOENT) fail_code(TP_ERR_NOT_FOUND, 0, "the command was ended before it started");
    else if (!clone_into_unsupported(errno)) fail("clone3 into %s", r.clone_into);
  }
  if (!joined) child = fork();
  if (child < 0) {
    if (errno == EAGAIN) fail_code(TP_ERR_CONFLICT, 0, "the sandbox's pids limit is reached; end some of its processes or raise resources.pids");
    fail("fork");
  }
  if (child == 0) {
    /* Setup failures go to the status pipe; it closes unread when the command starts. */
    err_frame_fd = -1;
    err_fd = status[1];
    /* Still host root here: the handler's OOM protection must not pass on to the command. */
    write_file("/proc/self/oom_score_adj", "0");
    if (!joined && into_procs >= 0 && write(into_procs, "0", 1) != 1) {
      if (errno == ENODEV || errno == ENOENT) fail_code(TP_ERR_NOT_FOUND, 0, "the command was ended before it started");
      fail("join cgroup %s", r.clone_into);
    }
    for (long k = 0; k < r.n_cgroup_procs; k++) {
      if (write(cg_fd[k], "0", 1) != 1) {
        if (errno == ENODEV || errno == ENOENT) fail_code(TP_ERR_NOT_FOUND, 0, "the command was ended before it started");
        fail("join cgroup %s", r.cgroup_procs[k]);
      }
    }
    enter_sandbox(init, init_fd);
    /* From now on this process is root of the sandbox's user namespace only (host uid = uid-base). */
    if (setgroups(0, NULL) < 0) fail("setgroups");
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) fail("become root of the sandbox's user namespace");
    if (pty) become_pty_session(slave);
    else if (dup2(io[0][0], 0) < 0 || dup2(io[1][1], 1) < 0 || dup2(io[2][1], 2) < 0) fail("dup2");
    close_fds_except(status[1]);
    if (setgroups(0, NULL) < 0) fail("setgroups");
    if (setresgid((gid_t)r.gid, (gid_t)r.gid, (gid_t)r.gid) < 0) fail("setresgid %ld", r.gid);
    if (setresuid((uid_t)r.uid, (uid_t)r.uid, (uid_t)r.uid) < 0) fail("setresuid %ld", r.uid);
    if (chdir(r.cwd) < 0) {
      char msg[4400];
      cwd_message(msg, sizeof msg, r.cwd, errno);
      fail_code(TP_ERR_INVALID_REQUEST, 0, "%s", msg);
    }
    install_seccomp();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL); /* ignored ones would survive execve */
    environ = r.envp;
    exec_command(r.argv);
  }
  if (pty) {
    close(slave);
  } else {
    close(io[0][0]);
    close(io[1][1]);
    close(io[2][1]);
  }
  close(status[1]);
  for (long k = 0; k < r.n_cgroup_procs; k++) close(cg_fd[k]);
  if (into >= 0) close(into), close(into_procs);
  set_nonblock(conn);

  static struct conn_state c;
  c.conn = conn;
  c.stdin_w = io[0][1];
  c.out_r[0] = io[1][0];
  c.out_r[1] = io[2][0];
  c.pty = master;
  c.child = child;
  if (pty) {
    /* The terminal's output is the command's stdout (there is no stderr apart); input goes to a dup of
     * the master, so closing stdin leaves the terminal (and its output) open. */
    c.stdin_w = fcntl(master, F_DUPFD_CLOEXEC, 3);
    if (c.stdin_w < 0) fail("dup pty");
    set_nonblock(master);
    c.out_r[0] = master;
  }
  int status_r = status[0];
  char report[1024];
  size_t report_len = 0;
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  int st = 0, exited = 0, turn = 0;
  int timed_out = 0; /* the deadline passed: the tree was killed */
  int abandoned = 0; /* the client went away from a command that is not detached: the tree was killed */
  while (!exited) {
    struct pollfd pf[6];
    int np = 0, i_conn = -1, i_in = -1, i_out[2] = {-1, -1}, i_status = -1;
    short conn_ev = (short)((c.in_len == 0 && !c.eof ? POLLIN : 0) | (c.out_len > 0 ? POLLOUT : 0));
    /* Watched even with nothing to do on it, so a hang-up is seen while the command is silent. */
    if (!c.dead && (conn_ev || !c.eof)) i_conn = np, pf[np++] = (struct pollfd){.fd = conn, .events = conn_ev};
    if (c.in_len > 0) i_in = np, pf[np++] = (struct pollfd){.fd = c.stdin_w, .events = POLLOUT};
    for (int k = 0; k < 2; k++)
      if (c.out_len == 0 && c.out_r[k] >= 0) i_out[k] = np, pf[np++] = (struct pollfd){.fd = c.out_r[k], .events = POLLIN};
    if (status_r >= 0) i_status = np, pf[np++] = (struct pollfd){.fd = status_r, .events = POLLIN};
    if (pidfd >= 0) pf[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    /* Without pidfd (Linux < 5.3) poll in slices and ask waitpid. */
    int wait_ms = pidfd >= 0 ? -1 : 20;
    if (deadline && !timed_out) {
      long long left = deadline - mono_ms();
      if (left < 0) left = 0;
      if (wait_ms < 0 || left < wait_ms) wait_ms = (int)left;
    }
    int pr = poll(pf, (nfds_t)np, wait_ms);
    if (pr < 0 && errno != EINTR) fail("poll");
    if (pr > 0) {
      if (i_conn >= 0 && (pf[i_conn].revents & POLLOUT)) output_send(&c);
      if (i_conn >= 0 && (pf[i_conn].revents & (POLLIN | POLLHUP | POLLERR)) && c.in_len == 0) conn_read(&c);
      /* Hung up with stdin still pending for the command: the client is gone all the same. */
      if (i_conn >= 0 && (pf[i_conn].revents & (POLLHUP | POLLERR)) && c.in_len > 0) c.eof = 1, close_stdin(&c);
      if (i_in >= 0 && pf[i_in].revents && c.in_len > 0) stdin_write(&c);
      /* stdout and stderr take turns, so a chatty one cannot starve the other */
      for (int j = 0; j < 2; j++) {
        int k = (turn + j) & 1;
        if (i_out[k] >= 0 && pf[i_out[k]].revents && c.out_len == 0 && c.out_r[k] >= 0) {
          output_read(&c, k);
          if (c.out_len > 0) output_send(&c);
          turn = k ^ 1;
          break;
        }
      }
      if (i_status >= 0 && pf[i_status].revents) {
        ssize_t n = read(status_r, report + report_len, sizeof report - 1 - report_len);
        if (n > 0) report_len += (size_t)n;
        else if (n == 0 || errno != EINTR) close(status_r), status_r = -1;
      }
    }
    if (deadline && !timed_out && mono_ms() >= deadline) {
      timed_out = 1;
      if (cgdir[0]) tree_kill_once(cgdir);
      kill(child, SIGKILL);
    }
    /* The control plane never half-closes: end of input means the client is gone (or crashed). */
    if (!abandoned && !r.detached && (c.dead || c.eof)) {
      abandoned = 1;
      if (cgdir[0]) tree_kill_once(cgdir);
      kill(child, SIGKILL);
    }
    if (waitpid(child, &st, WNOHANG) == child) exited = 1;
  }
  /* The command exited. Pass on what it left in the pipes, then stop: background processes it left
   * behind are killed by the runtime (a command's lifetime ends with its main process). */
  close_stdin(&c);
  output_flush(&c);
  for (int k = 0; k < 2; k++) {
    if (c.out_r[k] < 0) continue;
    int avail = 0;
    if (ioctl(c.out_r[k], FIONREAD, &avail) < 0) avail = 0;
    while (avail > 0 && c.out_r[k] >= 0 && !c.dead) {
      output_read(&c, k);
      if (c.out_len == 0) break;
      avail -= (int)(c.out_len - FRAME_HDR);
      output_flush(&c);
    }
  }
  /* The status pipe's only writer was the command before its execve: it is closed now. */
  while (status_r >= 0) {
    ssize_t n = read(status_r, report + report_len, sizeof report - 1 - report_len);
    if (n > 0) report_len += (size_t)n;
    else if (n == 0 || errno != EINTR) break;
  }
  /* What the command left running ends with it, and its cgroup goes: before the exit is reported, so
   * "exited" means nothing of it runs any more. */
  tree_end(cgdir);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  int failed = code == EXIT_SETUP && report_len > 0;
  if (!failed) write_status(r.status_file, code, timed_out);
  if (!c.dead) {
    if (failed) {
      send_frame(conn, 'E', report, report_len);
    } else {
      char num[32];
      int n = snprintf(num, sizeof num, "%d%s", code, timed_out ? " timeout" : "");
      send_frame(conn, 'x', num, (size_t)n);
    }
  }
  if (!c.dead && !c.eof) linger_close(conn, 10000);
  _exit(0);
}

