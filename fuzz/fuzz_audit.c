/* A line of an audit file (DATA/audit/audit-….jsonl), as `recd audit` reads it: whatever is on disk,
 * where anyone with access to the data folder may have written. A line read as a record must
 * come out of the writer's format the same, and read again to the same record. */
#include "core/buf.h"
#include "service/audit.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recd_audit_entry e, again;
    if (recd_audit_parse((const char *)data, size, &e) < 0)
        return 0;
    if (e.event == RECD_AUDIT_NONE || strlen(e.path) > RECD_AUDIT_PATH_MAX || e.status < 0 || e.status > 999)
        __builtin_trap();
    struct recd_buf b;
    recd_buf_init(&b, 0);
    recd_audit_format(&e, &b);
    if (b.len == 0 || b.p[b.len - 1] != '\n' || recd_audit_parse(b.p, b.len - 1, &again) < 0)
        __builtin_trap();
    /* Printable fields survive the round trip unchanged; others become '?' once, then stay. */
    if (again.time_us != e.time_us || again.event != e.event || again.cred != e.cred ||
        again.result != e.result || strcmp(again.account_sid, e.account_sid) != 0 ||
        strcmp(again.principal, e.principal) != 0 || strcmp(again.recording_sid, e.recording_sid) != 0 ||
        again.status != e.status || strlen(again.path) != strlen(e.path))
        __builtin_trap();
    recd_buf_free(&b);
    return 0;
}
