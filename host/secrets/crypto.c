#include "secrets/crypto.h"
#include "core/hex.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <agentd/abi.h>

void sec_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void sec_wipe_free(void *p, size_t n)
{
    sec_wipe(p, n);
    free(p);
}

int sec_random(void *buf, size_t len)
{
    if (len > INT_MAX)
        return AGENTD_EINVAL;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : AGENTD_EIO;
}

int sec_seal(const uint8_t key[SEC_KEY_LEN], const void *aad, size_t aad_len, const void *pt,
             size_t pt_len, uint8_t nonce[SEC_NONCE_LEN], uint8_t *out)
{
    if (pt_len > INT_MAX / 2 || aad_len > INT_MAX / 2)
        return AGENTD_EINVAL;
    if (sec_random(nonce, SEC_NONCE_LEN) != 0)
        return AGENTD_EIO;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return AGENTD_EIO;
    int ok = 0, n = 0, fin = 0;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEC_NONCE_LEN, NULL) == 1 &&
        EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) == 1 &&
        (aad_len == 0 || EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1) &&
        (pt_len == 0 || EVP_EncryptUpdate(c, out, &n, pt, (int)pt_len) == 1) &&
        EVP_EncryptFinal_ex(c, out + (pt_len == 0 ? 0 : (size_t)n), &fin) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEC_TAG_LEN, out + pt_len) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(c); /* frees and cleanses the key schedule */
    if (!ok)
        sec_wipe(out, pt_len + SEC_TAG_LEN);
    return ok ? 0 : AGENTD_EIO;
}

int sec_open(const uint8_t key[SEC_KEY_LEN], const void *aad, size_t aad_len,
             const uint8_t nonce[SEC_NONCE_LEN], const uint8_t *sealed, size_t ct_len,
             uint8_t *out)
{
    if (ct_len < SEC_TAG_LEN || ct_len > INT_MAX / 2 || aad_len > INT_MAX / 2)
        return AGENTD_EIO;
    size_t pt_len = ct_len - SEC_TAG_LEN;
    uint8_t tag[SEC_TAG_LEN];
    memcpy(tag, sealed + pt_len, SEC_TAG_LEN);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL)
        return AGENTD_EIO;
    int ok = 0, n = 0, fin = 0;
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEC_NONCE_LEN, NULL) == 1 &&
        EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) == 1 &&
        (aad_len == 0 || EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1) &&
        (pt_len == 0 || EVP_DecryptUpdate(c, out, &n, sealed, (int)pt_len) == 1) &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEC_TAG_LEN, tag) == 1 &&
        EVP_DecryptFinal_ex(c, out + (pt_len == 0 ? 0 : (size_t)n), &fin) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        sec_wipe(out, pt_len);
    return ok ? 0 : AGENTD_EIO;
}

int sec_key_id(const uint8_t key[SEC_KEY_LEN], char out[SEC_KEY_ID_LEN + 1])
{
    static const char label[] = "agentd master key id"; /* with its NUL */
    uint8_t buf[sizeof label + SEC_KEY_LEN];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    memcpy(buf, label, sizeof label);
    memcpy(buf + sizeof label, key, SEC_KEY_LEN);
    int ok = EVP_Digest(buf, sizeof buf, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen >= 8;
    sec_wipe(buf, sizeof buf);
    if (!ok)
        return AGENTD_EIO;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SEC_KEY_ID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[SEC_KEY_ID_LEN] = '\0';
    return 0;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int sec_key_decode(const char *text, size_t len, uint8_t key[SEC_KEY_LEN])
{
    const unsigned char *s = (const unsigned char *)text;
    while (len > 0 && is_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len == 2 * SEC_KEY_LEN) {
        for (size_t i = 0; i < SEC_KEY_LEN; i++) {
            int hi = host_hex_digit(s[2 * i]), lo = host_hex_digit(s[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                sec_wipe(key, SEC_KEY_LEN);
                return AGENTD_EINVAL;
            }
            key[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
    }
    /* base64: 43 characters, then "=" or nothing. */
    if (len == 44 && s[43] == '=')
        len = 43;
    if (len != 43)
        return AGENTD_EINVAL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val(s[i]);
        if (v < 0) {
            sec_wipe(key, SEC_KEY_LEN);
            acc = 0;
            return AGENTD_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            key[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* 43 chars = 258 bits: 32 bytes and 2 bits that must be zero. */
    int ok = o == SEC_KEY_LEN && (acc & ((1u << bits) - 1)) == 0;
    acc = 0;
    if (!ok) {
        sec_wipe(key, SEC_KEY_LEN);
        return AGENTD_EINVAL;
    }
    return 0;
}

size_t sec_base64_encode(const uint8_t *in, size_t n, char *out, int url_safe)
{
    const char *tab = url_safe
                          ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}
