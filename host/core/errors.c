#include "core/errors.h"

#include <uv.h>

#include <agentd/abi.h>

int host_err_from_uv(int uverr)
{
    switch (uverr) {
    case 0: return 0;
    case UV_EINVAL: return AGENTD_EINVAL;
    case UV_ENOMEM: return AGENTD_ENOMEM;
    case UV_ENOTSUP: case UV_ENOSYS: return AGENTD_ENOTSUP;
    case UV_ENOENT: case UV_ESRCH: return AGENTD_ENOENT;
    case UV_EEXIST: case UV_EADDRINUSE: return AGENTD_EEXIST;
    case UV_EBUSY: return AGENTD_EBUSY;
    case UV_ETIMEDOUT: return AGENTD_ETIMEDOUT;
    case UV_ECANCELED: return AGENTD_ECANCELED;
    case UV_EACCES: case UV_EPERM: return AGENTD_EPERM;
    case UV_EAGAIN: return AGENTD_EAGAIN;
    case UV_EPIPE: case UV_EBADF: case UV_ENOTCONN: case UV_ECONNRESET: return AGENTD_ECLOSED;
    case UV_EOF: return AGENTD_EOF;
    case UV_ECONNREFUSED: case UV_EHOSTUNREACH: case UV_ENETUNREACH: return AGENTD_EUNAVAIL;
    default: return AGENTD_EIO;
    }
}
