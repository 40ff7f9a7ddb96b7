/* Report JSON (what replay --json and peer --stats-json write, what later
 * tools read back). Properties: reading never crashes; a report that reads
 * writes JSON that reads again, and writing that gives the same bytes (the
 * writer and reader agree on every field). */
#include <string.h>

#include "fuzz.h"
#include "report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static char *write_json(const ph_report *r, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(ph_report_write_json(r, f) == PH_OK);
    FUZZ_CHECK(fclose(f) == 0);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ph_report *r = NULL;
    if (ph_report_read_json(&r, (const char *)data, size) != PH_OK)
        return 0;
    size_t l1, l2;
    char *j1 = write_json(r, &l1);
    ph_report *r2 = NULL;
    FUZZ_CHECK(ph_report_read_json(&r2, j1, l1) == PH_OK);
    char *j2 = write_json(r2, &l2);
    FUZZ_CHECK(l1 == l2 && memcmp(j1, j2, l1) == 0);
    free(j1);
    free(j2);
    ph_report_destroy(r);
    ph_report_destroy(r2);
    return 0;
}
