/* SPDX-License-Identifier: MIT */
/*
 * The permission seam: every opcode the protocol names has a rule (an
 * unrestricted operator passes them all, numbers without a name are
 * refused), each rule asks the capability docs/permissions.md says, an
 * agent caller without a policy is refused everything but the always-
 * allowed calls, and --operator-permissions is parsed or refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "caller.h"
#include "kernel.h"
#include "perm-policy.h"
#include "perm.h"
#include "proto.h"

/* main.c's, which the library's agent code links against. */
uint32_t kernel_next_id(struct kernel *k)
{
	return ++k->next_id;
}

void kernel_shutdown(struct kernel *k)
{
	k->shutting_down = true;
}

static const struct caller op_caller = { .role = ROLE_OPERATOR, .id = 1 };

static struct perm_policy *policy(const char *text)
{
	struct perm_policy *p = NULL;
	struct perm_why why;

	assert_int_equal(perm_operator_policy_new(text, &p, &why), 0);
	return p;
}

static void every_named_opcode_has_a_rule(void **state)
{
	struct kernel k = { .operator_policy = policy("") };
	char why[256];

	for (int op = 0; op < 256; op++) {
		int r = perm_check(&k, &op_caller, (uint8_t)op, NULL, why,
				   sizeof(why));
		if (proto_opcode_name((uint8_t)op) && r != 0)
			fail_msg("%s refused to an unrestricted operator: %s",
				 proto_opcode_name((uint8_t)op), why);
	}
	assert_int_equal(
		perm_check(&k, &op_caller, 0x05, NULL, why, sizeof(why)),
		-EACCES);
	assert_non_null(strstr(why, "no permission rule"));
	perm_policy_free(k.operator_policy);
}

static void rules_ask_the_documented_capability(void **state)
{
	static const struct {
		uint8_t op;
		const char *needle; /* NULL: allowed */
	} cases[] = {
		{ OP_NOOP, NULL },
		{ OP_HELLO, NULL },
		{ OP_EXIT, NULL },
		{ OP_ASYNC_POLL, NULL },
		{ OP_LIST, NULL },
		{ OP_KILL, NULL },
		{ OP_GET_PERMS, NULL },
		{ OP_SET_PERMS, NULL },
		{ OP_THINK, NULL },
		{ OP_READ, "can_read" },
		{ OP_WRITE, "can_write" },
		{ OP_EXEC, "can_exec" },
		{ OP_SPAWN, "can_spawn" },
		{ OP_HTTP, "can_http" },
		{ OP_RECORD_START, "unrestricted" },
		{ OP_GET_AUDIT_LOG, "unrestricted" },
	};
	struct kernel k = { .operator_policy = policy("minimal") };
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = perm_check(&k, &op_caller, cases[i].op, NULL, why,
				   sizeof(why));
		if (!cases[i].needle) {
			if (r != 0)
				fail_msg("%s refused: %s",
					 proto_opcode_name(cases[i].op), why);
			continue;
		}
		assert_int_equal(r, -EACCES);
		if (!strstr(why, cases[i].needle) ||
		    !strstr(why, proto_opcode_name(cases[i].op)))
			fail_msg("'%s' lacks '%s'", why, cases[i].needle);
	}
	perm_policy_free(k.operator_policy);
}

static void agent_without_policy(void **state)
{
	struct kernel k = { 0 };
	struct caller gone = { .role = ROLE_AGENT, .id = 9, .agent = NULL };
	char why[256];

	assert_int_equal(
		perm_check(&k, &gone, OP_HELLO, NULL, why, sizeof(why)), 0);
	assert_int_equal(perm_check(&k, &gone, OP_READ, NULL, why, sizeof(why)),
			 -EACCES);
	assert_non_null(strstr(why, "no policy"));
}

static void operator_policy_text(void **state)
{
	struct perm_policy *p = NULL;
	struct perm_why why;

	p = policy("");
	assert_true(perm_policy_is_unrestricted(p));
	perm_policy_free(p);
	p = policy("readonly");
	assert_int_equal(perm_policy_level(p), PERM_LEVEL_READONLY);
	perm_policy_free(p);
	p = policy("{\"level\":\"minimal\",\"can_read\":true}");
	assert_true(p->can_read && !p->can_write);
	perm_policy_free(p);
	p = NULL;
	assert_int_equal(perm_operator_policy_new("godmode", &p, &why),
			 -EINVAL);
	assert_non_null(strstr(why.msg, "unknown permission level 'godmode'"));
	assert_int_equal(perm_operator_policy_new("{bad", &p, &why), -EINVAL);
	assert_non_null(strstr(why.msg, "malformed JSON"));
	assert_null(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_named_opcode_has_a_rule),
		cmocka_unit_test(rules_ask_the_documented_capability),
		cmocka_unit_test(agent_without_policy),
		cmocka_unit_test(operator_policy_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
