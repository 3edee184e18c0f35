/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the restart arithmetic (kernel/restart.c): exponential
 * backoff with its cap, and the budget of restarts per sliding window,
 * including the ring wrapping around and restarts ageing out of the window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "restart.h"

static void test_delay_doubles(void **state)
{
	(void)state;
	assert_int_equal(restart_delay_ms(500, 1), 500);
	assert_int_equal(restart_delay_ms(500, 2), 1000);
	assert_int_equal(restart_delay_ms(500, 3), 2000);
	assert_int_equal(restart_delay_ms(500, 6), 16000);
	/* n = 0 is treated as the first restart. */
	assert_int_equal(restart_delay_ms(10, 0), 10);
}

static void test_delay_capped(void **state)
{
	(void)state;
	assert_int_equal(restart_delay_ms(500, 7), RESTART_MAX_DELAY_MS);
	assert_int_equal(restart_delay_ms(500, 1000), RESTART_MAX_DELAY_MS);
	assert_int_equal(restart_delay_ms(500, UINT32_MAX),
			 RESTART_MAX_DELAY_MS);
	/* A backoff above the cap is capped from the first restart. */
	assert_int_equal(restart_delay_ms(60000, 1), RESTART_MAX_DELAY_MS);
	assert_int_equal(restart_delay_ms(0, 5), 0);
}

static void test_budget_zero(void **state)
{
	struct restart_budget b;

	(void)state;
	assert_int_equal(restart_budget_init(&b, 0, 1000), 0);
	assert_false(restart_budget_allows(&b, 5));
	restart_budget_record(&b, 5);
	assert_int_equal(restart_budget_recent(&b, 5), 0);
	restart_budget_done(&b);
}

static void test_budget_fills(void **state)
{
	struct restart_budget b;

	(void)state;
	assert_int_equal(restart_budget_init(&b, 3, 10000), 0);
	for (uint64_t t = 100; t < 400; t += 100) {
		assert_true(restart_budget_allows(&b, t));
		restart_budget_record(&b, t);
	}
	assert_int_equal(restart_budget_recent(&b, 400), 3);
	/* A fourth restart inside the window is one too many. */
	assert_false(restart_budget_allows(&b, 400));
	assert_false(restart_budget_allows(&b, 10099));
	/* Once the oldest ages out, there is room again. */
	assert_true(restart_budget_allows(&b, 10100));
	assert_int_equal(restart_budget_recent(&b, 10100), 2);
	restart_budget_done(&b);
}

static void test_budget_wraps(void **state)
{
	struct restart_budget b;

	(void)state;
	assert_int_equal(restart_budget_init(&b, 2, 1000), 0);
	/* Restarts spaced wider than the window never exhaust the budget. */
	for (uint64_t t = 0; t < 20000; t += 600) {
		assert_true(restart_budget_allows(&b, t));
		restart_budget_record(&b, t);
		assert_true(restart_budget_recent(&b, t) <= 2);
	}
	/* Then a burst: the ring holds the newest two. */
	restart_budget_record(&b, 30000);
	restart_budget_record(&b, 30001);
	assert_int_equal(restart_budget_recent(&b, 30002), 2);
	assert_false(restart_budget_allows(&b, 30002));
	assert_true(restart_budget_allows(&b, 31000));
	assert_int_equal(restart_budget_recent(&b, 31000), 1);
	assert_int_equal(restart_budget_recent(&b, 40000), 0);
	restart_budget_done(&b);
}

static void test_budget_done_twice(void **state)
{
	struct restart_budget b = { 0 };

	(void)state;
	restart_budget_done(&b);
	restart_budget_done(NULL);
	assert_int_equal(restart_budget_init(&b, 1000, 300000), 0);
	restart_budget_done(&b);
	restart_budget_done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_doubles),
		cmocka_unit_test(test_delay_capped),
		cmocka_unit_test(test_budget_zero),
		cmocka_unit_test(test_budget_fills),
		cmocka_unit_test(test_budget_wraps),
		cmocka_unit_test(test_budget_done_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
