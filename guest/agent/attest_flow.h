/* attest_flow: the attestation jobs of parma-agent. A job obtains one report (SNP hardware, or
 * the host's development signer over the protocol) for someone: the policy install that
 * depends on it, a host get_report, or a workload on the attestation socket in the
 * security-context directory. Runtime facts only: pending jobs, socket fds, the evidence of
 * the install (its report, the certificates that came with reports). */
#ifndef PARMA_GUEST_AGENT_ATTEST_FLOW_H
#define PARMA_GUEST_AGENT_ATTEST_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "guest/agent/effects.h"

struct agent_server;
struct json_object;
struct pollfd;

#define AGENT_MAX_JOBS 64
#define AGENT_MAX_ATTEST_CONNS 16

enum agent_tee { AGENT_TEE_UNKNOWN = -1, AGENT_TEE_NONE = 0, AGENT_TEE_SNP = 1 };

/* Who a report is for. */
enum agent_job_kind { JOB_INSTALL, JOB_HOST_REPORT, JOB_WORKLOAD };

struct agent_job {
	enum agent_job_kind kind;
	uint32_t host_req;  /* the host's request to answer (INSTALL, HOST_REPORT) */
	uint32_t dev_req;   /* our dev_report request to the host, when waiting for it */
	int conn_fd;        /* WORKLOAD: the container's connection */
	uint8_t report_data[AGENT_REPORT_DATA_SIZE];
	uint8_t *policy;    /* INSTALL: the candidate policy bytes */
	size_t policy_len;
	struct agent_job *next;
};

/* A workload connection still sending its REPORT_DATA. */
struct attest_conn {
	int fd;
	uint8_t buf[AGENT_REPORT_DATA_SIZE];
	size_t got;
};

struct agent_attest {
	enum agent_tee tee;
	uint8_t install_report[AGENT_REPORT_SIZE]; /* the report the install was checked against */
	char *certs_json; /* certificates that came with reports (dev mode), JSON text */
	struct agent_job *jobs;
	size_t n_jobs;
	uint32_t next_host_req;
	int listen_fd; /* the workloads' attestation socket, once a policy is installed */
	struct attest_conn conns[AGENT_MAX_ATTEST_CONNS];
	size_t n_conns;
};

void attest_init(struct agent_attest *a);
void attest_free(struct agent_attest *a);
const char *attest_tee_name(const struct agent_attest *a);
/* HOST_DATA of the report the installed policy was checked against. */
const uint8_t *attest_install_host_data(const struct agent_attest *a);
bool attest_install_pending(const struct agent_attest *a);

/* install_policy's first step: a fresh report binding the candidate policy (taken over on
 * success); the engine decides once it is here. 0 or a negative errno (nothing started). */
int attest_install_begin(struct agent_server *s, uint32_t host_req, uint8_t *policy,
			 size_t len);
/* get_report: a report for the host's REPORT_DATA, answered when it arrives. */
int attest_host_report(struct agent_server *s, uint32_t host_req,
		       const uint8_t report_data[AGENT_REPORT_DATA_SIZE]);
/* The host answered one of our requests (dev_report). */
void attest_host_answer(struct agent_server *s, uint32_t id, struct json_object *answer);
/* The host connection is being replaced: fail jobs waiting for its dev_report answers. */
void attest_host_gone(struct agent_server *s);

size_t attest_pollfds(const struct agent_attest *a, struct pollfd *pfd, size_t max);
void attest_handle(struct agent_server *s, struct pollfd *pfd, size_t n);

/* The security-context directory shared (read-only) with every container. */
void security_context_dir(const struct agent_server *s, char *out, size_t size);
/* Publish a loaded policy fragment (the COSE_Sign1 document as verified) in the security
 * context, fragments/<SHA-256 of the document>.cose, for the workloads to present. */
int security_context_add_fragment(struct agent_server *s, const uint8_t *doc, size_t len,
				  struct errbuf *eb);

#endif
