/* SPDX-License-Identifier: MIT */
/*
 * Request field validation: each validator accepts the right type and range,
 * leaves the default in place when the field is absent or null, and names
 * the field when it refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jsonreq.h"

static json_t *parse(const char *text)
{
	json_t *o = json_loads(text, JSON_ALLOW_NUL, NULL);
	assert_non_null(o);
	return o;
}

static void strings(void **state)
{
	json_t *o = parse("{\"a\": \"x\", \"n\": 5, \"z\": null, \"nul\": \"a\\u0000b\"}");
	struct jr_err err;
	const char *s = "default";

	assert_int_equal(jr_string(o, "a", true, &s, &err), 0);
	assert_string_equal(s, "x");
	s = "default";
	assert_int_equal(jr_string(o, "missing", false, &s, &err), 0);
	assert_string_equal(s, "default");
	assert_int_equal(jr_string(o, "z", false, &s, &err), 0);
	assert_string_equal(s, "default");
	assert_int_equal(jr_string(o, "missing", true, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "missing"));
	assert_int_equal(jr_string(o, "n", false, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'n'"));
	assert_int_equal(jr_string(o, "nul", false, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NUL"));
	json_decref(o);
}

static void integers_and_numbers(void **state)
{
	json_t *o = parse("{\"i\": 7, \"big\": 99999, \"f\": 1.5, \"s\": \"7\", \"neg\": -1}");
	struct jr_err err;
	int64_t i = 3;
	double d = 0;

	assert_int_equal(jr_int(o, "i", true, 0, 10, &i, &err), 0);
	assert_int_equal(i, 7);
	assert_int_equal(jr_int(o, "big", true, 0, 10, &i, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "between 0 and 10"));
	assert_int_equal(i, 7);
	assert_int_equal(jr_int(o, "f", true, 0, 10, &i, &err), -EINVAL);
	assert_int_equal(jr_int(o, "s", true, 0, 10, &i, &err), -EINVAL);
	assert_int_equal(jr_int(o, "neg", true, 0, 10, &i, &err), -EINVAL);
	assert_int_equal(jr_number(o, "f", true, 0, 10, &d, &err), 0);
	assert_true(d == 1.5);
	assert_int_equal(jr_number(o, "i", true, 0, 10, &d, &err), 0);
	assert_true(d == 7.0);
	assert_int_equal(jr_number(o, "big", true, 0, 10, &d, &err), -EINVAL);
	json_decref(o);
}

static void booleans_and_enums(void **state)
{
	json_t *o = parse("{\"b\": true, \"n\": 1, \"e\": \"always\", \"bad\": \"sometimes\"}");
	static const char *const names[] = { "never", "always", "on-failure", NULL };
	struct jr_err err;
	bool b = false;
	int e = 0;

	assert_int_equal(jr_bool(o, "b", &b, &err), 0);
	assert_true(b);
	assert_int_equal(jr_bool(o, "n", &b, &err), -EINVAL);
	assert_int_equal(jr_enum(o, "e", names, &e, &err), 0);
	assert_int_equal(e, 1);
	assert_int_equal(jr_enum(o, "bad", names, &e, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "never, always, on-failure"));
	assert_int_equal(e, 1);
	json_decref(o);
}

static void arrays_and_maps(void **state)
{
	json_t *o = parse("{\"argv\": [\"a\", \"b\"], \"mixed\": [\"a\", 1], "
			  "\"env\": {\"K\": \"V\"}, \"badenv\": {\"K\": 2}, \"obj\": {}}");
	struct jr_err err;
	json_t *v = NULL;

	assert_int_equal(jr_string_array(o, "argv", true, 8, &v, &err), 0);
	assert_int_equal(json_array_size(v), 2);
	assert_int_equal(jr_string_array(o, "argv", true, 1, &v, &err), -EINVAL);
	assert_int_equal(jr_string_array(o, "mixed", true, 8, &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "item 1"));
	assert_int_equal(jr_string_array(o, "env", true, 8, &v, &err), -EINVAL);
	v = NULL;
	assert_int_equal(jr_string_map(o, "env", 8, &v, &err), 0);
	assert_non_null(v);
	assert_int_equal(jr_string_map(o, "badenv", 8, &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "badenv.K"));
	assert_int_equal(jr_object(o, "obj", &v, &err), 0);
	assert_int_equal(jr_object(o, "argv", &v, &err), -EINVAL);
	json_decref(o);
}

static void id_or_name(void **state)
{
	struct jr_err err;
	int64_t id = -1;
	const char *name = "unset";

	json_t *o = parse("{\"id\": 7}");
	assert_int_equal(jr_id_or_name(o, "id", "name", &id, &name, &err), 0);
	assert_int_equal(id, 7);
	assert_null(name);
	json_decref(o);

	o = parse("{\"to_name\": \"w\"}");
	assert_int_equal(jr_id_or_name(o, "to", "to_name", &id, &name, &err), 0);
	assert_int_equal(id, 0);
	assert_string_equal(name, "w");
	json_decref(o);

	o = parse("{\"id\": 7, \"name\": \"w\"}");
	assert_int_equal(jr_id_or_name(o, "id", "name", &id, &name, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "exactly one of 'id' or 'name'"));
	json_decref(o);

	o = parse("{}");
	assert_int_equal(jr_id_or_name(o, "id", "name", &id, &name, &err), -EINVAL);
	json_decref(o);

	o = parse("{\"id\": 0}");
	assert_int_equal(jr_id_or_name(o, "id", "name", &id, &name, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'id'"));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strings),
		cmocka_unit_test(integers_and_numbers),
		cmocka_unit_test(booleans_and_enums),
		cmocka_unit_test(arrays_and_maps),
		cmocka_unit_test(id_or_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
