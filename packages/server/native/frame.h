/*
 * Frames on an exec connection: one type byte, a 4-byte little-endian payload length, the payload.
 *   client → helper: 'q' the request (first, once; see exec-request.h), 'i' stdin bytes, 'e' end of stdin
 *   helper → client: 'o' stdout bytes, 'r' stderr bytes, then one last frame:
 *                    'x' the exit code in decimal (128+N for signal N), or
 *                    'E' "<code>: <message>" when the command did not start.
 */
#ifndef TP_FRAME_H
#define TP_FRAME_H
#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR 5
#define CHUNK 65536
#define MAX_REQUEST (8 << 20)

void put_le32(unsigned char *p, uint32_t v);
uint32_t get_le32(const unsigned char *p);
/* The 5-byte header of a frame of `type` carrying len bytes. Pure. */
void frame_header(unsigned char hdr[FRAME_HDR], char type, size_t len);
/* A whole frame, waiting for the reader as needed; a reader that went away is ignored. */
void send_frame(int fd, char type, const void *data, size_t len);
/* Ends our side and waits (bounded) until the client has read the last frame and closed its side. */
void linger_close(int fd, int timeout_ms);
#endif
