/* SPDX-License-Identifier: MIT */
/*
 * THINK (0x01) and LLM_REPORT (0xF0). THINK's fields are validated here —
 * each with its own EINVAL message — and become the worker's "request" map
 * (docs/llm.md) with the cost estimate the scheduler charges before the
 * real token count is known; llm.c queues and answers the call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "caller.h"
#include "dispatch.h"
#include "jsonreq.h"
#include "llm.h"
#include "macro.h"
#include "request.h"

#define THINK_MAX_MESSAGES 1024
#define THINK_MAX_TOOLS	   128
#define THINK_MAX_TOKENS   1000000
#define THINK_MAX_MODEL	   128
/* Gemini counts an image as 258 tokens; close enough for an estimate. */
#define THINK_IMAGE_TOKENS 258
#define REPORT_MAX_TOKENS  1000000000

static const char *const roles[] = { "user", "assistant", "system", NULL };
static const char *const levels[] = { "low", "medium", "high", NULL };

static int parse_messages(json_t *args, json_t *out, size_t *bytes,
			  struct jr_err *err)
{
	json_t *msgs = json_object_get(args, "messages"), *m;
	size_t i;

	if (!msgs || json_is_null(msgs))
		return 0;
	if (!json_is_array(msgs) || json_array_size(msgs) > THINK_MAX_MESSAGES)
		return jr_error(err, "field '%s' must be an array of at most %d "
			    "{role, content} objects", "messages",
			    THINK_MAX_MESSAGES);
	json_array_foreach(msgs, i, m) {
		const char *content = NULL;
		int role = 0;
		if (!json_is_object(m))
			return jr_error(err, "field '%s[%zu]' must be an object",
				    "messages", i);
		if (jr_enum(m, "role", roles, &role, err) < 0 ||
		    !json_object_get(m, "role"))
			return jr_error(err, "field '%s[%zu].role' must be user, "
				    "assistant or system", "messages", i);
		if (jr_string(m, "content", true, &content, err) < 0)
			return jr_error(err, "field '%s[%zu].content' must be a "
				    "string", "messages", i);
		if (json_object_size(m) != 2)
			return jr_error(err, "field '%s[%zu]' has fields other "
				    "than role and content", "messages", i);
		*bytes += strlen(content);
	}
	json_object_set(out, "messages", msgs);
	return 1;
}

static int parse_image(json_t *args, json_t *out, struct jr_err *err)
{
	json_t *img = NULL;
	const char *data = NULL, *mime = NULL;
	void *raw = NULL;
	size_t rawlen;

	if (jr_object(args, "image", &img, err) < 0)
		return -EINVAL;
	if (!img)
		return 0;
	if (jr_string(img, "data", true, &data, err) < 0 ||
	    jr_string(img, "mime_type", true, &mime, err) < 0)
		return jr_error(err, "field '%s' must be {data: base64 string, "
			    "mime_type: string}", "image");
	if (strncmp(mime, "image/", 6) != 0 || strlen(mime) > 100)
		return jr_error(err, "field '%s.mime_type' must be an image type "
			    "(image/png, image/jpeg, ...)", "image");
	if (base64_decode(data, strlen(data), &raw, &rawlen) < 0 || !rawlen) {
		free(raw);
		return jr_error(err, "field '%s.data' is not valid base64",
			    "image");
	}
	free(raw);
	json_object_set_new(out, "image", json_pack("{s:s, s:s}", "data", data,
						    "mime_type", mime));
	return 0;
}

static int parse_tools(json_t *args, json_t *out, size_t *bytes,
		       struct jr_err *err)
{
	json_t *tools = json_object_get(args, "tools"), *t;
	size_t i;

	if (!tools || json_is_null(tools))
		return 0;
	if (!json_is_array(tools) || json_array_size(tools) > THINK_MAX_TOOLS)
		return jr_error(err, "field '%s' must be an array of at most %d "
			    "{name, description, parameters} objects", "tools",
			    THINK_MAX_TOOLS);
	json_array_foreach(tools, i, t) {
		const char *name = NULL, *desc = NULL;
		json_t *params = NULL;
		if (!json_is_object(t) ||
		    jr_string(t, "name", true, &name, err) < 0 || !*name ||
		    jr_string(t, "description", false, &desc, err) < 0 ||
		    jr_object(t, "parameters", &params, err) < 0)
			return jr_error(err, "field '%s[%zu]' must be {name: "
				    "string, description?: string, "
				    "parameters?: JSON schema object}",
				    "tools", i);
		char *text = json_dumps(t, JSON_COMPACT);
		*bytes += text ? strlen(text) : 0;
		free(text);
	}
	json_object_set(out, "tools", tools);
	return 0;
}

static int parse_scalars(json_t *args, json_t *out, struct llm_think *t,
			 size_t *bytes, int64_t *max_tokens, struct jr_err *err)
{
	const char *prompt = NULL, *sys = NULL, *model = NULL;
	double temp = -1, timeout = LLM_DEFAULT_TIMEOUT_S;
	int level = -1;
	int r;

	if ((r = jr_string(args, "prompt", false, &prompt, err)) < 0 ||
	    (r = jr_string(args, "system_instruction", false, &sys, err)) < 0 ||
	    (r = jr_string(args, "model", false, &model, err)) < 0 ||
	    (r = jr_enum(args, "thinking_level", levels, &level, err)) < 0 ||
	    (r = jr_number(args, "temperature", false, 0, 2, &temp, err)) < 0 ||
	    (r = jr_int(args, "max_tokens", false, 1, THINK_MAX_TOKENS,
			max_tokens, err)) < 0 ||
	    (r = jr_number(args, "timeout", false, 0.001, LLM_MAX_TIMEOUT_S,
			   &timeout, err)) < 0 ||
	    (r = jr_bool(args, "stream", &t->stream, err)) < 0)
		return r;
	if (model && (!*model || strlen(model) > THINK_MAX_MODEL ||
		      strpbrk(model, "/?#% \t\r\n")))
		return jr_error(err, "field '%s' must be a model name (1 to %d "
			    "characters, no '/', '?', '#', '%%' or spaces)",
			    "model", THINK_MAX_MODEL);
	if (prompt) {
		json_object_set_new(out, "prompt", json_string(prompt));
		*bytes += strlen(prompt);
	}
	if (sys) {
		json_object_set_new(out, "system_instruction", json_string(sys));
		*bytes += strlen(sys);
	}
	if (level >= 0 && json_object_get(args, "thinking_level"))
		json_object_set_new(out, "thinking_level",
				    json_string(levels[level]));
	if (temp >= 0)
		json_object_set_new(out, "temperature", json_real(temp));
	if (*max_tokens > 0)
		json_object_set_new(out, "max_tokens",
				    json_integer(*max_tokens));
	t->model = model;
	t->timeout_ms = (uint64_t)(timeout * 1000.0 + 0.999);
	return prompt ? 1 : 0;
}

/* Fills t from args; -EINVAL with a message naming the field. */
static int parse_think(json_t *args, struct llm_think *t, struct jr_err *err)
{
	json_t *out = json_object();
	int64_t max_tokens = 0;
	size_t bytes = 0;
	int has_prompt, has_messages, r;

	if (!out) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	if ((has_prompt = parse_scalars(args, out, t, &bytes, &max_tokens,
					err)) < 0 ||
	    (has_messages = parse_messages(args, out, &bytes, err)) < 0 ||
	    (r = parse_image(args, out, err)) < 0 ||
	    (r = parse_tools(args, out, &bytes, err)) < 0) {
		json_decref(out);
		return -EINVAL;
	}
	if (!has_prompt && !has_messages) {
		json_decref(out);
		snprintf(err->msg, sizeof(err->msg),
			 "one of 'prompt' and 'messages' is required");
		return -EINVAL;
	}
	t->request = out;
	t->est_prompt_tokens =
		bytes / 4 +
		(json_object_get(out, "image") ? THINK_IMAGE_TOKENS : 0);
	t->est_tokens = t->est_prompt_tokens +
			(uint64_t)(max_tokens > 0 ? max_tokens :
						    LLM_DEFAULT_COMPLETION_EST);
	return 0;
}

void sys_think(struct request *req, json_t *args)
{
	struct llm_think t = { 0 };
	struct jr_err err;
	int r = parse_think(args, &t, &err);

	if (r < 0) {
		request_reply_error(req, r, "%s", err.msg);
		return;
	}
	llm_think(req, &t);
}

void sys_llm_report(struct request *req, json_t *args)
{
	struct jr_err err;
	int64_t tokens = 0;

	if (jr_int(args, "tokens", true, 0, REPORT_MAX_TOKENS, &tokens, &err) <
	    0) {
		request_reply_error(req, -EINVAL, "%s", err.msg);
		return;
	}
	uint64_t total = llm_report(request_kernel(req), request_caller(req),
				    (uint64_t)tokens);
	request_reply_json(req, json_pack("{s:b, s:I, s:I}", "success", 1,
					  "reported", (json_int_t)tokens,
					  "total_tokens", (json_int_t)total));
}
