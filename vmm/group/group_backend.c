#include "vmm/group/group_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"

const char *group_backend_name(enum group_backend b)
{
	return b == GROUP_BACKEND_KVM ? "kvm" : "qemu";
}

const char *group_tee_name(enum group_tee t)
{
	return t == GROUP_TEE_SNP ? "snp" : "dev";
}

static bool kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A host that is itself a guest (CPUID hypervisor bit, shown as the "hypervisor" cpu flag)
 * gives us nested KVM: purpose-built guests run, a Linux guest crawls. */
static bool host_is_virtualized(void)
{
	uint8_t *info;
	size_t len;
	if (file_read_all("/proc/cpuinfo", 16u << 20, &info, &len, NULL) < 0)
		return false;
	bool nested = false;
	char *line = strstr((char *)info, "\nflags"); /* the first CPU speaks for all */
	if (line) {
		char *end = strchr(line + 1, '\n');
		if (end)
			*end = '\0';
		nested = strstr(line, " hypervisor") != NULL;
	}
	free(info);
	return nested;
}

static bool program_in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	char dir[4096];
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		if (n && n < sizeof(dir) - strlen(name) - 2) {
			snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, p, name);
			if (access(dir, X_OK) == 0)
				return true;
		}
		p += n + (p[n] == ':');
	}
	return false;
}

int group_backend_choose(const char *requested, enum group_backend *out, char *why,
			 size_t why_size, struct errbuf *eb)
{
	bool kvm = kvm_usable(), nested = kvm && host_is_virtualized();
	bool qemu = program_in_path("qemu-system-x86_64");

	if (requested && !strcmp(requested, "kvm")) {
		if (!kvm)
			return errbuf_set(eb, ENODEV, "--backend kvm: /dev/kvm cannot be opened");
		*out = GROUP_BACKEND_KVM;
		snprintf(why, why_size, "backend kvm (requested)%s",
			 nested ? "; this host is itself virtualized, so Linux will boot very slowly" : "");
		return 0;
	}
	if (requested && !strcmp(requested, "qemu")) {
		if (!qemu)
			return errbuf_set(eb, ENODEV,
					  "--backend qemu: qemu-system-x86_64 is not installed");
		*out = GROUP_BACKEND_QEMU;
		snprintf(why, why_size, "backend qemu (requested): QEMU TCG, the development backend");
		return 0;
	}
	if (requested)
		return errbuf_set(eb, EINVAL, "--backend: '%s' is not kvm or qemu", requested);

	if (kvm && !nested) {
		*out = GROUP_BACKEND_KVM;
		snprintf(why, why_size, "backend kvm: /dev/kvm on bare metal (override: --backend qemu)");
		return 0;
	}
	if (!qemu)
		return errbuf_set(eb, ENODEV, "no backend: %s and qemu-system-x86_64 is not installed",
				  kvm ? "KVM here is nested (too slow for Linux)" : "no /dev/kvm");
	*out = GROUP_BACKEND_QEMU;
	snprintf(why, why_size, "backend qemu: %s, so the guest runs under QEMU TCG "
		 "(override: --backend kvm)",
		 kvm ? "this host is itself a VM and its nested KVM runs Linux ~1000x slower"
		     : "/dev/kvm is not available");
	return 0;
}

/* The host can launch SNP guests when the firmware interface is there and KVM lists the SNP
 * VM type; both are absent on every machine without SEV-SNP. */
static bool host_has_snp(void)
{
	uint8_t *v;
	size_t len;
	bool snp = false;
	if (access("/dev/sev", R_OK | W_OK) != 0)
		return false;
	if (file_read_all("/sys/module/kvm_amd/parameters/sev_snp", 16, &v, &len, NULL) == 0) {
		snp = len && (v[0] == 'Y' || v[0] == '1');
		free(v);
	}
	return snp;
}

int group_tee_choose(const char *requested, enum group_backend backend, enum group_tee *out,
		     char *why, size_t why_size, struct errbuf *eb)
{
	bool snp = host_has_snp();
	if (requested && strcmp(requested, "snp") && strcmp(requested, "dev"))
		return errbuf_set(eb, EINVAL, "--tee: '%s' is not snp or dev", requested);
	if (requested && !strcmp(requested, "snp")) {
		if (backend != GROUP_BACKEND_KVM)
			return errbuf_set(eb, ENODEV, "--tee snp needs the kvm backend on an SEV-SNP host");
		if (!snp)
			return errbuf_set(eb, ENODEV, "--tee snp: this host cannot launch SEV-SNP guests "
					  "(no /dev/sev or kvm_amd sev_snp=N)");
		*out = GROUP_TEE_SNP;
		snprintf(why, why_size, "attestation snp (requested)");
		return 0;
	}
	if (!requested && snp && backend == GROUP_BACKEND_KVM) {
		*out = GROUP_TEE_SNP;
		snprintf(why, why_size, "attestation snp: the host launches SEV-SNP guests");
		return 0;
	}
	*out = GROUP_TEE_DEV;
	snprintf(why, why_size,
		 "attestation dev: NO TEE. Reports are signed by a local development key and prove "
		 "nothing about the machine%s",
		 requested ? "" : (snp ? " (SNP needs the kvm backend)" : " (this host has no SEV-SNP)"));
	return 0;
}
