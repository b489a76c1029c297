/*
 * nonewprivs: entrypoint of the NoNewPrivs test image.
 *
 * Installed setuid root. Run as uid 1000, it reports its effective uid:
 * 0 when the kernel honoured the setuid bit, 1000 when no_new_privs
 * stopped the escalation. The critest spec compares this exact line.
 */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("Effective uid: %d\n", (int)geteuid());
	return 0;
}
