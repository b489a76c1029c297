/*
 * krill-pause: the process that holds a pod's namespaces.
 *
 * It does nothing but wait: the network, IPC and UTS namespaces live as long
 * as some process is inside them, and the pause container is that process.
 * When the pod shares its PID namespace, pause is PID 1 there and must reap
 * the zombies that orphaned container processes leave behind.
 * SIGINT and SIGTERM end it (runc's stop path); it never exits on its own.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { _exit(0); }

static void on_child(int sig)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		printf("krill-pause 1.0\n");
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	for (;;)
		pause();
	return 1;
}
