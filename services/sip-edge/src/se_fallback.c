/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks for the resync NOTIFY (se_fallback.h). The Event value was validated by the gateway
 * when it compiled its settings, but Redis is shared: what goes into a header is checked again
 * here, so a stray field can never inject header text.
 */
#include "se_fallback.h"

#include <string.h>

static bool token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-.!%*_+`'~", c) != NULL;
}

bool se_fallback_event_valid(const char *ev)
{
	size_t n = ev ? strlen(ev) : 0;
	bool want_token = true;

	if (n == 0 || n > SE_FALLBACK_EVENT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (token_char(ev[i]))
			want_token = false;
		else if ((ev[i] == ';' || ev[i] == '=') && !want_token)
			want_token = true;
		else
			return false;
	}
	return !want_token;
}

bool se_fallback_retryable(int status)
{
	return status == 408 || status == 430 || (status >= 500 && status < 600);
}
