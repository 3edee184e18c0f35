/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for permission policies as SPAWN and SET_PERMS receive them:
 * the input is parsed as JSON and then as a policy. Whatever parses must
 * survive the JSON round trip unchanged, be within itself and within the
 * unrestricted level, and inherit from itself without change; whatever is
 * refused must say why. Built with libFuzzer when -Dfuzzing=true; otherwise
 * a replay main() runs the saved corpus as an ordinary test.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "perm-policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_policy(struct perm_policy *p)
{
	struct perm_policy *q = NULL, *u = NULL, *c = NULL;
	struct perm_why why;
	json_t *j = perm_policy_to_json(p);

	assert(j);
	assert(perm_policy_from_json(j, &q, &why) == 0);
	assert(perm_policy_equal(p, q));
	assert(perm_policy_within(p, p, NULL, "own", &why) == 0);
	assert(perm_policy_new_level(PERM_LEVEL_UNRESTRICTED, &u) == 0);
	assert(perm_policy_within(p, u, NULL, "u", &why) == 0);
	assert(perm_policy_copy(p, &c) == 0);
	assert(perm_policy_inherit(c, p) == 0);
	assert(perm_policy_equal(p, c));
	json_decref(j);
	perm_policy_free(q);
	perm_policy_free(u);
	perm_policy_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = json_loadb((const char *)data, size,
			       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	struct perm_policy *p = NULL;
	struct perm_why why = { "" };

	if (!v)
		return 0;
	int r = perm_policy_from_json(v, &p, &why);
	if (r == 0)
		check_policy(p);
	else
		assert(r == -EINVAL && why.msg[0] && !p);
	perm_policy_free(p);
	json_decref(v);
	return 0;
}
