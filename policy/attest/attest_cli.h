#ifndef PARMA_ATTEST_CLI_H
#define PARMA_ATTEST_CLI_H

/* `parma verify` and `parma report` (show, dev signer). */
int verify_cli_main(int argc, char **argv);
int report_cli_main(int argc, char **argv);

#endif
