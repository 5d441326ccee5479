#ifndef PARMA_MEASURE_CLI_H
#define PARMA_MEASURE_CLI_H

/* `parma measure`: expected SNP launch MEASUREMENT. */
int measure_cli_main(int argc, char **argv);

#endif
