#include "core/error.h"

#include <errno.h>
#include <stddef.h>

struct err_row {
    const char *name;
    int status;
    int code;
    const char *msg;
};

static const struct err_row rows[] = {
#define RECD_ERR_ROW(name, status, code, msg) {#name, status, code, msg},
    RECD_ERROR_MAP(RECD_ERR_ROW)
#undef RECD_ERR_ROW
};

static const struct err_row *row_of(int e)
{
    if (e <= RECD_E_FIRST_ || e >= RECD_E_LAST_)
        return NULL;
    return &rows[e - RECD_E_FIRST_ - 1];
}

int recd_err_status(int e)
{
    const struct err_row *r = row_of(e);
    return r ? r->status : 500;
}

int recd_err_code(int e)
{
    const struct err_row *r = row_of(e);
    return r ? r->code : 20500;
}

const char *recd_err_template(int e)
{
    const struct err_row *r = row_of(e);
    return r ? r->msg : "Internal server error%s";
}

const char *recd_err_name(int e)
{
    const struct err_row *r = row_of(e);
    return r ? r->name : "UNKNOWN";
}

int recd_err_from_errno(int err)
{
    return (err == ENOSPC || err == EDQUOT) ? RECD_E_NO_SPACE : RECD_E_IO;
}
