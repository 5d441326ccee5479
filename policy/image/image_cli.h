#ifndef PARMA_IMAGE_CLI_H
#define PARMA_IMAGE_CLI_H

/* `parma image convert|inspect ...` */
int image_cli_main(int argc, char **argv);
/* `parma policy gen GROUP.json` (registered in the policy table in vmm/main.c) */
int policy_gen_cli_main(int argc, char **argv);
/* --threads N (1..64) of `image convert` and `policy gen`: a cli_opt parse function. */
int image_cli_parse_threads(const char *prog, char *value, void *dest);

#endif
