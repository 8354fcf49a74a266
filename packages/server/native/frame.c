/* The exec connection's framing (see frame.h). */
#include "compat.h"
#include "frame.h"
#include "util.h"

void put_le32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

uint32_t get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void frame_header(unsigned char hdr[FRAME_HDR], char type, size_t len) {
  hdr[0] = (unsigned char)type;
  put_le32(hdr + 1, (uint32_t)len);
}

void send_frame(int fd, char type, const void *data, size_t len) {
  unsigned char hdr[FRAME_HDR];
  frame_header(hdr, type, len);
  if (write_all(fd, hdr, FRAME_HDR) == 0 && len > 0) write_all(fd, data, len);
}


/* Ends our side and waits (bounded) until the client has read the last frame and closed its side.
 * Closing first would hurt the client: a socket closed with unread data resets the connection, and a
 * client still writing stdin would get EPIPE, either of which can drop what it had not read yet. */
void linger_close(int fd, int timeout_ms) {
  shutdown(fd, SHUT_WR);
  char sink[4096];
  for (;;) {
    struct pollfd r = {.fd = fd, .events = POLLIN};
    int pr = poll(&r, 1, timeout_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
  }
  close(fd);
}
