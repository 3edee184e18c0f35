/* SPDX-License-Identifier: MIT */
/*
 * What workers send back (docs/llm.md), turned into THINK replies: a
 * `chunk` becomes a partial reply of a streaming call, a `result` the final
 * reply or error — or a retry, when the provider said the failure was
 * worth one. A worker's map is checked like a client's request: a field of
 * the wrong type is replaced by a neutral value, never trusted.
 */
#include <errno.h>
#include <string.h>

#include "llm-internal.h"
#include "log.h"
#include "loop.h"
#include "request.h"

static uint64_t uint_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ?
		       (uint64_t)json_integer_value(v) :
		       0;
}

static const char *str_field(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

static void on_chunk(struct llm_call *c, json_t *msg)
{
	const char *text = json_string_value(json_object_get(msg, "text"));

	/* The provider produced it, whether or not it reaches the client. */
	if (text)
		c->streamed_bytes += strlen(text);
	if (!c->stream || !c->req || !text || !*text)
		return;
	request_reply_partial(c->req, text, strlen(text));
}

/* kernel_us: the call's time in the kernel — from arrival to its last
 * hand-over to a worker (queueing and backoff included), and from the
 * worker's result (received at result_ns) to now. */
static json_int_t kernel_us(const struct llm_call *c, uint64_t result_ns)
{
	uint64_t ns = (c->sent_ns - c->started_ns) +
		      (llm_now_ns() - result_ns);
	return (json_int_t)(ns / 1000);
}

static json_t *success_reply(struct llm *l, struct llm_call *c, json_t *msg,
			     uint64_t prompt, uint64_t completion,
			     uint64_t result_ns)
{
	json_t *calls = json_object_get(msg, "function_calls");
	uint64_t now = loop_now_ms();

	return json_pack(
		"{s:b, s:s, s:{s:I, s:I, s:I}, s:o, s:s, s:s, s:I, s:I, s:I, "
		"s:s, s:i}",
		"success", 1, "content", str_field(msg, "content", ""),
		"tokens", "prompt", (json_int_t)prompt, "completion",
		(json_int_t)completion, "total",
		(json_int_t)(prompt + completion), "function_calls",
		json_is_array(calls) ? json_incref(calls) : json_array(), "model",
		str_field(msg, "model", ""), "finish_reason",
		str_field(msg, "finish_reason", ""), "latency_ms",
		(json_int_t)(now - c->started_ms), "provider_ms",
		(json_int_t)uint_field(msg, "provider_ms"), "kernel_us",
		kernel_us(c, result_ns), "provider",
		l->provider, "retries", (int)c->retries);
}

static void on_success(struct llm *l, struct llm_call *c, json_t *msg)
{
	uint64_t result_ns = llm_now_ns();
	json_t *tokens = json_object_get(msg, "tokens");
	uint64_t prompt = uint_field(tokens, "prompt");
	uint64_t completion = uint_field(tokens, "completion");
	uint64_t total = uint_field(tokens, "total");
	struct llm_usage *u = &c->flow->flow.usage;

	/* A provider that counts only a total: charge it as completion. */
	if (total > prompt + completion)
		completion = total - prompt;
	u->prompt_tokens += prompt;
	u->completion_tokens += completion;
	l->usage.prompt_tokens += prompt;
	l->usage.completion_tokens += completion;
	llm_call_done(l, c, prompt + completion);
	json_t *reply = success_reply(l, c, msg, prompt, completion, result_ns);
	if (!reply) {
		llm_call_error(l, c, -ENOMEM, NULL, "out of memory");
		return;
	}
	llm_call_reply(l, c, reply);
}

static int errno_of(const char *code)
{
	static const struct {
		const char *name;
		int err;
	} codes[] = {
		{ "ENOKEY", -ENOKEY },	   { "ECONNREFUSED", -ECONNREFUSED },
		{ "ETIMEDOUT", -ETIMEDOUT }, { "EAGAIN", -EAGAIN },
		{ "EIO", -EIO },	   { "EINVAL", -EINVAL },
		{ "EPROTO", -EPROTO },
	};
	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i].name) == 0)
			return codes[i].err;
	return -EIO;
}

static void on_failure(struct llm *l, struct llm_call *c, json_t *msg)
{
	json_t *retry = json_object_get(msg, "retryable");
	json_t *after = json_object_get(msg, "retry_after_ms");
	json_t *status = json_object_get(msg, "status");
	const char *text = str_field(msg, "error", "the LLM call failed");
	int err = errno_of(str_field(msg, "code", NULL));

	if (json_is_true(retry) &&
	    llm_call_retry(l, c,
			   json_is_integer(after) ? json_integer_value(after) :
						    0))
		return;
	llm_call_done(l, c, 0);
	json_t *extra = json_pack("{s:s, s:i}", "provider", l->provider,
				  "retries", (int)c->retries);
	if (extra && json_is_integer(status))
		json_object_set(extra, "status", status);
	llm_call_error(l, c, err, extra, text);
}

void llm_on_message(void *data, unsigned worker, json_t *msg)
{
	struct llm *l = data;
	json_t *id = json_object_get(msg, "id");
	struct llm_call *c;

	if (!json_is_integer(id) ||
	    !(c = llm_call_find(l, (uint64_t)json_integer_value(id))))
		return;
	/* A result that crossed a cancel or a timeout, or from a worker the
	 * call no longer runs on (it died and the call moved). */
	if (!c->req || c->cancelled || !c->job.running ||
	    c->worker != (int)worker)
		return;
	if (strcmp(str_field(msg, "type", ""), "chunk") == 0) {
		on_chunk(c, msg);
		return;
	}
	if (json_is_true(json_object_get(msg, "ok")))
		on_success(l, c, msg);
	else
		on_failure(l, c, msg);
}
