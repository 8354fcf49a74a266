/* The supervisor's exec server (see exec-server.h). */
#include "compat.h"
#include "exec-server.h"
#include "frame.h"
#include "util.h"

/* The supervisor's exec socket: mode 0600 in a 0700 directory; returns -1 (errno set) on failure. */
int listen_exec(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  unlink(path);
  mode_t old = umask(077);
  int ok = bind(s, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(s, SOMAXCONN) == 0;
  umask(old);
  if (!ok) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

/*
 * The supervisor's loop: forks a handler per exec connection (only the same uid may connect; the
 * socket's mode says so too) and reaps them; ends when init has exited, after its handlers (which
 * end with their commands, all killed with the sandbox's pid namespace).
 */
/* Connections the supervisor refused (no handler could be forked): each is kept, our side shut, until
 * the client has read the refusal and closed (see linger_close), or for a second at most. */
#define MAX_REFUSED 64
struct refused {
  int fd;
  struct timespec until;
};

static long ms_until(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void refuse(struct refused *r, int *n, int fd, enum tp_code code, const char *why) {
  char msg[512];
  int len = snprintf(msg, sizeof msg, "%s: %s", tp_code_str(code), why);
  send_frame(fd, 'E', msg, (size_t)len);
  shutdown(fd, SHUT_WR);
  set_nonblock(fd);
  if (*n == MAX_REFUSED) { /* the oldest goes */
    close(r[0].fd);
    memmove(r, r + 1, sizeof *r * (MAX_REFUSED - 1));
    (*n)--;
  }
  r[*n].fd = fd;
  clock_gettime(CLOCK_MONOTONIC, &r[*n].until);
  r[*n].until.tv_sec += 5; /* a busy client may take a while to read it */
  (*n)++;
}

int serve_execs(int listen_fd, pid_t init, long uid_base) {
  signal(SIGPIPE, SIG_IGN);
  /* Handlers and init are reaped as soon as they exit: a zombie handler would hold one of the
   * sandbox's pids (they are charged until reaped). SIGCHLD stays blocked and arrives as a readable
   * signalfd, so none slips in between the reaping below and the next poll. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  uid_t me = getuid();
  struct refused refused[MAX_REFUSED];
  int n_refused = 0;
  for (;;) {
    struct pollfd pf[2 + MAX_REFUSED] = {{.fd = listen_fd, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
    int np = 2, timeout = sig_fd >= 0 ? -1 : 100; /* without signalfd: poll in slices and ask waitpid */
    for (int k = 0; k < n_refused; k++) {
      pf[np++] = (struct pollfd){.fd = refused[k].fd, .events = POLLIN};
      long left = ms_until(&refused[k].until);
      if (timeout < 0 || left < timeout) timeout = left < 0 ? 0 : (int)left;
    }
    int pr = poll(pf, (nfds_t)np, timeout);
    if (sig_fd >= 0 && pf[1].revents) {
      struct signalfd_siginfo si;
      while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
    }
    for (int k = n_refused - 1; k >= 0; k--) {
      char sink[4096];
      ssize_t got = pf[2 + k].revents ? recv(refused[k].fd, sink, sizeof sink, MSG_DONTWAIT) : -1;
      int done = got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR && pf[2 + k].revents) || ms_until(&refused[k].until) <= 0;
      if (!done) continue;
      close(refused[k].fd);
      memmove(refused + k, refused + k + 1, sizeof *refused * (size_t)(n_refused - k - 1));
      n_refused--;
    }
    int st = 0;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
      if (w != init) continue;
      close(listen_fd);
      while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
      }
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (pr <= 0 || !(pf[0].revents & POLLIN)) continue;
    int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) usleep(10000);
      continue;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != me) {
      close(c);
      continue;
    }
    pid_t h = fork();
    if (h == 0) {
      close(listen_fd);
      if (sig_fd >= 0) close(sig_fd);
      for (int k = 0; k < n_refused; k++) close(refused[k].fd);
      sigprocmask(SIG_UNBLOCK, &chld, NULL);
      serve_connection(c, init, uid_base);
    }
    if (h < 0) {
      if (errno == EAGAIN) refuse(refused, &n_refused, c, TP_ERR_CONFLICT, "the sandbox's pids limit is reached; end some of its processes or raise resources.pids");
      else refuse(refused, &n_refused, c, TP_ERR_INTERNAL, "could not fork an exec handler");
      continue;
    }
    close(c);
  }
}

int run_one(int conn, pid_t init, long uid_base) {
  signal(SIGPIPE, SIG_IGN);
  pid_t handler = fork();
  if (handler == 0) serve_connection(conn, init, uid_base);
  if (handler < 0) {
    char msg[128];
    int len = snprintf(msg, sizeof msg, "%s: could not fork the handler of a one-shot command", tp_code_str(TP_ERR_INTERNAL));
    send_frame(conn, 'E', msg, (size_t)len);
    kill(init, SIGKILL);
  }
  close(conn); /* the handler's alone: its end is the client's end of the connection */
  /* Reap until no child is left: the handler (then init goes, and with it the sandbox's processes), and
   * init (also when a destroy killed it first: the handler then ends with its command). */
  for (;;) {
    pid_t w = waitpid(-1, NULL, 0);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return 0;
    if (w == handler) kill(init, SIGKILL);
  }
}
