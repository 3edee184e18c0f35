/* SPDX-License-Identifier: MIT */
/*
 * The syscall table: opcode -> permission check -> handler. Every request
 * goes through dispatch_request(), except the fast path's echo: a NOOP
 * taken from the shared-memory rings asks dispatch_echo_allowed() and is
 * answered without a request object (shm-attach.c).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct caller;
struct kernel;
struct request;

/* A handler answers req exactly once (see request.h). args is a JSON
 * object, borrowed for the duration of the call (json_incref to keep). */
typedef void (*handler_fn)(struct request *req, json_t *args);

/* payload is the raw request payload (not NUL-terminated). */
void dispatch_request(struct request *req, const void *payload, size_t len);

/* True when opcode's handler echoes the payload back as its reply (NOOP)
 * and perm_check() lets c make it: the caller may then answer with the
 * payload's bytes itself. False means: take the ordinary way through
 * dispatch_request(), which also answers and logs a denial. */
bool dispatch_echo_allowed(struct kernel *k, const struct caller *c,
			   uint8_t opcode);

/* A permission denial found by a handler: logged once (info) and
 * answered {"success": false, "code": "EACCES", "error": <text>}. */
void dispatch_reply_denied(struct request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* HELLO's "features" object. */
json_t *dispatch_features(void);

/* Handlers, by module. */
void sys_noop(struct request *req, json_t *args);
void sys_hello(struct request *req, json_t *args);
void sys_exit(struct request *req, json_t *args);
void sys_async_poll(struct request *req, json_t *args);
void sys_read(struct request *req, json_t *args);
void sys_write(struct request *req, json_t *args);
void sys_exec(struct request *req, json_t *args);
void sys_http(struct request *req, json_t *args);
void sys_think(struct request *req, json_t *args);
void sys_llm_report(struct request *req, json_t *args);
void sys_spawn(struct request *req, json_t *args);
void sys_kill(struct request *req, json_t *args);
void sys_list(struct request *req, json_t *args);
void sys_pause(struct request *req, json_t *args);
void sys_resume(struct request *req, json_t *args);
void sys_get_perms(struct request *req, json_t *args);
void sys_set_perms(struct request *req, json_t *args);
void sys_send(struct request *req, json_t *args);
void sys_recv(struct request *req, json_t *args);
void sys_broadcast(struct request *req, json_t *args);
void sys_register(struct request *req, json_t *args);
void sys_store(struct request *req, json_t *args);
void sys_fetch(struct request *req, json_t *args);
void sys_delete(struct request *req, json_t *args);
void sys_keys(struct request *req, json_t *args);
void sys_subscribe(struct request *req, json_t *args);
void sys_unsubscribe(struct request *req, json_t *args);
void sys_poll_events(struct request *req, json_t *args);
void sys_emit(struct request *req, json_t *args);
void sys_get_audit_log(struct request *req, json_t *args);
void sys_set_audit_config(struct request *req, json_t *args);
void sys_record_start(struct request *req, json_t *args);
void sys_record_stop(struct request *req, json_t *args);
void sys_record_status(struct request *req, json_t *args);
void sys_replay_start(struct request *req, json_t *args);
void sys_replay_status(struct request *req, json_t *args);
