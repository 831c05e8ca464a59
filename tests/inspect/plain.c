/* plain: a program that uses no TLS, loads no library and runs no other
 * program. Built dynamically and statically by tests/inspect.test; with
 * -DGO_BUILD_ID it carries the section the Go toolchain writes, as a
 * stand-in for a Go program. */
#ifdef GO_BUILD_ID
__attribute__((used, section(".note.go.buildid"))) static const char go_build_id[] = "tlsclose-test";
#endif

int main(void)
{
    return 0;
}
