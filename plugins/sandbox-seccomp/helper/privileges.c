/* Identity and privileges (privileges.h). */
#define _GNU_SOURCE
#include "privileges.h"

#include "fail.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

void sbx_priv_become(uid_t uid, gid_t gid)
{
    /* Our uid before this is the (unmapped) host one, not the namespace's
     * root, so the kernel keeps our capabilities across the switch; they
     * are dropped explicitly in sbx_priv_drop_all. */
    if (setresgid(gid, gid, gid) < 0)
        sbx_die_errno("identity", "setresgid(%u)", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        sbx_die_errno("identity", "setresuid(%u)", (unsigned)uid);
}

static void drop_bounding_set(void)
{
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                return; /* past the last capability this kernel knows */
            sbx_die_errno("capabilities", "drop %d from the bounding set", cap);
        }
    }
}

void sbx_priv_drop_all(void)
{
    drop_bounding_set();
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        sbx_die_errno("capabilities", "clear the ambient set");
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                         SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        sbx_die_errno("capabilities", "lock the securebits");
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0)
        sbx_die_errno("capabilities", "capset(0)");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        sbx_die_errno("no_new_privs", "prctl(PR_SET_NO_NEW_PRIVS)");
}
