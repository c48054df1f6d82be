/* Which engine failures are worth another attempt, and when. */
#include "retry.h"

#include <curl/curl.h>

int dk_retry_transient(int curl_code, long http_status)
{
    switch (curl_code) {
    case CURLE_OK:
        /* 5xx: the engine is restarting or overloaded. 4xx is the request's
         * own fault and never changes on a retry. */
        return http_status >= 500 && http_status <= 599;
    case CURLE_COULDNT_CONNECT:  /* refused, or the socket file is missing */
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:      /* the engine closed without answering */
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

uint32_t dk_retry_delay_ms(unsigned attempt, uint32_t base_ms, uint32_t rnd)
{
    uint64_t d = base_ms;
    for (unsigned i = 0; i < attempt && d < DK_RETRY_CAP_MS; i++)
        d *= 2;
    if (d > DK_RETRY_CAP_MS)
        d = DK_RETRY_CAP_MS;
    uint64_t half = d / 2;
    return (uint32_t)(half + (half * (uint64_t)rnd) / UINT32_MAX);
}
