/* An in-process stand-in for the part of Criterion the unit tests use
 * (Test, TestSuite with .init/.fini, cr_assert*, cr_log_info), for
 * ThreadSanitizer builds only: Criterion's sandbox (BoxFort) maps its
 * arena at fixed addresses that TSan refuses, so a Criterion binary built
 * with -fsanitize=thread aborts before its first test (Criterion #274).
 * Put this directory first on the include path; the test files stay
 * unchanged. Tests run one after another in one process, in the order
 * they are defined; the first failed assertion exits 1. A bare argument
 * runs only the tests whose name contains it. */
#ifndef PARLEY_CRITERION_TSAN_SHIM_H
#define PARLEY_CRITERION_TSAN_SHIM_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct crs_suite {
	void (*init)(void);
	void (*fini)(void);
};

struct crs_test {
	const char *suite, *name;
	void (*fn)(void);
	const struct crs_suite *s; /* NULL when the file has no TestSuite */
	struct crs_test *next;
};

static struct crs_test *crs_head, **crs_tail = &crs_head;

#define TestSuite(s, ...) struct crs_suite crs_suite_##s = { __VA_ARGS__ }

#define Test(s, n, ...)                                                                  \
	extern struct crs_suite crs_suite_##s __attribute__((weak));                     \
	static void s##_##n##_impl(void);                                                \
	static struct crs_test crs_t_##s##_##n = { #s, #n, s##_##n##_impl, &crs_suite_##s, \
						   NULL };                                \
	__attribute__((constructor)) static void crs_reg_##s##_##n(void)                 \
	{                                                                                \
		*crs_tail = &crs_t_##s##_##n;                                            \
		crs_tail = &crs_t_##s##_##n.next;                                        \
	}                                                                                \
	static void s##_##n##_impl(void)

static inline void crs_check(int ok, const char *expr, const char *file, int line,
			     const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	fprintf(stderr, "%s:%d: assertion failed: %s\n  ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

#define cr_assert(c, ...) crs_check(!!(c), #c, __FILE__, __LINE__, "" __VA_ARGS__)
#define cr_assert_not(c, ...) cr_assert(!(c), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_log_info(...) (printf("[----] " __VA_ARGS__), putchar('\n'))

int main(int argc, char **argv)
{
	const char *only = NULL; /* a bare argument: run the tests whose name has it */
	int n = 0;

	/* Criterion's options (--jobs 1, ...) are accepted and ignored. */
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			only = argv[i];
	for (struct crs_test *t = crs_head; t; t = t->next) {
		if (only && !strstr(t->name, only))
			continue;
		n++;
		printf("[RUN ] %s::%s\n", t->suite, t->name);
		fflush(stdout);
		if (t->s && t->s->init)
			t->s->init();
		t->fn();
		if (t->s && t->s->fini)
			t->s->fini();
		printf("[PASS] %s::%s\n", t->suite, t->name);
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: 0 | Crashing: 0\n", n, n);
	return 0;
}

#endif
