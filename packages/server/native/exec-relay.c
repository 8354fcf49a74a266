/* Relaying an exec connection (see exec-relay.h). */
#include "compat.h"
#include "exec-pty.h"
#include "exec-relay.h"

void close_stdin(struct conn_state *c) {
  if (c->stdin_w >= 0) close(c->stdin_w);
  c->stdin_w = -1;
  c->in_len = c->in_off = 0;
}

/* The payload of a control frame; once whole, it is applied. */
static void ctl_read(struct conn_state *c) {
  ssize_t n = recv(c->conn, c->ctl + c->ctl_len, c->frame_left, MSG_DONTWAIT);
  if (n <= 0) {
    if (n == 0) c->eof = 1, close_stdin(c);
    else if (errno != EAGAIN && errno != EINTR) c->dead = 1, close_stdin(c);
    return;
  }
  c->ctl_len += (size_t)n;
  c->frame_left -= (size_t)n;
  if (c->frame_left > 0) return;
  c->hdr_len = 0;
  if (c->kind == 'w') {
    unsigned cols = (unsigned)c->ctl[0] | (unsigned)c->ctl[1] << 8, rows = (unsigned)c->ctl[2] | (unsigned)c->ctl[3] << 8;
    /* Without a pty, or with a zero size, there is nothing to resize: ignored, like a resize of a closed terminal. */
    if (c->pty >= 0 && cols > 0 && rows > 0) set_pty_size(c->pty, cols, rows); /* the kernel sends SIGWINCH */
  } else if (c->kind == 's') {
    int sig = c->ctl[0];
    if (sig >= 1 && sig < 32 && c->child > 0) kill(c->child, sig);
  }
}

/* Reads what the client sent: stdin frames (kept in c->in until written) and the end of stdin. */
void conn_read(struct conn_state *c) {
  if (c->hdr_len < FRAME_HDR) {
    ssize_t n = recv(c->conn, c->hdr + c->hdr_len, FRAME_HDR - c->hdr_len, MSG_DONTWAIT);
    if (n == 0) {
      c->eof = 1; /* the client closed its side: no more stdin, but it may still read */
      close_stdin(c);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c->dead = 1, close_stdin(c);
      return;
    }
    c->hdr_len += (size_t)n;
    if (c->hdr_len < FRAME_HDR) return;
    uint32_t len = get_le32(c->hdr + 1);
    c->kind = c->hdr[0];
    c->ctl_len = 0;
    if (c->hdr[0] == 'i') c->frame_left = len;
    else if ((c->hdr[0] == 'w' && len == 4) || (c->hdr[0] == 's' && len == 1)) c->frame_left = len;
    else if (c->hdr[0] == 'e' && len == 0) close_stdin(c);
    else {
      c->dead = 1; /* not our protocol */
      close_stdin(c);
      return;
    }
    if (c->frame_left == 0) c->hdr_len = 0;
    return;
  }
  if (c->kind != 'i') {
    ctl_read(c);
    return;
  }
  size_t want = c->frame_left < CHUNK ? c->frame_left : CHUNK;
  ssize_t n = recv(c->conn, c->in, want, MSG_DONTWAIT);
  if (n <= 0) {
    if (n == 0) c->eof = 1, close_stdin(c);
    else if (errno != EAGAIN && errno != EINTR) c->dead = 1, close_stdin(c);
    return;
  }
  c->frame_left -= (size_t)n;
  if (c->frame_left == 0) c->hdr_len = 0;
  if (c->stdin_w >= 0) c->in_len = (size_t)n, c->in_off = 0; /* else the command closed its stdin: drop */
}

void stdin_write(struct conn_state *c) {
  ssize_t n = write(c->stdin_w, c->in + c->in_off, c->in_len - c->in_off);
  if (n > 0) {
    c->in_off += (size_t)n;
    if (c->in_off == c->in_len) c->in_len = c->in_off = 0;
  } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
    close_stdin(c); /* EPIPE: the command does not read its stdin any more */
  }
}

/* Reads one chunk of the command's stdout (k = 0) or stderr (k = 1) into the outgoing frame. */
void output_read(struct conn_state *c, int k) {
  ssize_t n = read(c->out_r[k], c->out + FRAME_HDR, CHUNK);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    if (c->out_r[k] == c->pty) c->pty = -1; /* EIO: every end of the terminal in the sandbox is closed */
    close(c->out_r[k]);
    c->out_r[k] = -1;
    return;
  }
  if (n < 0 || c->dead) return;
  c->out[0] = k == 0 ? 'o' : 'r';
  put_le32(c->out + 1, (uint32_t)n);
  c->out_len = FRAME_HDR + (size_t)n;
  c->out_off = 0;
}

void output_send(struct conn_state *c) {
  ssize_t n = send(c->conn, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) {
    c->out_off += (size_t)n;
    if (c->out_off == c->out_len) c->out_len = c->out_off = 0;
  } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
    c->dead = 1; /* the client went away: keep draining so the command never blocks */
    c->out_len = c->out_off = 0;
  }
}

void output_flush(struct conn_state *c) {
  while (c->out_len > 0 && !c->dead) {
    struct pollfd w = {.fd = c->conn, .events = POLLOUT};
    if (poll(&w, 1, -1) < 0 && errno != EINTR) return;
    output_send(c);
  }
  c->out_len = c->out_off = 0;
}

