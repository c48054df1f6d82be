/*
 * The retry policy for engine requests: which failures are transient (the
 * engine restarting, a 5xx, a refused or dropped connection) and how long
 * to wait before the next attempt (exponential backoff with jitter).
 * Pure functions: no I/O, no state; unit-tested without an engine.
 */
#ifndef DK_RETRY_H
#define DK_RETRY_H

#include <stdint.h>

#define DK_RETRY_CAP_MS 30000u /* no single wait is longer than this */

/* curl_code: the CURLcode of the transfer (0 when it completed);
 * http_status: the HTTP status (0 when no response came). Non-zero when
 * trying again may succeed. */
int dk_retry_transient(int curl_code, long http_status);

/* The wait before retry number `attempt` (0 for the first retry):
 * base_ms * 2^attempt capped at DK_RETRY_CAP_MS, then "equal jitter": half
 * of it fixed, the other half scaled by rnd (0..UINT32_MAX), so engines
 * restarting under many clients are not hit in lockstep. */
uint32_t dk_retry_delay_ms(unsigned attempt, uint32_t base_ms, uint32_t rnd);

#endif
