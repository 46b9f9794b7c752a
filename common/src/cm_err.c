/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The domain error table (cm/err.h) turned into lookups.
 */
#include <errno.h>

#include "cm/err.h"

struct err_row {
	int http, sip;
	const char *type, *title;
};

static const struct err_row rows[] = {
#define ROW_(name, http, sip, type, title) {http, sip, type, title},
    CM_ERROR_LIST(ROW_)
#undef ROW_
};

static const struct err_row *row(int err)
{
	if (err > CM_E_BASE_ && err < CM_E_END_)
		return &rows[err - CM_E_BASE_ - 1];
	if (err == -ENOMEM || err == -EAGAIN || err == -ENOTCONN)
		return &rows[CM_E_UNAVAILABLE - CM_E_BASE_ - 1];
	return &rows[CM_E_INTERNAL - CM_E_BASE_ - 1];
}

int cm_err_http_status(int err)
{
	return row(err)->http;
}

int cm_err_sip_status(int err)
{
	return row(err)->sip;
}

const char *cm_err_type(int err)
{
	return row(err)->type;
}

const char *cm_err_title(int err)
{
	return row(err)->title;
}
