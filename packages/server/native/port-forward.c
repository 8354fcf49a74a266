/* Port forwarding into a sandbox's network namespace (see port-forward.h). */
#include "compat.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "frame.h"
#include "port-forward.h"
#include "util.h"

long parse_port_request(const char *payload, size_t len) {
  if (len == 0 || len > 5) return -1;
  long port = 0;
  for (size_t k = 0; k < len; k++) {
    if (payload[k] < '0' || payload[k] > '9') return -1;
    port = port * 10 + (payload[k] - '0');
  }
  return port >= 1 && port <= 65535 ? port : -1;
}

/* A TCP connection to the loopback address (IPv4, else IPv6) on `port`, in the current network namespace. */
static int connect_loopback(long port) {
  struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int first_errno = 0;
  for (int k = 0; k < 2; k++) {
    int s = socket(k == 0 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      if (!first_errno) first_errno = errno;
      continue;
    }
    int ok = k == 0 ? connect(s, (struct sockaddr *)&v4, sizeof v4) : connect(s, (struct sockaddr *)&v6, sizeof v6);
    if (ok == 0) {
      int one = 1;
      setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small requests go out at once */
      return s;
    }
    if (!first_errno) first_errno = errno;
    close(s);
  }
  errno = first_errno;
  return -1;
}

/* One direction of the relay: bytes read from `from`, not yet written to `to`. */
struct pipe_dir {
  int from, to;
  int eof;      /* `from` sent all it will send */
  int shut;     /* that end was passed on to `to` */
  char buf[CHUNK];
  size_t len, off;
};

/* 0 while the relay goes on, -1 when a side failed (a reset, or a peer that is gone). */
static int dir_read(struct pipe_dir *d) {
  ssize_t n = recv(d->from, d->buf, sizeof d->buf, MSG_DONTWAIT);
  if (n > 0) d->len = (size_t)n, d->off = 0;
  else if (n == 0) d->eof = 1;
  else if (errno != EAGAIN && errno != EINTR) return -1;
  return 0;
}

static int dir_write(struct pipe_dir *d) {
  ssize_t n = send(d->to, d->buf + d->off, d->len - d->off, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) {
    d->off += (size_t)n;
    if (d->off == d->len) d->len = d->off = 0;
  } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
    return -1;
  }
  return 0;
}

/* Relays a <-> b until both directions ended or one failed, or init (pidfd, or -1) exits. */
static void relay(int a, int b, int init_fd, pid_t init) {
  static struct pipe_dir up, down; /* up: a -> b, down: b -> a */
  up = (struct pipe_dir){.from = a, .to = b};
  down = (struct pipe_dir){.from = b, .to = a};
  set_nonblock(a);
  set_nonblock(b);
  for (;;) {
    for (int k = 0; k < 2; k++) {
      struct pipe_dir *d = k == 0 ? &up : &down;
      if (d->eof && d->len == 0 && !d->shut) shutdown(d->to, SHUT_WR), d->shut = 1;
    }
    if (up.shut && down.shut) return;
    /* A side is polled only for what it can do now, so a hang-up never spins the loop. */
    short ev_a = (short)((up.len == 0 && !up.eof ? POLLIN : 0) | (down.len > 0 ? POLLOUT : 0));
    short ev_b = (short)((down.len == 0 && !down.eof ? POLLIN : 0) | (up.len > 0 ? POLLOUT : 0));
    struct pollfd pf[3] = {{.fd = ev_a ? a : -1, .events = ev_a}, {.fd = ev_b ? b : -1, .events = ev_b}, {.fd = init_fd, .events = POLLIN}};
    int pr = poll(pf, 3, init_fd >= 0 ? -1 : 500);
    if (pr < 0 && errno != EINTR) return;
    if (init_fd >= 0 && pf[2].revents) return; /* the sandbox is gone: so is its end of the stream */
    if (init_fd < 0 && kill(init, 0) < 0 && errno == ESRCH) return;
    if (pr <= 0) continue;
    if ((pf[0].revents & POLLOUT) && dir_write(&down) < 0) return;
    if ((pf[1].revents & POLLOUT) && dir_write(&up) < 0) return;
    if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) && up.len == 0 && !up.eof && dir_read(&up) < 0) return;
    if ((pf[1].revents & (POLLIN | POLLHUP | POLLERR)) && down.len == 0 && !down.eof && dir_read(&down) < 0) return;
    /* What was just read goes out at once where it can (saves a poll round trip per chunk). */
    if (up.len > 0 && dir_write(&up) < 0) return;
    if (down.len > 0 && dir_write(&down) < 0) return;
  }
}

void __attribute__((noreturn)) serve_port_forward(int conn, pid_t init) {
  prctl(PR_SET_NAME, (unsigned long)"tidepool-port", 0, 0, 0);
  unsigned char hdr[FRAME_HDR];
  char payload[8];
  if (read_full(conn, hdr, FRAME_HDR) < 0) _exit(1);
  uint32_t len = get_le32(hdr + 1);
  if (hdr[0] != 'p' || len >= sizeof payload) fail_code(TP_ERR_INVALID_REQUEST, 0, "a port-forward request is a 'p' frame of at most 5 digits");
  if (read_full(conn, payload, len) < 0) _exit(1);
  long port = parse_port_request(payload, len);
  if (port < 0) fail_code(TP_ERR_INVALID_REQUEST, 0, "port must be 1-65535 (got \"%.*s\")", (int)len, payload);
  struct timeval none = {0};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  int init_fd = (int)syscall(SYS_pidfd_open, init, 0);
  if (init_fd < 0 && errno == ESRCH) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %d) is gone", (int)init);
  char ns[64];
  snprintf(ns, sizeof ns, "/proc/%d/ns/net", (int)init);
  int ns_fd = open(ns, O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) {
    if (errno == ENOENT) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %d) is gone", (int)init);
    fail("open %s", ns);
  }
  /* Only the network namespace: this process stays host root in every other one, and owns nothing inside. */
  if (setns(ns_fd, CLONE_NEWNET) < 0) fail("setns %s", ns);
  close(ns_fd);
  int tcp = connect_loopback(port);
  if (tcp < 0) {
    if (errno == ECONNREFUSED)
      fail_code(TP_ERR_BAD_GATEWAY, 0, "nothing listens on port %ld inside the sandbox (connection refused on 127.0.0.1 and ::1); start the server first", port);
    fail_code(TP_ERR_BAD_GATEWAY, errno, "could not connect to port %ld inside the sandbox", port);
  }
  send_frame(conn, 'k', NULL, 0);
  signal(SIGPIPE, SIG_IGN);
  relay(conn, tcp, init_fd, init);
  close(tcp);
  close(conn);
  _exit(0);
}
