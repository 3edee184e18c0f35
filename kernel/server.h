/* SPDX-License-Identifier: MIT */
/*
 * The listening Unix socket: its directory (owned by us, writable only by
 * us), a lock that keeps a second kernel off the same path, the socket
 * itself (mode 0660) and the multishot accept that turns clients into
 * operator connections.
 */
#pragma once

#include <stddef.h>

struct kernel;
struct server;

/* Binds cfg.socket_path. -EADDRINUSE when another kernel holds it (msg says
 * so); other errors name the step in msg. */
int server_new(struct kernel *k, struct server **ret, char *msg, size_t msglen);
/* Stops accepting and removes the socket file and its lock. */
void server_free(struct server *s);
