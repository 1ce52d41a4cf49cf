/* Native fast path of the faker masker (see fast.py): keyed BLAKE2b of the
 * input's UTF-8, the draw tree of pools.py (or a lazy pool of slots.py)
 * walked with the same divmods on the same bits, the unique token and the
 * fitting to varchar(n) of unique.py. Every output equals the pure-Python one
 * (tests/test_fast_native.py, tests/test_faker_fast.py check it); whatever
 * this path does not cover (non-text input, a UUID to make unique, a fake
 * that may equal its input) is handed to the Python masker.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- BLAKE2b */

static const uint64_t B2_IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

static const uint8_t B2_SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

typedef struct {
    uint64_t h[8];
    uint64_t t;  /* bytes compressed so far (inputs here are far below 2**64) */
} B2State;

static inline uint64_t rotr64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* little-endian machines only: checked at import */
    return v;
}

#define B2_G(a, b, c, d, x, y)        \
    do {                              \
        a = a + b + (x);              \
        d = rotr64(d ^ a, 32);        \
        c = c + d;                    \
        b = rotr64(b ^ c, 24);        \
        a = a + b + (y);              \
        d = rotr64(d ^ a, 16);        \
        c = c + d;                    \
        b = rotr64(b ^ c, 63);        \
    } while (0)

static void b2_compress(B2State *s, const uint8_t block[128], int last) {
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) m[i] = load64(block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = s->h[i];
        v[i + 8] = B2_IV[i];
    }
    v[12] ^= s->t;
    if (last) v[14] = ~v[14];
    for (int r = 0; r < 12; r++) {
        const uint8_t *z = B2_SIGMA[r];
        B2_G(v[0], v[4], v[8], v[12], m[z[0]], m[z[1]]);
        B2_G(v[1], v[5], v[9], v[13], m[z[2]], m[z[3]]);
        B2_G(v[2], v[6], v[10], v[14], m[z[4]], m[z[5]]);
        B2_G(v[3], v[7], v[11], v[15], m[z[6]], m[z[7]]);
        B2_G(v[0], v[5], v[10], v[15], m[z[8]], m[z[9]]);
        B2_G(v[1], v[6], v[11], v[12], m[z[10]], m[z[11]]);
        B2_G(v[2], v[7], v[8], v[13], m[z[12]], m[z[13]]);
        B2_G(v[3], v[4], v[9], v[14], m[z[14]], m[z[15]]);
    }
    for (int i = 0; i < 8; i++) s->h[i] ^= v[i] ^ v[i + 8];
}

/* The state after the key block: hashing a value starts from a copy of it. */
static void b2_keyed_init(B2State *s, const uint8_t *key, size_t keylen, const uint8_t *person,
                          size_t personlen, size_t outlen) {
    uint8_t param[64] = {0};
    param[0] = (uint8_t)outlen;
    param[1] = (uint8_t)keylen;
    param[2] = 1; /* fanout */
    param[3] = 1; /* depth */
    memcpy(param + 48, person, personlen);
    for (int i = 0; i < 8; i++) s->h[i] = B2_IV[i] ^ load64(param + 8 * i);
    s->t = 0;
    if (keylen) {
        uint8_t block[128] = {0};
        memcpy(block, key, keylen);
        /* Not the last block: a value's data always follows (see b2_digest). */
        s->t = 128;
        b2_compress(s, block, 0);
    }
}

/* digest(data) from the keyed state; data is never empty (an empty value is
 * hashed in Python: with no data the key block would have to be the last). */
static void b2_digest(const B2State *base, const uint8_t *data, size_t len, uint8_t out[32]) {
    B2State s = *base;
    uint8_t block[128];
    while (len > 128) {
        s.t += 128;
        b2_compress(&s, data, 0);
        data += 128;
        len -= 128;
    }
    memset(block, 0, 128);
    memcpy(block, data, len);
    s.t += len;
    b2_compress(&s, block, 1);
    memcpy(out, s.h, 32); /* little-endian words are the digest bytes */
}

/* ------------------------------------------------------------- big number */

/* The draw bits: up to 192 bits, little-endian 64-bit limbs. */
typedef struct {
    uint64_t w[3];
} Num;

static inline uint64_t num_divmod(Num *n, uint64_t d) {
    unsigned __int128 rem = 0;
    for (int i = 2; i >= 0; i--) {
        unsigned __int128 cur = (rem << 64) | n->w[i];
        n->w[i] = (uint64_t)(cur / d);
        rem = cur % d;
    }
    return (uint64_t)rem;
}

static inline void num_shr32(Num *n) {
    n->w[0] = (n->w[0] >> 32) | (n->w[1] << 32);
    n->w[1] = (n->w[1] >> 32) | (n->w[2] << 32);
    n->w[2] >>= 32;
}

/* 24 big-endian bytes <-> the limbs (the most significant limb is w[2]). */
static void num_from_be24(Num *n, const uint8_t be[24]) {
    for (int i = 0; i < 3; i++) {
        uint64_t v = 0;
        for (int j = 0; j < 8; j++) v = (v << 8) | be[(2 - i) * 8 + j];
        n->w[i] = v;
    }
}

static void num_to_be24(const Num *n, uint8_t be[24]) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 8; j++) be[(2 - i) * 8 + j] = (uint8_t)(n->w[i] >> (56 - 8 * j));
}

/* bits_of(digest): int.from_bytes(digest[:8] + digest[18:], "big"), 176 bits. */
static void num_from_digest(Num *n, const uint8_t d[32]) {
    uint8_t be[24] = {0};
    memcpy(be + 2, d, 8);
    memcpy(be + 10, d + 18, 14);
    num_from_be24(n, be);
}

static PyObject *num_to_long(const Num *n) {
    uint8_t be[24];
    num_to_be24(n, be);
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)be, 24);
    if (!bytes) return NULL;
    PyObject *out = PyObject_CallMethod((PyObject *)&PyLong_Type, "from_bytes", "Os", bytes, "big");
    Py_DECREF(bytes);
    return out;
}

static int num_from_long(Num *n, PyObject *v) {
    PyObject *bytes = PyObject_CallMethod(v, "to_bytes", "is", 24, "big");
    if (!bytes) return -1;
    num_from_be24(n, (const uint8_t *)PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    return 0;
}

/* ---------------------------------------------------------------- output */

/* A fake being built: in a caller's stack buffer, moved to the heap if it
 * outgrows it. Each call has its own (a draw function may run Python code,
 * and another thread with it). */
typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t len, cap;
    int heap;
} Out;

static int out_reserve(Out *o, Py_ssize_t extra) {
    if (o->len + extra <= o->cap) return 0;
    Py_ssize_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + extra) cap *= 2;
    Py_UCS4 *buf;
    if (o->heap) {
        buf = PyMem_Realloc(o->buf, cap * sizeof(Py_UCS4));
    } else {
        buf = PyMem_Malloc(cap * sizeof(Py_UCS4));
        if (buf && o->len) memcpy(buf, o->buf, o->len * sizeof(Py_UCS4));
    }
    if (!buf) {
        PyErr_NoMemory();
        return -1;
    }
    o->buf = buf;
    o->cap = cap;
    o->heap = 1;
    return 0;
}

static void out_release(Out *o) {
    if (o->heap) PyMem_Free(o->buf);
}

static inline int out_char(Out *o, Py_UCS4 c) {
    if (out_reserve(o, 1) < 0) return -1;
    o->buf[o->len++] = c;
    return 0;
}

static int out_str(Out *o, PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (out_reserve(o, n) < 0) return -1;
    if (!PyUnicode_AsUCS4(s, o->buf + o->len, n, 0)) return -1;
    o->len += n;
    return 0;
}

/* ------------------------------------------------------------- draw tree */

enum { N_LIT, N_PICK, N_WPICK, N_SEQ, N_DIGITS, N_FUNC, N_IPV4, N_SLOTS };
enum { P_LIT, P_RUN, P_PCT, P_DOLLAR, P_BANG, P_AT, P_Q };

typedef struct Node Node;
typedef struct {
    int kind;
    PyObject *text; /* P_LIT */
    int count;      /* P_RUN */
} Part;

struct Node {
    int kind;
    PyObject *text;       /* N_LIT; N_DIGITS: simple template (NULL when complex) */
    Py_ssize_t n;         /* children / parts */
    Node **children;      /* N_PICK, N_WPICK, N_SEQ */
    uint64_t *thresholds; /* N_WPICK */
    int hashes;           /* N_DIGITS simple */
    uint8_t *octets;      /* N_IPV4: the first octets to pick from (n of them) */
    Part *parts;          /* N_DIGITS complex */
    PyObject *letters;    /* N_DIGITS complex */
    PyObject *func;       /* N_FUNC; N_SLOTS: makes a slot (slots.Slots.fill) */
    PyObject *items;      /* N_SLOTS: the pool's list (n slots), `empty` where not made yet */
    PyObject *empty;      /* N_SLOTS */
    PyObject *plain;      /* N_SLOTS: types handed out as they are besides str (date, int...) */
};

static void node_free(Node *node) {
    if (!node) return;
    Py_XDECREF(node->text);
    Py_XDECREF(node->letters);
    Py_XDECREF(node->func);
    Py_XDECREF(node->items);
    Py_XDECREF(node->empty);
    Py_XDECREF(node->plain);
    if (node->children) {
        for (Py_ssize_t i = 0; i < node->n; i++) node_free(node->children[i]);
        PyMem_Free(node->children);
    }
    if (node->parts) {
        for (Py_ssize_t i = 0; i < node->n; i++) Py_XDECREF(node->parts[i].text);
        PyMem_Free(node->parts);
    }
    PyMem_Free(node->thresholds);
    PyMem_Free(node->octets);
    PyMem_Free(node);
}

/* Built from the tuples of pools.to_native():
 *   ("lit", str) | ("pick", (node...), None | (threshold...)) | ("seq", (node...))
 *   ("digits", template, hashes) | ("digitsx", ((kind, arg)...), letters)
 *   ("func", callable) | ("ipv4", (first octet...))
 *   ("slots", [item...], fill, empty, (type...))   a lazy pool of slots.py
 */
static Node *node_build(PyObject *spec) {
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(spec, 0))) {
        PyErr_SetString(PyExc_TypeError, "bad draw spec");
        return NULL;
    }
    const char *kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(spec, 0));
    if (!kind) return NULL;
    Node *node = PyMem_Calloc(1, sizeof(Node));
    if (!node) return (Node *)PyErr_NoMemory();
    PyObject *a = PyTuple_GET_ITEM(spec, 1);
    if (strcmp(kind, "lit") == 0 && PyUnicode_Check(a)) {
        node->kind = N_LIT;
        node->text = Py_NewRef(a);
        return node;
    }
    if (strcmp(kind, "ipv4") == 0 && PyTuple_Check(a) && PyTuple_GET_SIZE(a) > 0) {
        node->kind = N_IPV4;
        node->n = PyTuple_GET_SIZE(a);
        node->octets = PyMem_Calloc(node->n, 1);
        if (!node->octets) goto nomem;
        for (Py_ssize_t i = 0; i < node->n; i++) {
            long o = PyLong_AsLong(PyTuple_GET_ITEM(a, i));
            if (o < 0 || o > 255) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad octet");
                goto fail;
            }
            node->octets[i] = (uint8_t)o;
        }
        return node;
    }
    if (strcmp(kind, "slots") == 0 && PyList_Check(a) && PyList_GET_SIZE(a) > 0 &&
        PyTuple_GET_SIZE(spec) == 5 && PyTuple_Check(PyTuple_GET_ITEM(spec, 4))) {
        node->kind = N_SLOTS;
        node->n = PyList_GET_SIZE(a); /* never resized: slots.py only sets items */
        node->items = Py_NewRef(a);
        node->func = Py_NewRef(PyTuple_GET_ITEM(spec, 2));
        node->empty = Py_NewRef(PyTuple_GET_ITEM(spec, 3));
        node->plain = Py_NewRef(PyTuple_GET_ITEM(spec, 4));
        return node;
    }
    if (strcmp(kind, "func") == 0) {
        node->kind = N_FUNC;
        node->func = Py_NewRef(a);
        return node;
    }
    if ((strcmp(kind, "pick") == 0 || strcmp(kind, "seq") == 0) && PyTuple_Check(a)) {
        int pick = kind[0] == 'p';
        node->kind = pick ? N_PICK : N_SEQ;
        node->n = PyTuple_GET_SIZE(a);
        if (pick && node->n == 0) goto bad;
        node->children = PyMem_Calloc(node->n ? node->n : 1, sizeof(Node *));
        if (!node->children) goto nomem;
        for (Py_ssize_t i = 0; i < node->n; i++) {
            node->children[i] = node_build(PyTuple_GET_ITEM(a, i));
            if (!node->children[i]) goto fail;
        }
        if (pick && PyTuple_GET_SIZE(spec) > 2 && PyTuple_GET_ITEM(spec, 2) != Py_None) {
            PyObject *th = PyTuple_GET_ITEM(spec, 2);
            if (!PyTuple_Check(th) || PyTuple_GET_SIZE(th) != node->n) goto bad;
            node->kind = N_WPICK;
            node->thresholds = PyMem_Calloc(node->n, sizeof(uint64_t));
            if (!node->thresholds) goto nomem;
            for (Py_ssize_t i = 0; i < node->n; i++) {
                node->thresholds[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(th, i));
                if (PyErr_Occurred()) goto fail;
            }
        }
        return node;
    }
    if (strcmp(kind, "digits") == 0 && PyUnicode_Check(a) && PyTuple_GET_SIZE(spec) == 3) {
        node->kind = N_DIGITS;
        node->text = Py_NewRef(a);
        node->hashes = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 2));
        if (PyErr_Occurred()) goto fail;
        return node;
    }
    if (strcmp(kind, "digitsx") == 0 && PyTuple_Check(a) && PyTuple_GET_SIZE(spec) == 3) {
        node->kind = N_DIGITS;
        node->letters = Py_NewRef(PyTuple_GET_ITEM(spec, 2));
        if (!PyUnicode_Check(node->letters)) goto bad;
        node->n = PyTuple_GET_SIZE(a);
        node->parts = PyMem_Calloc(node->n ? node->n : 1, sizeof(Part));
        if (!node->parts) goto nomem;
        for (Py_ssize_t i = 0; i < node->n; i++) {
            PyObject *p = PyTuple_GET_ITEM(a, i);
            if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 2) goto bad;
            const char *k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(p, 0));
            PyObject *arg = PyTuple_GET_ITEM(p, 1);
            if (!k) goto fail;
            Part *part = &node->parts[i];
            if (strcmp(k, "lit") == 0 && PyUnicode_Check(arg)) {
                part->kind = P_LIT;
                part->text = Py_NewRef(arg);
            } else if (strcmp(k, "run") == 0) {
                part->kind = P_RUN;
                part->count = (int)PyLong_AsLong(arg);
                if (PyErr_Occurred()) goto fail;
            } else if (strcmp(k, "%") == 0) {
                part->kind = P_PCT;
            } else if (strcmp(k, "$") == 0) {
                part->kind = P_DOLLAR;
            } else if (strcmp(k, "!") == 0) {
                part->kind = P_BANG;
            } else if (strcmp(k, "@") == 0) {
                part->kind = P_AT;
            } else if (strcmp(k, "?") == 0) {
                part->kind = P_Q;
                if (PyUnicode_GET_LENGTH(node->letters) == 0) goto bad;
            } else {
                goto bad;
            }
        }
        return node;
    }
bad:
    PyErr_SetString(PyExc_TypeError, "bad draw spec");
fail:
    node_free(node);
    return NULL;
nomem:
    PyErr_NoMemory();
    node_free(node);
    return NULL;
}

/* The k low decimal digits of n (zero-padded), n //= 10**k: as divmod(n, 10**k). */
static int draw_run(Num *n, int k, Out *o) {
    if (out_reserve(o, k) < 0) return -1;
    Py_UCS4 *end = o->buf + o->len + k;
    int left = k;
    while (left > 0) {
        int chunk = left < 19 ? left : 19;
        uint64_t p = 1;
        for (int i = 0; i < chunk; i++) p *= 10;
        uint64_t r = num_divmod(n, p);
        for (int i = 0; i < chunk; i++) {
            *--end = (Py_UCS4)('0' + r % 10);
            r /= 10;
        }
        left -= chunk;
    }
    o->len += k;
    return 0;
}

/* slots.Slots.draw: the item of slot n % size (made now if it was not), n //= size.
 * A new reference, or NULL with an error set. */
static PyObject *slot_item(const Node *node, Num *n) {
    Py_ssize_t slot = (Py_ssize_t)num_divmod(n, (uint64_t)node->n);
    PyObject *item = PyList_GET_ITEM(node->items, slot);
    if (item != node->empty) return Py_NewRef(item);
    PyObject *index = PyLong_FromSsize_t(slot);
    if (!index) return NULL;
    item = PyObject_CallOneArg(node->func, index);
    Py_DECREF(index);
    return item;
}

static int draw(const Node *node, Num *n, Out *o) {
    switch (node->kind) {
    case N_SLOTS: { /* inside a format: text only (Python does the rest) */
        PyObject *item = slot_item(node, n);
        if (!item) return -1;
        int rc = PyUnicode_CheckExact(item) ? out_str(o, item) : -2;
        Py_DECREF(item);
        return rc;
    }
    case N_LIT:
        return out_str(o, node->text);
    case N_SEQ:
        for (Py_ssize_t i = 0; i < node->n; i++)
            if (draw(node->children[i], n, o) < 0) return -1;
        return 0;
    case N_PICK:
        return draw(node->children[num_divmod(n, (uint64_t)node->n)], n, o);
    case N_WPICK: {
        /* bisect_right(thresholds, n & 0xffffffff), then n >>= 32 */
        uint64_t x = n->w[0] & 0xffffffffULL;
        Py_ssize_t lo = 0, hi = node->n;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi) / 2;
            if (x < node->thresholds[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        num_shr32(n);
        return draw(node->children[lo], n, o);
    }
    case N_DIGITS:
        if (node->text) {
            /* Simple template: the digits of divmod(n, 10**hashes), in order, at the #s. */
            Py_ssize_t tlen = PyUnicode_GET_LENGTH(node->text);
            int kind = PyUnicode_KIND(node->text);
            const void *data = PyUnicode_DATA(node->text);
            Py_UCS4 digits[64];
            int h = node->hashes;
            if (h > 64) return -2; /* not expected; Python handles it */
            if (h) {
                Out tmp = {digits, 0, 64, 0};
                if (draw_run(n, h, &tmp) < 0) return -1;
            }
            if (out_reserve(o, tlen) < 0) return -1;
            int next = 0;
            for (Py_ssize_t i = 0; i < tlen; i++) {
                Py_UCS4 c = PyUnicode_READ(kind, data, i);
                o->buf[o->len++] = (c == '#') ? digits[next++] : c;
            }
            return 0;
        }
        for (Py_ssize_t i = 0; i < node->n; i++) {
            const Part *p = &node->parts[i];
            uint64_t r;
            switch (p->kind) {
            case P_LIT:
                if (out_str(o, p->text) < 0) return -1;
                break;
            case P_RUN:
                if (draw_run(n, p->count, o) < 0) return -1;
                break;
            case P_PCT:
                if (out_char(o, (Py_UCS4)('1' + num_divmod(n, 9))) < 0) return -1;
                break;
            case P_DOLLAR:
                if (out_char(o, (Py_UCS4)('2' + num_divmod(n, 8))) < 0) return -1;
                break;
            case P_BANG:
                r = num_divmod(n, 20);
                if (r >= 10 && out_char(o, (Py_UCS4)('0' + r - 10)) < 0) return -1;
                break;
            case P_AT:
                r = num_divmod(n, 18);
                if (r >= 9 && out_char(o, (Py_UCS4)('0' + r - 8)) < 0) return -1;
                break;
            default: { /* P_Q */
                Py_ssize_t len = PyUnicode_GET_LENGTH(node->letters);
                r = num_divmod(n, (uint64_t)len);
                if (out_char(o, PyUnicode_READ_CHAR(node->letters, (Py_ssize_t)r)) < 0)
                    return -1;
            }
            }
        }
        return 0;
    case N_IPV4: {
        /* pools._ipv4: a first octet, then 24 bits for the other three */
        unsigned first = node->octets[num_divmod(n, (uint64_t)node->n)];
        unsigned rest = (unsigned)num_divmod(n, 1u << 24);
        char text[16];
        int len = snprintf(text, sizeof text, "%u.%u.%u.%u", first, rest >> 16, (rest >> 8) & 255,
                           rest & 255);
        if (out_reserve(o, len) < 0) return -1;
        for (int i = 0; i < len; i++) o->buf[o->len++] = (Py_UCS4)text[i];
        return 0;
    }
    case N_FUNC: {
        PyObject *arg = num_to_long(n);
        if (!arg) return -1;
        PyObject *res = PyObject_CallOneArg(node->func, arg);
        Py_DECREF(arg);
        if (!res) return -1;
        if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(res, 0))) {
            Py_DECREF(res);
            PyErr_SetString(PyExc_TypeError, "a draw function must return (str, int)");
            return -1;
        }
        int rc = out_str(o, PyTuple_GET_ITEM(res, 0));
        if (rc == 0) rc = num_from_long(n, PyTuple_GET_ITEM(res, 1));
        Py_DECREF(res);
        return rc;
    }
    }
    return -2;
}

/* ------------------------------------------------------------ the masker */

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";

typedef struct {
    PyObject_HEAD
    Node *root;
    B2State base;
    int unique;
    Py_ssize_t max_length; /* -1: none */
    PyObject *slow;        /* the Python masker: same outputs, every case */
    B2State retry;         /* keyed.derive: unkeyed BLAKE2b, person "dc-retry-v1" */
    PyObject *memo;        /* source text -> its fake; NULL once given up (see remembered) */
    Py_ssize_t lookups, hits;
} FastDraw;

/* A value's fake depends on the value alone, so a column's repeated values
 * (first names, cities, postcodes, birth dates, user agents) are drawn once:
 * the first MEMO_MAX distinct values are remembered (90 years of birth dates
 * fit). A column whose values never repeat (emails, phones) gives up its memo
 * after MEMO_FIRST values, one whose values hardly repeat after MEMO_WINDOW
 * (under one value in ten), so it pays neither the memory nor the lookups. */
#define MEMO_MAX 32768
#define MEMO_WINDOW (4 * MEMO_MAX)
#define MEMO_FIRST 4096

/* faker_rule.RETRIES: fresh draws tried before trimming a fake too long for its column */
#define RETRIES 4

static void FastDraw_dealloc(FastDraw *self) {
    node_free(self->root);
    Py_XDECREF(self->slow);
    Py_XDECREF(self->memo);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int FastDraw_init(FastDraw *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"spec", "key", "person", "unique", "max_length", "slow", NULL};
    PyObject *spec, *slow;
    Py_buffer key, person;
    int unique;
    Py_ssize_t max_length;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Oy*y*pnO", kwlist, &spec, &key, &person,
                                     &unique, &max_length, &slow))
        return -1;
    int rc = -1;
    if (key.len < 1 || key.len > 64 || person.len > 16) {
        PyErr_SetString(PyExc_ValueError, "key must be 1-64 bytes, person at most 16");
        goto done;
    }
    node_free(self->root);
    self->root = node_build(spec);
    if (!self->root) goto done;
    b2_keyed_init(&self->base, key.buf, (size_t)key.len, person.buf, (size_t)person.len, 32);
    b2_keyed_init(&self->retry, NULL, 0, (const uint8_t *)"dc-retry-v1", 11, 32);
    self->unique = unique;
    self->max_length = max_length;
    Py_XSETREF(self->slow, Py_NewRef(slow));
    Py_XSETREF(self->memo, PyDict_New());
    self->lookups = self->hits = 0;
    if (self->memo) rc = 0;
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&person);
    return rc;
}

/* keyed.token_of: digest[8:18] big-endian, 5 bits a character, high bits first. */
static void token_of(const uint8_t d[32], char token[16]) {
    uint64_t hi = 0;
    for (int i = 8; i < 16; i++) hi = (hi << 8) | d[i];
    uint32_t lo = ((uint32_t)d[16] << 8) | d[17];
    for (int i = 0; i < 16; i++) {
        int shift = 75 - 5 * i; /* bit position of the character within 80 bits */
        uint32_t v;
        if (shift >= 16)
            v = (uint32_t)(hi >> (shift - 16)) & 31;
        else
            v = (uint32_t)(((hi << (16 - shift)) | (lo >> shift)) & 31);
        token[i] = B32[v];
    }
}

/* keyed.derive(digest, attempt) */
static void derive(const FastDraw *self, const uint8_t d[32], int attempt, uint8_t out[32]) {
    uint8_t buf[36];
    memcpy(buf, d, 32);
    buf[32] = (uint8_t)(attempt >> 24);
    buf[33] = (uint8_t)(attempt >> 16);
    buf[34] = (uint8_t)(attempt >> 8);
    buf[35] = (uint8_t)attempt;
    b2_digest(&self->retry, buf, 36, out);
}

/* unique._split_email: the index of the "@" when s looks like an email, else -1. */
static Py_ssize_t email_at(const Py_UCS4 *s, Py_ssize_t len) {
    Py_ssize_t at = -1, ats = 0;
    int printable = 1, space = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = s[i];
        if (c == '@') {
            if (at < 0) at = i;
            ats++;
        } else if (c == ' ') {
            space = 1;
        }
        if (!Py_UNICODE_ISPRINTABLE(c)) printable = 0;
    }
    if (at <= 0 || ats != 1 || !printable || space) return -1;
    Py_ssize_t dot = -1, domain_len = len - at - 1;
    for (Py_ssize_t i = at + 1; i < len; i++)
        if (s[i] == '.') {
            dot = i - at - 1;
            break;
        }
    return (dot > 0 && dot != domain_len - 1) ? at : -1;
}

static int out_ucs(Out *o, const Py_UCS4 *s, Py_ssize_t n) {
    if (n <= 0) return 0;
    if (out_reserve(o, n) < 0) return -1;
    memcpy(o->buf + o->len, s, (size_t)n * sizeof(Py_UCS4));
    o->len += n;
    return 0;
}

static int out_ascii(Out *o, const char *s, Py_ssize_t n) {
    if (out_reserve(o, n) < 0) return -1;
    for (Py_ssize_t i = 0; i < n; i++) o->buf[o->len++] = (Py_UCS4)s[i];
    return 0;
}

/* unique.make_unique(s, digest, m) (m < 0: no max_length) into o, for the
 * cases done with the token. 1 when done, 0 when Python must do it (maybe a
 * UUID: unique.py makes a UUID of it), -1 on error. */
static int compose_unique(Out *o, const Py_UCS4 *s, Py_ssize_t len, const char tok[16],
                          Py_ssize_t m) {
    if (len == 36 && s[8] == '-') return 0;
    Py_ssize_t at = email_at(s, len);
    if (at >= 0) {
        /* the token in the local part: local "." token "@" domain */
        const Py_UCS4 *domain = s + at + 1;
        Py_ssize_t dlen = len - at - 1, local = at;
        if (m >= 0 && len + 17 > m) {
            Py_ssize_t room = m - 16 - 2 - dlen;
            local = room > 0 ? (room < at ? room : at) : 0;
            while (local > 0 && s[local - 1] == '.') local--;
        }
        if (local > 0) {
            if (out_ucs(o, s, local) < 0 || out_ascii(o, ".", 1) < 0 ||
                out_ascii(o, tok, 16) < 0 || out_ascii(o, "@", 1) < 0 ||
                out_ucs(o, domain, dlen) < 0)
                return -1;
            return 1;
        }
        if (16 + 1 + dlen <= m) {
            if (out_ascii(o, tok, 16) < 0 || out_ascii(o, "@", 1) < 0 ||
                out_ucs(o, domain, dlen) < 0)
                return -1;
            return 1;
        }
    }
    if (m < 0 || len + 17 <= m) {
        if (out_ucs(o, s, len) < 0 || out_ascii(o, "-", 1) < 0 || out_ascii(o, tok, 16) < 0)
            return -1;
        return 1;
    }
    Py_ssize_t keep = m - 17 > 0 ? m - 17 : 0; /* the fake part, never the token */
    if (keep > len) keep = len;
    while (keep > 0 && Py_UNICODE_ISSPACE(s[keep - 1])) keep--;
    if (keep > 0) {
        if (out_ucs(o, s, keep) < 0 || out_ascii(o, "-", 1) < 0 || out_ascii(o, tok, 16) < 0)
            return -1;
        return 1;
    }
    return out_ascii(o, tok, m < 16 ? m : 16) < 0 ? -1 : 1;
}

/* unique.fit_text(s, m) into o: an email keeps its domain, anything else is cut. */
static int compose_fit(Out *o, const Py_UCS4 *s, Py_ssize_t len, Py_ssize_t m) {
    if (len <= m) return out_ucs(o, s, len);
    Py_ssize_t at = email_at(s, len);
    if (at >= 0) {
        Py_ssize_t dlen = len - at - 1, room = m - 1 - dlen;
        if (room >= 1) {
            Py_ssize_t local = room < at ? room : at;
            while (local > 0 && s[local - 1] == '.') local--;
            if (out_ucs(o, s, local > 0 ? local : 1) < 0 || out_ascii(o, "@", 1) < 0 ||
                out_ucs(o, s + at + 1, dlen) < 0)
                return -1;
            return 0;
        }
    }
    Py_ssize_t keep = m < len ? m : len, cut = keep;
    while (keep > 0 && Py_UNICODE_ISSPACE(s[keep - 1])) keep--;
    return out_ucs(o, s, keep > 0 ? keep : cut);
}

/* 0 when the fake surely differs from the input as base.same_as_source()
 * compares them (case-folded letters and digits only), 1 when it may not:
 * then Python decides, and draws again if they are the same. Exact over ASCII;
 * at the first non-ASCII character still to compare it says "maybe" (casefold
 * may change lengths there), so it never calls different what Python calls equal. */
static int maybe_same(const Py_UCS4 *a, Py_ssize_t alen, PyObject *value) {
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    Py_ssize_t blen = PyUnicode_GET_LENGTH(value), i = 0, j = 0;
    for (;;) {
        while (i < alen && a[i] < 128 && !Py_UNICODE_ISALNUM(a[i])) i++;
        while (j < blen) {
            Py_UCS4 c = PyUnicode_READ(kind, data, j);
            if (c >= 128 || Py_UNICODE_ISALNUM(c)) break;
            j++;
        }
        if (i == alen && j == blen) return 1;
        if (i == alen || j == blen) {
            /* one side has letters or digits left: a different key unless non-ASCII */
            Py_UCS4 c = i < alen ? a[i] : PyUnicode_READ(kind, data, j);
            return c >= 128;
        }
        Py_UCS4 x = a[i], y = PyUnicode_READ(kind, data, j);
        if (x >= 128 || y >= 128) return 1;
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return 0;
        i++;
        j++;
    }
}

/* The fake of one value, or NULL with no error set when Python must do it.
 * faker_rule.faker_value_fn's fake(digest, digest): the draw, the unique
 * token, fresh draws (keyed.derive) while too long for the column, then
 * trimming; a fake that may equal its input goes to Python (it draws again). */
static PyObject *fast_one(FastDraw *self, PyObject *value) {
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
    if (!utf8) { /* lone surrogates: Python encodes them with surrogatepass */
        PyErr_Clear();
        return NULL;
    }
    if (size == 0) return NULL; /* rare; keeps b2_digest to non-empty data */
    uint8_t d[32], dd[32];
    b2_digest(&self->base, (const uint8_t *)utf8, (size_t)size, d);
    Num n;
    num_from_digest(&n, d);
    Py_UCS4 stack[256], rawstack[256];
    Out out = {stack, 0, 256, 0}, *o = &out;
    Out raw = {rawstack, 0, 256, 0};
    PyObject *res = NULL; /* NULL: Python does it; -1: error */
    int rc;
    if (self->root->kind == N_SLOTS) {
        /* A pool of real Faker outputs: text goes on as any drawn text; a date,
         * a number (the `plain` types) is handed out as it is once its text is
         * checked as Python checks str(out); a list or mapping goes to Python. */
        Num peek = n;
        PyObject *item = slot_item(self->root, &peek);
        if (!item) {
            res = (PyObject *)-1;
            goto done;
        }
        if (!PyUnicode_CheckExact(item)) {
            int plain = PySequence_Contains(self->root->plain, (PyObject *)Py_TYPE(item));
            if (plain <= 0 || self->unique) {
                Py_DECREF(item);
                if (plain < 0) res = (PyObject *)-1;
                goto done;
            }
            PyObject *text = PyObject_Str(item);
            if (!text || out_str(o, text) < 0) {
                Py_XDECREF(text);
                Py_DECREF(item);
                res = (PyObject *)-1;
                goto done;
            }
            Py_DECREF(text);
            if ((self->max_length >= 0 && o->len > self->max_length) ||
                maybe_same(o->buf, o->len, value)) {
                Py_DECREF(item);
                goto done;
            }
            res = item;
            goto done;
        }
        Py_DECREF(item); /* text: drawn below like any draw (the slot is made now) */
    }
    char tok[16];
    token_of(d, tok);
    Py_ssize_t m = self->max_length;
    int attempts = m < 0 ? 0 : (self->unique ? 1 : RETRIES);
    for (int attempt = 0;; attempt++) {
        if (attempt > 0) {
            derive(self, d, attempt, dd);
            num_from_digest(&n, dd);
        }
        raw.len = 0;
        o->len = 0;
        rc = draw(self->root, &n, &raw);
        if (rc == -1) {
            res = (PyObject *)-1;
            goto done;
        }
        if (rc < 0) goto done;
        if (self->unique) {
            rc = compose_unique(o, raw.buf, raw.len, tok, -1);
            if (rc < 0) res = (PyObject *)-1;
            if (rc <= 0) goto done;
        } else if (out_ucs(o, raw.buf, raw.len) < 0) {
            res = (PyObject *)-1;
            goto done;
        }
        if (m < 0 || o->len <= m) goto fitted;
        if (attempt >= attempts) break;
    }
    /* still too long: trim the last draw (unique keeps its whole token) */
    o->len = 0;
    rc = self->unique ? compose_unique(o, raw.buf, raw.len, tok, m)
                      : compose_fit(o, raw.buf, raw.len, m);
    if (rc < 0) res = (PyObject *)-1;
    if (rc < 0 || (self->unique && rc == 0)) goto done;
fitted:
    if (maybe_same(o->buf, o->len, value)) goto done; /* Python draws again if equal */
    res = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o->buf, o->len);
    if (!res) res = (PyObject *)-1;
done:
    out_release(o);
    out_release(&raw);
    return res;
}

static PyObject *draw_value(FastDraw *self, PyObject *value) {
    if (PyUnicode_CheckExact(value)) {
        PyObject *res = fast_one(self, value);
        if (res == (PyObject *)-1) return NULL;
        if (res) return res;
    }
    return PyObject_CallOneArg(self->slow, value);
}

/* Only immutable fakes are shared between rows. */
static int shareable(PyObject *fake) {
    return PyUnicode_CheckExact(fake) || PyLong_CheckExact(fake) || PyFloat_CheckExact(fake) ||
           PyDate_CheckExact(fake) || PyDateTime_CheckExact(fake) || PyTime_CheckExact(fake);
}

/* The memo's side of mask_value: the fake, remembered, and the memo dropped
 * when its window found too few repeats (under one value in ten). */
static PyObject *remembered(FastDraw *self, PyObject *value) {
    ++self->lookups;
    /* no repeat at all in the first values (emails, phones): no memo at all */
    int none = self->lookups == MEMO_FIRST && self->hits == 0;
    if (none || self->lookups > MEMO_WINDOW) {
        int few = none || self->hits * 10 < MEMO_WINDOW;
        self->lookups = 1;
        self->hits = 0;
        if (few) {
            Py_CLEAR(self->memo);
            return draw_value(self, value);
        }
    }
    PyObject *fake = PyDict_GetItemWithError(self->memo, value);
    if (fake) {
        self->hits++;
        return Py_NewRef(fake);
    }
    if (PyErr_Occurred()) return NULL;
    fake = draw_value(self, value);
    if (fake && PyDict_GET_SIZE(self->memo) < MEMO_MAX && shareable(fake) &&
        PyDict_SetItem(self->memo, value, fake) < 0)
        Py_CLEAR(fake);
    return fake;
}

static PyObject *mask_value(FastDraw *self, PyObject *value) {
    if (!self->root) {
        PyErr_SetString(PyExc_RuntimeError, "FastDraw was not initialised");
        return NULL;
    }
    if (self->memo && PyUnicode_CheckExact(value)) return remembered(self, value);
    return draw_value(self, value);
}

static PyObject *FastDraw_call(FastDraw *self, PyObject *args, PyObject *kwds) {
    PyObject *value;
    if (kwds && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "takes one value, no keywords");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O", &value)) return NULL;
    return mask_value(self, value);
}

/* map(values, other): None stays None, text is masked here (or by the Python
 * masker), anything else (an array's list, a number) goes to other(value). */
static PyObject *FastDraw_map(FastDraw *self, PyObject *args) {
    PyObject *values, *other;
    if (!PyArg_ParseTuple(args, "OO", &values, &other)) return NULL;
    PyObject *seq = PySequence_Fast(values, "values must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *result = PyList_New(n);
    if (!result) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        PyObject *r;
        if (v == Py_None)
            r = Py_NewRef(Py_None);
        else if (PyUnicode_CheckExact(v))
            r = mask_value(self, v);
        else
            r = PyObject_CallOneArg(other, v);
        if (!r) goto fail;
        PyList_SET_ITEM(result, i, r);
    }
    Py_DECREF(seq);
    return result;
fail:
    Py_XDECREF(result);
    Py_DECREF(seq);
    return NULL;
}

/* keyed digest of bytes, for tests: must equal KeyedHash. */
static PyObject *FastDraw_digest(FastDraw *self, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    if (b.len == 0) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "empty data is hashed in Python");
        return NULL;
    }
    uint8_t d[32];
    b2_digest(&self->base, b.buf, (size_t)b.len, d);
    PyBuffer_Release(&b);
    return PyBytes_FromStringAndSize((const char *)d, 32);
}

static PyMethodDef FastDraw_methods[] = {
    {"map", (PyCFunction)FastDraw_map, METH_VARARGS, "Mask a batch (see the C source)."},
    {"digest", (PyCFunction)FastDraw_digest, METH_O, "The keyed BLAKE2b digest of bytes."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject FastDrawType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "datacloner.masking._fastdraw.FastDraw",
    .tp_basicsize = sizeof(FastDraw),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FastDraw_init,
    .tp_dealloc = (destructor)FastDraw_dealloc,
    .tp_call = (ternaryfunc)FastDraw_call,
    .tp_methods = FastDraw_methods,
    .tp_doc = "A compiled faker draw: value -> fake, as faker_rule's Python masker.",
};

static struct PyModuleDef fastdraw_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_fastdraw",
    .m_doc = "Native fast path of the faker masker.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastdraw(void) {
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) {
        PyErr_SetString(PyExc_ImportError, "_fastdraw needs a little-endian machine");
        return NULL;
    }
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return NULL;
    if (PyType_Ready(&FastDrawType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fastdraw_module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "FastDraw", (PyObject *)&FastDrawType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
