/* SPDX-License-Identifier: MIT */
/*
 * The connection-level syscalls: NOOP (echo), HELLO (versions, features,
 * kernel facts), EXIT (goodbye, then close) and ASYNC_POLL.
 */
#include <errno.h>
#include <unistd.h>

#include "agent.h"
#include "caller.h"
#include "cgroup.h"
#include "clove-config.h"
#include "conn.h"
#include "dispatch.h"
#include "jsonreq.h"
#include "kernel.h"
#include "llm.h"
#include "loop.h"
#include "proto.h"
#include "request.h"
#include "sandbox.h"
#include "shm-attach.h"

void sys_noop(struct request *req, json_t *args)
{
	request_reply_raw(req, json_string_value(args), json_string_length(args));
}

void sys_exit(struct request *req, json_t *args)
{
	static const char goodbye[] = "goodbye";
	req->close_after = true;
	request_reply_raw(req, goodbye, sizeof(goodbye) - 1);
}

void sys_hello(struct request *req, json_t *args)
{
	struct kernel *k = request_kernel(req);
	const struct caller *c = request_caller(req);

	json_t *kernel = json_pack(
		"{s:i, s:I, s:s, s:s, s:i, s:i, s:i}", "pid", (int)getpid(),
		"uptime_ms", (json_int_t)(loop_now_ms() - k->started_ms),
		"socket", k->cfg.socket_path, "state_dir", k->cfg.state_dir,
		"agents_running", (int)agents_count_running(k->agents),
		"agents_total", (int)agents_count_total(k->agents),
		"connections", (int)k->nconns);
	if (kernel)
		json_object_set_new(kernel, "llm", llm_status_json(k));
	json_t *reply = json_pack(
		"{s:b, s:i, s:s, s:i, s:s, s:o, s:{s:i, s:i, s:i}, s:o}",
		"success", 1, "protocol_version", 1, "kernel_version",
		CLOVE_VERSION, "agent_id", (int)c->id, "role",
		c->role == ROLE_AGENT ? "agent" : "operator", "features",
		dispatch_features(), "limits", "max_payload",
		(int)PROTO_MAX_REQUEST, "max_inflight", CONN_MAX_INFLIGHT,
		"max_async", CONN_MAX_ASYNC, "kernel", kernel);
	/* Resource limits are a feature only where cgroups are usable. */
	json_object_set_new(json_object_get(reply, "features"), "cgroups",
			    json_boolean(k->cgroups != NULL));
	json_object_set_new(
		kernel, "cgroup",
		k->cgroups ? json_string(cgroup_layout_name(
				     cgroup_manager_layout(k->cgroups)))
			   : json_null());
	if (c->role == ROLE_AGENT && c->agent)
		json_object_set_new(reply, "agent_name",
				    json_string(agent_name(c->agent)));
	/* Whether sandboxed agents can be started on this host. */
	json_object_set_new(json_object_get(reply, "features"), "sandbox",
			    json_boolean(!sandbox_context_error(k->sandbox)));
	/* "encoding" and "shm" (docs/shm.md) */
	char why[256];
	int r = shm_attach_hello(req, args, reply, why, sizeof(why));
	if (r < 0) {
		json_decref(reply);
		request_reply_error(req, r, "%s", why);
		return;
	}
	request_reply_json(req, reply);
}

void sys_async_poll(struct request *req, json_t *args)
{
	struct jr_err err;
	int64_t max = 16;
	if (jr_int(args, "max", false, 1, CONN_MAX_ASYNC, &max, &err) < 0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	json_t *results = json_array();
	unsigned pending = conn_async_take(req->conn, (unsigned)max, results);
	request_reply_json(req, json_pack("{s:b, s:o, s:i, s:i}", "success", 1,
					  "results", results, "count",
					  (int)json_array_size(results),
					  "pending", (int)pending));
}
