/* runs_programs: imports execvp, as a program that runs others does (they
 * inherit LD_PRELOAD; tests/inspect.test). */
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 100)
        execvp(argv[1], argv + 1);
    return 0;
}
