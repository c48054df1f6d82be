/*
 * The secret store's cryptography, over OpenSSL's EVP interface, and the
 * encodings keys come in. Private to host/secrets/ and its unit tests.
 *
 * - AEAD: AES-256-GCM, a fresh random 96-bit nonce (RAND_bytes) for every
 *   encryption, 128-bit tag. Sealed data is `ciphertext || tag`; the nonce is
 *   returned separately (the store keeps it in its own column).
 * - Key ids: the first 8 bytes of SHA-256("agentd master key id" 0x00 key),
 *   as 16 lower-case hex digits. They name a key without revealing it.
 * - Key text: 64 hex digits, or base64 (standard or URL-safe alphabet,
 *   padding optional) of exactly 32 bytes; surrounding whitespace ignored.
 *
 * Thread: any; nothing here keeps state. Errors: 0 or a negative AGENTD_E*.
 * Every buffer that held key material or a plaintext is wiped
 * (OPENSSL_cleanse) before it is freed.
 */
#ifndef AGENTD_HOST_SECRETS_CRYPTO_H
#define AGENTD_HOST_SECRETS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define SEC_KEY_LEN 32
#define SEC_NONCE_LEN 12
#define SEC_TAG_LEN 16
#define SEC_KEY_ID_LEN 16 /* hex digits, without the NUL */

/* len bytes from OpenSSL's CSPRNG. 0 or AGENTD_EIO. */
int sec_random(void *buf, size_t len);

/* Encrypts pt (pt_len may be 0) under key with aad bound. Writes a fresh
 * random nonce to nonce and pt_len + SEC_TAG_LEN bytes to out.
 * 0, AGENTD_EIO (OpenSSL failed) or AGENTD_EINVAL (too long for an int). */
int sec_seal(const uint8_t key[SEC_KEY_LEN], const void *aad, size_t aad_len, const void *pt,
             size_t pt_len, uint8_t nonce[SEC_NONCE_LEN], uint8_t *out);

/* Decrypts and authenticates sealed (ct_len >= SEC_TAG_LEN) into out
 * (ct_len - SEC_TAG_LEN bytes). AGENTD_EIO when anything differs from what
 * was sealed: key, nonce, aad, ciphertext or tag; out is then wiped. */
int sec_open(const uint8_t key[SEC_KEY_LEN], const void *aad, size_t aad_len,
             const uint8_t nonce[SEC_NONCE_LEN], const uint8_t *sealed, size_t ct_len,
             uint8_t *out);

/* The key's id (see above) into out, NUL-terminated. 0 or AGENTD_EIO. */
int sec_key_id(const uint8_t key[SEC_KEY_LEN], char out[SEC_KEY_ID_LEN + 1]);

/* Decodes key text (see above) into key. AGENTD_EINVAL if it is neither
 * form or not 32 bytes; key is then wiped. */
int sec_key_decode(const char *text, size_t len, uint8_t key[SEC_KEY_LEN]);

/* Base64 of in[0..n) with '=' padding, NUL-terminated; url_safe picks the
 * "-_" alphabet. out holds 4 * ((n + 2) / 3) + 1 bytes. Returns the length. */
size_t sec_base64_encode(const uint8_t *in, size_t n, char *out, int url_safe);

/* OPENSSL_cleanse, then free. NULL is fine. */
void sec_wipe_free(void *p, size_t n);
void sec_wipe(void *p, size_t n);

#endif /* AGENTD_HOST_SECRETS_CRYPTO_H */
