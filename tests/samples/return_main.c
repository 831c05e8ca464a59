/* return_main: return from main with the connection still open (the same
 * exit path as exit(0), reached the way most programs reach it). */
#include "sample.h"

int main(int argc, char **argv)
{
	struct sample s;

	sample_init(argc, argv);
	sample_connect(&s);
	sample_done("returning");
	return 0;
}
