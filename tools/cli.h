/* Shared by the CLI's command files (tools/cmd_*.c); the CLI is a thin layer
 * over include/genrt.h. Each command returns the process exit status:
 * 0 success, 1 runtime failure, 2 usage error. */
#ifndef GRT_CLI_H
#define GRT_CLI_H

int cmd_tokenize(int argc, char **argv);   /* tools/cmd_tokenize.c */
int cmd_detokenize(int argc, char **argv); /* tools/cmd_tokenize.c */
int cmd_convert(int argc, char **argv);    /* tools/cmd_convert.c */

#endif
