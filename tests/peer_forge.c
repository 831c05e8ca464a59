/* peer_forge.c: rewrites OpenSSL's close_notify record with another alert
 * level (see peer_forge.h).
 *
 * How: SSL_shutdown() writes its record into a memory BIO. The write key of
 * this side comes from the session secrets with the standard derivations
 * (TLS 1.2: PRF(master secret, "key expansion", server random + client
 * random), RFC 5246 §6.3 and RFC 5288 for AES-GCM; TLS 1.3: HKDF-Expand-Label
 * of the application traffic secret, which only the key-log callback hands
 * out, RFC 8446 §7.3). The record's sequence number is not exported by
 * OpenSSL: it is found by trial decryption (the GCM tag only verifies with
 * the right one). The alert is then encrypted again with the new level under
 * the same key, nonce and sequence number. OpenSSL's own record never reaches
 * the wire, so no nonce is used twice there, and the records that follow
 * (data after close_notify) carry the sequence numbers the receiver expects.
 *
 * Only AES-128-GCM with SHA-256 is implemented: forge_prepare_ctx() restricts
 * the context to it. A TLS 1.3 key update would make the recorded secret
 * stale; the peer never requests one and the trial decryption would fail.
 */

#include "peer_forge.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#define KEY_LEN 16
#define TAG_LEN 16
#define NONCE_LEN 12
#define TLS12_SALT_LEN 4         /* implicit part of the GCM nonce */
#define TLS12_EXPLICIT_LEN 8     /* explicit part, in the record */
#define SECRET_MAX 64
#define MAX_SEQUENCE (1UL << 22) /* far more records than any test sends */

/* ------------------------------------------------------------------------ */
/* TLS 1.3 traffic secrets, from the key-log callback                        */

struct secrets {
    unsigned char client[SECRET_MAX];
    unsigned char server[SECRET_MAX];
    size_t client_len;
    size_t server_len;
};

static int secrets_index = -1;

static void free_secrets(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr != NULL)
        OPENSSL_cleanse(ptr, sizeof(struct secrets));
    free(ptr);
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* "LABEL <client random> <secret>" in hex, NSS key-log format. */
static size_t parse_secret(const char *line, const char *label, unsigned char *out)
{
    size_t label_len = strlen(label), n = 0;
    const char *p;

    if (strncmp(line, label, label_len) != 0 || line[label_len] != ' ')
        return 0;
    p = strchr(line + label_len + 1, ' ');
    if (p == NULL)
        return 0;
    for (p++; p[0] != '\0' && p[1] != '\0' && n < SECRET_MAX; p += 2) {
        int hi = hex_value(p[0]), lo = hex_value(p[1]);

        if (hi < 0 || lo < 0)
            break;
        out[n++] = (unsigned char)(hi << 4 | lo);
    }
    return n;
}

static void on_keylog(const SSL *ssl, const char *line)
{
    struct secrets *s = SSL_get_ex_data(ssl, secrets_index);
    size_t n;

    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL || !SSL_set_ex_data((SSL *)ssl, secrets_index, s)) {
            free(s);
            return; /* forge_close_notify() then reports the missing secret */
        }
    }
    if ((n = parse_secret(line, "CLIENT_TRAFFIC_SECRET_0", s->client)) > 0)
        s->client_len = n;
    else if ((n = parse_secret(line, "SERVER_TRAFFIC_SECRET_0", s->server)) > 0)
        s->server_len = n;
}

bool forge_prepare_ctx(SSL_CTX *ctx)
{
    if (secrets_index < 0)
        secrets_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_secrets);
    if (secrets_index < 0)
        return false;
    SSL_CTX_set_keylog_callback(ctx, on_keylog);
    return SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                        "ECDHE-RSA-AES128-GCM-SHA256") == 1 &&
           SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") == 1;
}

/* ------------------------------------------------------------------------ */
/* Key derivation                                                            */

struct write_key {
    unsigned char key[KEY_LEN];
    unsigned char iv[NONCE_LEN]; /* TLS 1.2: only the 4-byte salt is used */
};

static bool tls12_write_key(SSL *ssl, struct write_key *k)
{
    unsigned char master[SSL_MAX_MASTER_KEY_LENGTH];
    unsigned char seed[2 * SSL3_RANDOM_SIZE];
    unsigned char block[2 * KEY_LEN + 2 * TLS12_SALT_LEN];
    size_t master_len = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof master);
    size_t block_len = sizeof block;
    bool server = SSL_is_server(ssl);
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_id(EVP_PKEY_TLS1_PRF, NULL);
    bool ok;

    /* key_block = client key, server key, client salt, server salt (AEAD:
     * no MAC keys). */
    ok = master_len > 0 && p != NULL &&
         SSL_get_server_random(ssl, seed, SSL3_RANDOM_SIZE) == SSL3_RANDOM_SIZE &&
         SSL_get_client_random(ssl, seed + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE) ==
             SSL3_RANDOM_SIZE &&
         EVP_PKEY_derive_init(p) > 0 && EVP_PKEY_CTX_set_tls1_prf_md(p, EVP_sha256()) > 0 &&
         EVP_PKEY_CTX_set1_tls1_prf_secret(p, master, (int)master_len) > 0 &&
         EVP_PKEY_CTX_add1_tls1_prf_seed(p, (const unsigned char *)"key expansion", 13) > 0 &&
         EVP_PKEY_CTX_add1_tls1_prf_seed(p, seed, sizeof seed) > 0 &&
         EVP_PKEY_derive(p, block, &block_len) > 0 && block_len == sizeof block;
    if (ok) {
        memcpy(k->key, block + (server ? KEY_LEN : 0), KEY_LEN);
        memcpy(k->iv, block + 2 * KEY_LEN + (server ? TLS12_SALT_LEN : 0), TLS12_SALT_LEN);
    }
    EVP_PKEY_CTX_free(p);
    OPENSSL_cleanse(master, sizeof master);
    OPENSSL_cleanse(block, sizeof block);
    return ok;
}

/* HKDF-Expand-Label(secret, label, "", len) with SHA-256. */
static bool expand_label(const unsigned char *secret, size_t secret_len, const char *label,
                         unsigned char *out, size_t len)
{
    unsigned char info[32];
    size_t label_len = strlen(label), n = 0, out_len = len;
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    bool ok;

    info[n++] = 0;
    info[n++] = (unsigned char)len;
    info[n++] = (unsigned char)(6 + label_len);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = 0; /* empty context */
    ok = p != NULL && EVP_PKEY_derive_init(p) > 0 &&
         EVP_PKEY_CTX_hkdf_mode(p, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) > 0 &&
         EVP_PKEY_CTX_set_hkdf_md(p, EVP_sha256()) > 0 &&
         EVP_PKEY_CTX_set1_hkdf_key(p, secret, (int)secret_len) > 0 &&
         EVP_PKEY_CTX_add1_hkdf_info(p, info, (int)n) > 0 &&
         EVP_PKEY_derive(p, out, &out_len) > 0 && out_len == len;
    EVP_PKEY_CTX_free(p);
    return ok;
}

static bool tls13_write_key(SSL *ssl, struct write_key *k)
{
    struct secrets *s = SSL_get_ex_data(ssl, secrets_index);
    const unsigned char *secret;
    size_t len;

    if (s == NULL)
        return false;
    secret = SSL_is_server(ssl) ? s->server : s->client;
    len = SSL_is_server(ssl) ? s->server_len : s->client_len;
    return len > 0 && expand_label(secret, len, "key", k->key, KEY_LEN) &&
           expand_label(secret, len, "iv", k->iv, NONCE_LEN);
}

/* ------------------------------------------------------------------------ */
/* AES-128-GCM                                                               */

/* Encrypts (tag written) or decrypts (tag checked) len bytes in to out. */
static bool gcm(bool encrypt, const struct write_key *k, const unsigned char nonce[NONCE_LEN],
                const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t len,
                unsigned char *out, unsigned char tag[TAG_LEN])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok;

    ok = c != NULL &&
         EVP_CipherInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL, encrypt) > 0 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) > 0 &&
         EVP_CipherInit_ex(c, NULL, NULL, k->key, nonce, encrypt) > 0 &&
         EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) > 0 &&
         EVP_CipherUpdate(c, out, &n, in, (int)len) > 0 &&
         (encrypt || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) > 0) &&
         EVP_CipherFinal_ex(c, out + n, &fin) > 0 &&
         (!encrypt || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) > 0);
    EVP_CIPHER_CTX_free(c);
    return ok;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* The layout of one protected record: where the ciphertext and tag are, the
 * nonce and additional data for a given sequence number. */
struct record {
    unsigned char *bytes;
    size_t len;
    bool tls13;
    const struct write_key *k;
};

static size_t body_offset(const struct record *r)
{
    return 5 + (r->tls13 ? 0 : TLS12_EXPLICIT_LEN);
}

static size_t body_len(const struct record *r)
{
    return r->len - body_offset(r) - TAG_LEN;
}

static size_t nonce_and_aad(const struct record *r, uint64_t seq, unsigned char nonce[NONCE_LEN],
                            unsigned char aad[13])
{
    size_t plain = body_len(r);

    if (r->tls13) {
        /* nonce = iv XOR sequence number; aad = the record header */
        memcpy(nonce, r->k->iv, NONCE_LEN);
        for (int i = 0; i < 8; i++)
            nonce[NONCE_LEN - 1 - i] ^= (unsigned char)(seq >> (8 * i));
        memcpy(aad, r->bytes, 5);
        return 5;
    }
    /* nonce = salt + explicit part; aad = seq, type, version, length */
    memcpy(nonce, r->k->iv, TLS12_SALT_LEN);
    memcpy(nonce + TLS12_SALT_LEN, r->bytes + 5, TLS12_EXPLICIT_LEN);
    put_u64(aad, seq);
    memcpy(aad + 8, r->bytes, 3);
    aad[11] = (unsigned char)(plain >> 8);
    aad[12] = (unsigned char)plain;
    return 13;
}

/* Finds the sequence number under which the record decrypts; writes the
 * plaintext. */
static bool find_sequence(const struct record *r, unsigned char *plain, uint64_t *seq)
{
    unsigned char nonce[NONCE_LEN], aad[13], tag[TAG_LEN];

    memcpy(tag, r->bytes + r->len - TAG_LEN, TAG_LEN);
    for (uint64_t s = 0; s < MAX_SEQUENCE; s++) {
        size_t aad_len = nonce_and_aad(r, s, nonce, aad);

        if (gcm(false, r->k, nonce, aad, aad_len, r->bytes + body_offset(r), body_len(r),
                plain, tag)) {
            *seq = s;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------------ */

/* SSL_shutdown() into a memory BIO; the socket BIO goes back in afterwards.
 * The read BIO stays the socket throughout. */
static size_t shutdown_into_memory(SSL *ssl, unsigned char *out, size_t cap)
{
    BIO *sock = SSL_get_rbio(ssl);
    BIO *mem = BIO_new(BIO_s_mem());
    char *data;
    long len;
    size_t n = 0;

    if (mem == NULL || sock != SSL_get_wbio(ssl) || !BIO_up_ref(sock)) {
        BIO_free(mem);
        return 0;
    }
    /* rbio == wbio: the SSL holds one reference per role, and set0 drops
     * the write role's. */
    SSL_set0_wbio(ssl, mem);
    if (SSL_shutdown(ssl) >= 0 && (len = BIO_get_mem_data(mem, &data)) > 0 &&
        (size_t)len <= cap) {
        memcpy(out, data, (size_t)len);
        n = (size_t)len;
    }
    SSL_set0_wbio(ssl, sock); /* frees mem; takes the reference taken above */
    return n;
}

size_t forge_close_notify(SSL *ssl, int level, unsigned char *out, const char **why)
{
    unsigned char plain[FORGED_RECORD_MAX], tag[TAG_LEN], nonce[NONCE_LEN], aad[13];
    struct write_key k;
    struct record r = { out, 0, SSL_version(ssl) == TLS1_3_VERSION, &k };
    uint64_t seq;
    size_t aad_len, expect_type_at;
    unsigned long id;

    if (SSL_version(ssl) != TLS1_3_VERSION && SSL_version(ssl) != TLS1_2_VERSION) {
        *why = "only TLS 1.2 and 1.3 are supported";
        return 0;
    }
    id = SSL_CIPHER_get_id(SSL_get_current_cipher(ssl));
    if (r.tls13 ? id != 0x03001301U : id != 0x0300C02BU && id != 0x0300C02FU) {
        *why = "the connection does not use AES-128-GCM (forge_prepare_ctx not called?)";
        return 0;
    }
    if (!(r.tls13 ? tls13_write_key(ssl, &k) : tls12_write_key(ssl, &k))) {
        *why = "cannot derive the write key";
        return 0;
    }
    r.len = shutdown_into_memory(ssl, out, FORGED_RECORD_MAX);
    /* One whole record: header, [explicit nonce,] alert (+ inner type), tag. */
    expect_type_at = r.tls13 ? 2 : SIZE_MAX;
    if (r.len < body_offset(&r) + 2 + TAG_LEN || r.len != 5 + ((size_t)out[3] << 8 | out[4]) ||
        out[0] != (r.tls13 ? SSL3_RT_APPLICATION_DATA : SSL3_RT_ALERT)) {
        *why = "SSL_shutdown did not produce one close_notify record";
        return 0;
    }
    if (!find_sequence(&r, plain, &seq) || plain[1] != SSL_AD_CLOSE_NOTIFY ||
        (expect_type_at != SIZE_MAX && plain[expect_type_at] != SSL3_RT_ALERT)) {
        *why = "cannot decrypt OpenSSL's close_notify record";
        return 0;
    }
    plain[0] = (unsigned char)level;
    aad_len = nonce_and_aad(&r, seq, nonce, aad);
    if (!gcm(true, &k, nonce, aad, aad_len, plain, body_len(&r), out + body_offset(&r), tag)) {
        *why = "cannot encrypt the alert";
        return 0;
    }
    memcpy(out + r.len - TAG_LEN, tag, TAG_LEN);
    OPENSSL_cleanse(&k, sizeof k);
    return r.len;
}
