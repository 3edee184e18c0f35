/* SPDX-License-Identifier: MIT */
/*
 * Replay driver: runs a fuzz target over every file named on the command
 * line (or in the directories named), so saved inputs are regression tests
 * without libFuzzer. Prints TAP.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, int n)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("not ok %d - %s: cannot open\n", n, path);
		return 1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		if (got == 0)
			break;
		len += got;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	printf("ok %d - %s\n", n, path);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0, failed = 0;
	char path[4096];

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			struct dirent **list;
			int count = scandir(argv[i], &list, NULL, alphasort);
			for (int j = 0; j < count; j++) {
				if (list[j]->d_name[0] != '.') {
					snprintf(path, sizeof(path), "%s/%s", argv[i], list[j]->d_name);
					failed |= run_file(path, ++n);
				}
				free(list[j]);
			}
			free(list);
		} else {
			failed |= run_file(argv[i], ++n);
		}
	}
	printf("1..%d\n", n);
	return failed;
}
