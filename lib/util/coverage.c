/* Coverage builds only (`make coverage` compiles with -DPH_COVERAGE
 * --coverage and links with -Wl,--wrap=_exit). gcov writes its counters from
 * an exit handler, which _exit skips, so the forked children that end with
 * _exit (the replay's per-strategy runs, the socket sink's reader) would
 * count for nothing. The linker sends every call to _exit in the library,
 * the tool and the tests to __wrap__exit, which writes the counters first:
 * the _exit sites themselves need no change. Other builds compile nothing
 * here. */
#ifdef PH_COVERAGE

void __gcov_dump(void);
void __real__exit(int status) __attribute__((noreturn));
void __wrap__exit(int status) __attribute__((noreturn));

void __wrap__exit(int status)
{
    __gcov_dump();
    __real__exit(status); /* LCOV_EXCL_LINE: counted after the counters were written */
}

#else
typedef int ph_coverage_unused; /* a translation unit must declare something */
#endif
