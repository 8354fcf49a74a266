/* What the handler of one exec connection relays between the client and the command (non-blocking). */
#ifndef TP_EXEC_RELAY_H
#define TP_EXEC_RELAY_H
#include <stddef.h>
#include "frame.h"

struct conn_state {
  int conn;
  int eof;                        /* the client sent all it will send (stdin is closed) */
  int dead;                       /* the client went away: output is drained and dropped */
  unsigned char hdr[FRAME_HDR];   /* incoming frame header, hdr_len bytes of it so far */
  size_t hdr_len, frame_left;     /* payload bytes of the current 'i' frame still to read */
  int stdin_w;                    /* the command's stdin (-1 once closed) */
  char in[CHUNK];
  size_t in_len, in_off;          /* stdin bytes read from the client, not yet written */
  int out_r[2];                   /* the command's stdout and stderr (-1 at EOF) */
  unsigned char out[FRAME_HDR + CHUNK];
  size_t out_len, out_off;        /* one outgoing frame */
  unsigned char kind;             /* type of the frame being read: 'i', or a control frame 'w' / 's' */
  unsigned char ctl[4];           /* a control frame's payload, so far */
  size_t ctl_len;
  int pty;                        /* the terminal's master when the command runs on a pty, else -1 */
  pid_t child;                    /* the command's main process (what 's' signals) */
};

void close_stdin(struct conn_state *c);
/* Reads what the client sent: stdin frames (kept in c->in until written), the end of stdin, and control
 * frames: 'w' (4 bytes: columns, rows, each 16-bit little-endian) resizes the pty, 's' (1 byte: a
 * signal number) signals the command's main process. */
void conn_read(struct conn_state *c);
void stdin_write(struct conn_state *c);
/* Reads one chunk of the command's stdout (k = 0) or stderr (k = 1) into the outgoing frame. */
void output_read(struct conn_state *c, int k);
void output_send(struct conn_state *c);
/* Sends the pending frame, waiting as needed (unless the client is gone). */
void output_flush(struct conn_state *c);
#endif
