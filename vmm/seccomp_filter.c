/* seccomp_filter: building and loading the per-role filters, and the SIGSYS report. */
#include "vmm/seccomp_filter.h"

#include <errno.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define SYSCALL_NAMES 512

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Filled before the first filter is loaded: the handler may not allocate or resolve. */
static const char *syscall_name[SYSCALL_NAMES];
static _Thread_local const char *thread_label;

bool seccomp_filter_sanitized(void)
{
	return SANITIZED;
}

/* ---- the SIGSYS report (async-signal-safe: fixed buffers, write, exit_group) ---- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (s && *s && at < cap)
		buf[at++] = *s++;
	return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, unsigned long v, unsigned base)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && n < sizeof(tmp));
	if (base == 16)
		at = put_str(buf, at, cap, "0x");
	while (n && at < cap)
		buf[at++] = tmp[--n];
	return at;
}

/* The argument the lists restrict, named in the report. */
static const struct {
	int nr;
	const char *label;
	int reg;
	unsigned base;
} reported_args[] = {
	{ SYS_ioctl, ", request ", REG_RSI, 16 },
	{ SYS_socket, ", family ", REG_RDI, 10 },
	{ SYS_io_uring_register, ", opcode ", REG_RSI, 10 },
};

static void on_sigsys(int sig, siginfo_t *si, void *uc_void)
{
	(void)sig;
	char line[256];
	size_t n = 0, cap = sizeof(line) - 1;
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < SYSCALL_NAMES ? syscall_name[nr] : NULL;
	n = put_str(line, n, cap, "parma: seccomp: the ");
	n = put_str(line, n, cap, thread_label ? thread_label : "unfiltered");
	n = put_str(line, n, cap, " thread made system call ");
	n = put_str(line, n, cap, name ? name : "?");
	n = put_str(line, n, cap, " (");
	n = put_num(line, n, cap, (unsigned long)nr, 10);
	for (size_t i = 0; i < sizeof(reported_args) / sizeof(reported_args[0]); i++) {
		if (reported_args[i].nr != nr)
			continue;
		ucontext_t *uc = uc_void;
		n = put_str(line, n, cap, reported_args[i].label);
		n = put_num(line, n, cap,
			    (unsigned long)uc->uc_mcontext.gregs[reported_args[i].reg] & 0xffffffffu,
			    reported_args[i].base);
	}
	n = put_str(line, n, cap, "), which its filter does not allow: stopping the VMM "
				  "(see docs/security.md; --seccomp=off to debug)\n");
	line[n] = '\0';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	syscall(SYS_exit_group, SECCOMP_FILTER_EXIT);
}

static int handler_errno;

static void names_and_handler(void)
{
	for (int nr = 0; nr < SYSCALL_NAMES; nr++)
		syscall_name[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		handler_errno = errno;
}

/* vCPU threads and the loop thread may install their filters at the same time. */
static int names_and_handler_once(struct errbuf *eb)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, names_and_handler);
	if (handler_errno)
		return errbuf_set(eb, handler_errno, "seccomp: SIGSYS handler: %s",
				  strerror(handler_errno));
	return 0;
}

/* ---- building the filter ---- */

static int add_table(scmp_filter_ctx ctx, const struct seccomp_role_table *t, struct errbuf *eb)
{
	for (size_t i = 0; i < t->n_rules; i++) {
		const struct seccomp_rule *r = &t->rules[i];
		int nr = seccomp_syscall_resolve_name(r->syscall);
		int rc = 0;
		if (nr == __NR_SCMP_ERROR)
			return errbuf_set(eb, EINVAL, "seccomp: %s list: unknown system call '%s'",
					  t->name, r->syscall);
		if (!r->values) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		} else {
			for (size_t k = 0; k < r->n_values && (rc == 0 || rc == -EEXIST); k++) {
				struct scmp_arg_cmp cmp = { .arg = r->arg, .op = SCMP_CMP_MASKED_EQ,
							    .datum_a = 0xffffffffu,
							    .datum_b = r->values[k] };
				rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
			}
		}
		if (rc < 0 && rc != -EEXIST)
			return errbuf_set(eb, -rc, "seccomp: %s list: %s: %s", t->name, r->syscall,
					  strerror(-rc));
	}
	return 0;
}

int seccomp_filter_install(unsigned roles, const char *label, struct errbuf *eb)
{
	int rc = names_and_handler_once(eb);
	if (rc < 0)
		return rc;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return errbuf_set(eb, ENOMEM, "seccomp: cannot create a filter");
	for (unsigned r = 0; r < SECCOMP_ROLE_COUNT && rc == 0; r++)
		if (roles & (1u << r))
			rc = add_table(ctx, seccomp_role_table((enum seccomp_role)r), eb);
	if (rc == 0 && SANITIZED)
		rc = add_table(ctx, seccomp_sanitizer_table(), eb);
	if (rc == 0) {
		/* A thread that blocks SIGSYS would be killed without the report. */
		sigset_t sys;
		sigemptyset(&sys);
		sigaddset(&sys, SIGSYS);
		pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
		thread_label = label;
		rc = seccomp_load(ctx);
		if (rc < 0)
			errbuf_set(eb, -rc, "seccomp: loading the %s filter: %s", label, strerror(-rc));
	}
	seccomp_release(ctx);
	return rc;
}
