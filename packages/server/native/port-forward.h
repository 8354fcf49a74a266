/*
 * Port forwarding on an exec connection (like kubectl port-forward). The client's first frame is
 *   'p' the port in decimal (1-65535)
 * instead of an exec request. The handler connects to 127.0.0.1:<port> (then [::1]:<port>) inside the
 * sandbox's network namespace and answers
 *   'k' (empty) connected: from here on the connection carries the TCP stream's bytes both ways, raw;
 *       each side's end of input is passed on as a half-close (shutdown SHUT_WR), or
 *   'E' "<code>: <message>" (bad_gateway when nothing listens there).
 * The relay ends when both directions have ended, on an error (a reset), or when the sandbox's init exits.
 */
#ifndef TP_PORT_FORWARD_H
#define TP_PORT_FORWARD_H
#include <stddef.h>
#include <sys/types.h>

/* The port a 'p' frame's payload names, or -1 when it is not a decimal in 1..65535. Pure. */
long parse_port_request(const char *payload, size_t len);
/* Serves a port-forward connection whose first frame (not yet read) is 'p'; ends the handler. */
void __attribute__((noreturn)) serve_port_forward(int conn, pid_t init);
#endif
