/* plain_numbers(text): True when every number in a JSON text is an integer of
 * at most 18 digits (no fraction, no exponent).
 *
 * Such a text parses to the same objects with orjson as with the json module
 * the json rule uses (which makes fractions Decimal, to keep their digits):
 * json_rule.py asks this before it lets orjson parse a document. Strings are
 * skipped with their escapes; what is not JSON is left to the parsers, which
 * both refuse it.
 *
 * mask_paths(texts, paths, batches, encode): the json rule's fast path for
 * jsonb text (json_rule.py). It finds the string at each plain path (keys
 * only) in every document, masks each path's strings in one call of its batch
 * masker, and splices the fakes into the text in place of the originals: no
 * parse into Python objects and no re-serialisation. The text's layout is the
 * source's, not compact; jsonb stores the same value either way. A document
 * this cannot do exactly as the Python path would (a non-string value at a
 * path, a repeated key, text that is not JSON, a fake with a lone surrogate)
 * comes back as None, for the Python path to do. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *plain_numbers(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "plain_numbers() needs a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '"') {
            for (i++; i < n; i++) {
                Py_UCS4 s = PyUnicode_READ(kind, data, i);
                if (s == '\\')
                    i++;
                else if (s == '"')
                    break;
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            Py_ssize_t digits = 0;
            if (c == '-')
                i++;
            while (i < n) {
                Py_UCS4 d = PyUnicode_READ(kind, data, i);
                if (d < '0' || d > '9')
                    break;
                digits++;
                i++;
            }
            if (digits > 18)
                Py_RETURN_FALSE;
            if (i < n) {
                Py_UCS4 d = PyUnicode_READ(kind, data, i);
                if (d == '.' || d == 'e' || d == 'E')
                    Py_RETURN_FALSE;
            }
        } else
            i++;
    }
    Py_RETURN_TRUE;
}


/* ---- mask_paths ---------------------------------------------------------- */

#define MAX_DEPTH 512

typedef struct {
    PyObject *s;
    int kind;
    const void *data;
    Py_ssize_t n;
} Text;

#define AT(t, i) PyUnicode_READ((t)->kind, (t)->data, (i))

static int hexval(Py_UCS4 c) {
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

static int hex4(const Text *t, Py_ssize_t i, Py_UCS4 *out) {
    if (i + 4 > t->n)
        return -1;
    Py_UCS4 v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(AT(t, i + k));
        if (h < 0)
            return -1;
        v = (v << 4) | (Py_UCS4)h;
    }
    *out = v;
    return 0;
}

/* The string token at i (its opening quote): the index after its closing quote,
 * or -1 when it is not a valid JSON string or holds a lone surrogate. With
 * ``decoded``, its value as a new str. */
static Py_ssize_t scan_string_raw(const Text *t, Py_ssize_t i, PyObject **decoded) {
    Py_ssize_t start = ++i, escapes = 0;
    for (; i < t->n; i++) {
        Py_UCS4 c = AT(t, i);
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c >= 0xD800 && c <= 0xDFFF)
            return -1;
        if (c == '\\') {
            escapes++;
            if (++i >= t->n)
                return -1;
            Py_UCS4 e = AT(t, i);
            if (e == 'u') {
                Py_UCS4 u;
                if (hex4(t, i + 1, &u) < 0)
                    return -1;
                i += 4;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return -1;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    Py_UCS4 lo;
                    if (i + 2 >= t->n || AT(t, i + 1) != '\\' || AT(t, i + 2) != 'u' ||
                        hex4(t, i + 3, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                        return -1;
                    i += 6;
                }
            } else if (!(e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                         e == 'r' || e == 't'))
                return -1;
        }
    }
    if (i >= t->n)
        return -1;
    Py_ssize_t end = i; /* the closing quote */
    if (decoded != NULL) {
        if (escapes == 0) { /* the common case: a slice of the text */
            *decoded = PyUnicode_Substring(t->s, start, end);
            return *decoded == NULL ? -2 : end + 1;
        }
        Py_ssize_t len = end - start;
        Py_UCS4 *buf = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(len > 0 ? len : 1));
        if (buf == NULL) {
            PyErr_NoMemory();
            return -2;
        }
        Py_ssize_t k = 0;
        for (Py_ssize_t j = start; j < end; j++) {
            Py_UCS4 c = AT(t, j);
            if (c != '\\') {
                buf[k++] = c;
                continue;
            }
            Py_UCS4 e = AT(t, ++j);
            switch (e) {
            case 'b': buf[k++] = '\b'; break;
            case 'f': buf[k++] = '\f'; break;
            case 'n': buf[k++] = '\n'; break;
            case 'r': buf[k++] = '\r'; break;
            case 't': buf[k++] = '\t'; break;
            case 'u': {
                Py_UCS4 u, lo;
                hex4(t, j + 1, &u);
                j += 4;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    hex4(t, j + 3, &lo);
                    j += 6;
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                }
                buf[k++] = u;
                break;
            }
            default: buf[k++] = e;
            }
        }
        *decoded = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, k);
        PyMem_Free(buf);
        if (*decoded == NULL)
            return -2;
    }
    return end + 1;
}


/* The walk of one document, once for all paths, written once for each of
 * str's three storage kinds (reading a character through PyUnicode_READ's
 * switch cost most of the time). Hits: for each path, the string token at its
 * end (FOUND_STRING, with start and end), FOUND_NONE (missing, or null, which
 * stays null) or FOUND_OTHER (a number, a boolean, an object or an array: the
 * Python path masks those). Returns the index after the value at i, or -1 when
 * the text is not JSON or a key on a path repeats (jsonb never repeats one;
 * json keeps the last). */
enum { FOUND_NONE = 0, FOUND_STRING = 1, FOUND_OTHER = 2 };

typedef struct {
    Py_ssize_t start, end;
    int status;
} Hit;

#define MAX_PATHS 64

#define DEFINE_WALK(S, T)                                                                    \
    static Py_ssize_t ws_##S(const T *d, Py_ssize_t n, Py_ssize_t i) {                       \
        while (i < n && (d[i] == ' ' || d[i] == '\n' || d[i] == '\t' || d[i] == '\r'))        \
            i++;                                                                              \
        return i;                                                                             \
    }                                                                                         \
    /* the string token at i (its quote): the index after it, or -1 */                       \
    static Py_ssize_t str_##S(const T *d, Py_ssize_t n, Py_ssize_t i, int *escaped) {         \
        for (i++; i < n; i++) {                                                               \
            T c = d[i];                                                                       \
            if (c == '"')                                                                     \
                return i + 1;                                                                 \
            if (c == '\\') {                                                                  \
                *escaped = 1;                                                                 \
                i++;                                                                          \
            } else if (c < 0x20)                                                              \
                return -1;                                                                    \
        }                                                                                     \
        return -1;                                                                            \
    }                                                                                         \
    static Py_ssize_t walk_##S(const T *d, Py_ssize_t n, Py_ssize_t i, int depth,            \
                               PyObject *paths, Py_ssize_t np, uint64_t active, Hit *hits) {  \
        if (i >= n || depth > MAX_DEPTH)                                                      \
            return -1;                                                                        \
        T c = d[i];                                                                           \
        int escaped = 0;                                                                      \
        if (c == '"')                                                                         \
            return str_##S(d, n, i, &escaped);                                                \
        if (c == '{' || c == '[') {                                                           \
            T close = c == '{' ? '}' : ']';                                                   \
            uint64_t matched = 0; /* the paths a key of this object matched */               \
            i = ws_##S(d, n, i + 1);                                                          \
            if (i < n && d[i] == close)                                                       \
                return i + 1;                                                                 \
            for (;;) {                                                                        \
                uint64_t here = 0; /* the active paths this member is on */                  \
                if (c == '{') {                                                               \
                    if (i >= n || d[i] != '"')                                                \
                        return -1;                                                            \
                    escaped = 0;                                                              \
                    Py_ssize_t kend = str_##S(d, n, i, &escaped);                             \
                    if (kend < 0)                                                             \
                        return -1;                                                            \
                    for (Py_ssize_t p = 0; p < np && active; p++) {                           \
                        if (!(active >> p & 1))                                               \
                            continue;                                                         \
                        PyObject *key = PyTuple_GET_ITEM(PyList_GET_ITEM(paths, p), depth);   \
                        if (escaped) {                                                        \
                            if (escaped_key_equals(d, n, i, key, sizeof(T)))                     \
                                here |= (uint64_t)1 << p;                                     \
                            continue;                                                         \
                        }                                                                     \
                        Py_ssize_t len = kend - i - 2;                                        \
                        if (len != PyUnicode_GET_LENGTH(key))                                 \
                            continue;                                                         \
                        int kk = PyUnicode_KIND(key);                                         \
                        const void *kd = PyUnicode_DATA(key);                                 \
                        Py_ssize_t j = 0;                                                     \
                        while (j < len && d[i + 1 + j] == PyUnicode_READ(kk, kd, j))           \
                            j++;                                                              \
                        if (j == len)                                                         \
                            here |= (uint64_t)1 << p;                                         \
                    }                                                                         \
                    if (here & matched)                                                       \
                        return -1; /* a repeated key on a path */                            \
                    matched |= here;                                                          \
                    i = ws_##S(d, n, kend);                                                   \
                    if (i >= n || d[i] != ':')                                                \
                        return -1;                                                            \
                    i = ws_##S(d, n, i + 1);                                                  \
                }                                                                             \
                if (i >= n)                                                                   \
                    return -1;                                                                \
                uint64_t deeper = 0;                                                          \
                for (Py_ssize_t p = 0; p < np && here; p++) {                                 \
                    if (!(here >> p & 1))                                                     \
                        continue;                                                             \
                    if (PyTuple_GET_SIZE(PyList_GET_ITEM(paths, p)) > depth + 1) {            \
                        if (d[i] == '{')                                                      \
                            deeper |= (uint64_t)1 << p;                                       \
                    } else if (d[i] == '"') {                                                 \
                        hits[p].status = FOUND_STRING;                                        \
                        hits[p].start = i;                                                    \
                    } else if (d[i] != 'n')                                                   \
                        hits[p].status = FOUND_OTHER;                                         \
                }                                                                             \
                Py_ssize_t vend = walk_##S(d, n, i, depth + 1, paths, np, deeper, hits);      \
                if (vend < 0)                                                                 \
                    return -1;                                                                \
                for (Py_ssize_t p = 0; p < np && here; p++)                                   \
                    if ((here >> p & 1) && hits[p].status == FOUND_STRING &&                  \
                        hits[p].start == i)                                                   \
                        hits[p].end = vend;                                                   \
                i = ws_##S(d, n, vend);                                                       \
                if (i >= n)                                                                   \
                    return -1;                                                                \
                if (d[i] == close)                                                            \
                    return i + 1;                                                             \
                if (d[i] != ',')                                                              \
                    return -1;                                                                \
                i = ws_##S(d, n, i + 1);                                                      \
            }                                                                                 \
        }                                                                                     \
        if (c == 't' || c == 'f' || c == 'n') {                                               \
            const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";               \
            Py_ssize_t len = (Py_ssize_t)strlen(word);                                        \
            if (i + len > n)                                                                  \
                return -1;                                                                    \
            for (Py_ssize_t k = 0; k < len; k++)                                              \
                if (d[i + k] != (T)word[k])                                                   \
                    return -1;                                                                \
            return i + len;                                                                   \
        }                                                                                     \
        if (c == '-' || (c >= '0' && c <= '9')) {                                             \
            Py_ssize_t j = i;                                                                 \
            while (j < n && ((d[j] >= '0' && d[j] <= '9') || d[j] == '-' || d[j] == '+' ||    \
                             d[j] == '.' || d[j] == 'e' || d[j] == 'E'))                      \
                j++;                                                                          \
            return j;                                                                         \
        }                                                                                     \
        return -1;                                                                            \
    }

/* A key token with escapes (rare) against a path's key: decoded, then compared. */
static int escaped_key_equals(const void *data, Py_ssize_t n, Py_ssize_t i, PyObject *key,
                              size_t width) {
    int kind = width == 1 ? PyUnicode_1BYTE_KIND
               : width == 2 ? PyUnicode_2BYTE_KIND
                            : PyUnicode_4BYTE_KIND;
    Text t = {NULL, kind, data, n};
    PyObject *decoded = NULL;
    if (scan_string_raw(&t, i, &decoded) < 0) {
        PyErr_Clear();
        return 0; /* not a valid string: the walk refuses the text anyway */
    }
    int eq = PyUnicode_Compare(decoded, key) == 0;
    Py_DECREF(decoded);
    return eq;
}

DEFINE_WALK(1, Py_UCS1)
DEFINE_WALK(2, Py_UCS2)
DEFINE_WALK(4, Py_UCS4)

/* The hits of every path in one document; -1: the Python path does it. */
static int walk_document(PyObject *s, PyObject *paths, Py_ssize_t np, Hit *hits) {
    for (Py_ssize_t p = 0; p < np; p++)
        hits[p].status = FOUND_NONE;
    uint64_t all = np == 64 ? ~(uint64_t)0 : (((uint64_t)1 << np) - 1);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), end;
    const void *d = PyUnicode_DATA(s);
    switch (PyUnicode_KIND(s)) {
    case PyUnicode_1BYTE_KIND:
        end = walk_1(d, n, ws_1(d, n, 0), 0, paths, np, all, hits);
        end = end < 0 ? -1 : ws_1(d, n, end);
        break;
    case PyUnicode_2BYTE_KIND:
        end = walk_2(d, n, ws_2(d, n, 0), 0, paths, np, all, hits);
        end = end < 0 ? -1 : ws_2(d, n, end);
        break;
    default:
        end = walk_4(d, n, ws_4(d, n, 0), 0, paths, np, all, hits);
        end = end < 0 ? -1 : ws_4(d, n, end);
    }
    if (end != n)
        return -1;
    for (Py_ssize_t p = 0; p < np; p++)
        if (hits[p].status == FOUND_OTHER)
            return -1;
    return 0;
}

/* A str as a JSON string token; NULL with no error set when it holds a lone
 * surrogate (the Python path decides what that gives). */
static PyObject *encode_string(PyObject *s) {
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), extra = 2;
    Py_UCS4 maxchar = 0x7f;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF)
            return NULL;
        if (c == '"' || c == '\\')
            extra += 1;
        else if (c < 0x20)
            extra += 5;
        if (c > maxchar)
            maxchar = c;
    }
    PyObject *out = PyUnicode_New(n + extra, maxchar);
    if (out == NULL)
        return NULL;
    int okind = PyUnicode_KIND(out);
    void *odata = PyUnicode_DATA(out);
    Py_ssize_t k = 0;
    PyUnicode_WRITE(okind, odata, k++, '"');
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '"' || c == '\\') {
            PyUnicode_WRITE(okind, odata, k++, '\\');
            PyUnicode_WRITE(okind, odata, k++, c);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            PyUnicode_WRITE(okind, odata, k++, '\\');
            PyUnicode_WRITE(okind, odata, k++, 'u');
            PyUnicode_WRITE(okind, odata, k++, '0');
            PyUnicode_WRITE(okind, odata, k++, '0');
            PyUnicode_WRITE(okind, odata, k++, hex[c >> 4]);
            PyUnicode_WRITE(okind, odata, k++, hex[c & 15]);
        } else
            PyUnicode_WRITE(okind, odata, k++, c);
    }
    PyUnicode_WRITE(okind, odata, k++, '"');
    return out;
}

typedef struct {
    Py_ssize_t start, end;
    PyObject *value; /* the string found (owned) */
    PyObject *token; /* its fake as JSON text (owned) */
} Edit;

static PyObject *mask_paths(PyObject *self, PyObject *args) {
    PyObject *texts, *paths, *batches, *encode;
    if (!PyArg_ParseTuple(args, "O!O!O!O", &PyList_Type, &texts, &PyList_Type, &paths,
                          &PyList_Type, &batches, &encode))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(texts), np = PyList_GET_SIZE(paths);
    if (PyList_GET_SIZE(batches) != np) {
        PyErr_SetString(PyExc_ValueError, "one batch masker per path");
        return NULL;
    }
    for (Py_ssize_t p = 0; p < np; p++) {
        PyObject *path = PyList_GET_ITEM(paths, p);
        if (!PyTuple_Check(path) || PyTuple_GET_SIZE(path) == 0) {
            PyErr_SetString(PyExc_TypeError, "a path is a non-empty tuple of str");
            return NULL;
        }
        for (Py_ssize_t d = 0; d < PyTuple_GET_SIZE(path); d++)
            if (!PyUnicode_Check(PyTuple_GET_ITEM(path, d))) {
                PyErr_SetString(PyExc_TypeError, "a path is a non-empty tuple of str");
                return NULL;
            }
    }
    if (np > MAX_PATHS) {
        PyErr_Format(PyExc_ValueError, "at most %d paths", MAX_PATHS);
        return NULL;
    }
    Hit hits[MAX_PATHS];
    PyObject *out = NULL, *values = NULL, *masked = NULL;
    /* per document: 0 ok, 1 for the Python path; per (doc, path): the span */
    char *fallback = PyMem_Calloc((size_t)(n ? n : 1), 1);
    Edit *edits = PyMem_Calloc((size_t)(n * np > 0 ? n * np : 1), sizeof(Edit));
    Py_ssize_t *where = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n ? n : 1));
    if (fallback == NULL || edits == NULL || where == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n * np; i++)
        edits[i].start = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(s)) {
            fallback[i] = 1;
            continue;
        }
        if (walk_document(s, paths, np, hits) < 0) {
            fallback[i] = 1;
            continue;
        }
        Text t = {s, PyUnicode_KIND(s), PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s)};
        for (Py_ssize_t p = 0; p < np && !fallback[i]; p++) {
            if (hits[p].status != FOUND_STRING)
                continue;
            Edit *ed = &edits[i * np + p];
            Py_ssize_t got = scan_string_raw(&t, hits[p].start, &ed->value);
            if (got == -2)
                goto done;
            if (got < 0) /* a bad escape or a lone surrogate: the Python path decides */
                fallback[i] = 1;
            ed->start = hits[p].start;
            ed->end = hits[p].end;
        }
    }
    for (Py_ssize_t p = 0; p < np; p++) {
        Py_ssize_t count = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            if (!fallback[i] && edits[i * np + p].value != NULL)
                where[count++] = i;
        if (count == 0)
            continue;
        values = PyList_New(count);
        if (values == NULL)
            goto done;
        for (Py_ssize_t k = 0; k < count; k++) {
            PyObject *v = edits[where[k] * np + p].value;
            Py_INCREF(v);
            PyList_SET_ITEM(values, k, v);
        }
        masked = PyObject_CallOneArg(PyList_GET_ITEM(batches, p), values);
        if (masked == NULL)
            goto done;
        if (!PyList_Check(masked) || PyList_GET_SIZE(masked) != count) {
            PyErr_SetString(PyExc_ValueError, "a batch masker gave another number of values");
            goto done;
        }
        for (Py_ssize_t k = 0; k < count; k++) {
            PyObject *fake = PyList_GET_ITEM(masked, k), *token;
            if (fake == Py_None)
                token = PyUnicode_FromString("null");
            else if (PyUnicode_CheckExact(fake)) {
                token = encode_string(fake);
                if (token == NULL && !PyErr_Occurred()) {
                    fallback[where[k]] = 1;
                    continue;
                }
            } else
                token = PyObject_CallOneArg(encode, fake);
            if (token == NULL)
                goto done;
            if (!PyUnicode_Check(token)) {
                Py_DECREF(token);
                PyErr_SetString(PyExc_TypeError, "encode() must give a str");
                goto done;
            }
            edits[where[k] * np + p].token = token;
        }
        Py_CLEAR(values);
        Py_CLEAR(masked);
    }
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(texts, i), *piece;
        if (fallback[i]) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(out, i, Py_None);
            continue;
        }
        /* this document's edits in text order (a few paths: insertion sort) */
        Edit sorted[MAX_PATHS]; /* np <= MAX_PATHS edits at most */
        Py_ssize_t m = 0;
        for (Py_ssize_t p = 0; p < np; p++) {
            Edit ed = edits[i * np + p];
            if (ed.start < 0 || ed.token == NULL)
                continue;
            Py_ssize_t k = m++;
            while (k > 0 && sorted[k - 1].start > ed.start) {
                sorted[k] = sorted[k - 1];
                k--;
            }
            sorted[k] = ed;
        }
        if (m == 0) {
            Py_INCREF(s);
            PyList_SET_ITEM(out, i, s);
            continue;
        }
        PyObject *parts = PyList_New(0);
        if (parts == NULL)
            goto done;
        Py_ssize_t at = 0;
        for (Py_ssize_t k = 0; k < m; k++) {
            piece = PyUnicode_Substring(s, at, sorted[k].start);
            if (piece == NULL || PyList_Append(parts, piece) < 0 ||
                PyList_Append(parts, sorted[k].token) < 0) {
                Py_XDECREF(piece);
                Py_DECREF(parts);
                goto done;
            }
            Py_DECREF(piece);
            at = sorted[k].end;
        }
        piece = PyUnicode_Substring(s, at, PyUnicode_GET_LENGTH(s));
        if (piece == NULL || PyList_Append(parts, piece) < 0) {
            Py_XDECREF(piece);
            Py_DECREF(parts);
            goto done;
        }
        Py_DECREF(piece);
        PyObject *empty = PyUnicode_New(0, 0);
        PyObject *joined = empty == NULL ? NULL : PyUnicode_Join(empty, parts); /* NULL: a space */
        Py_XDECREF(empty);
        Py_DECREF(parts);
        if (joined == NULL)
            goto done;
        PyList_SET_ITEM(out, i, joined);
    }
done:
    if (PyErr_Occurred())
        Py_CLEAR(out);
    Py_XDECREF(values);
    Py_XDECREF(masked);
    if (edits != NULL)
        for (Py_ssize_t i = 0; i < n * np; i++) {
            Py_XDECREF(edits[i].value);
            Py_XDECREF(edits[i].token);
        }
    PyMem_Free(edits);
    PyMem_Free(fallback);
    PyMem_Free(where);
    return out;
}

static PyMethodDef methods[] = {
    {"plain_numbers", plain_numbers, METH_O,
     "plain_numbers(text) -> bool: every number in the JSON text is an integer of at "
     "most 18 digits."},
    {"mask_paths", mask_paths, METH_VARARGS,
     "mask_paths(texts, paths, batches, encode) -> list: each text with the strings at "
     "the plain paths replaced by their batch masker's fakes (None: a text for the "
     "Python path)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsonscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jsonscan(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "MAX_PATHS", MAX_PATHS) < 0)
        Py_CLEAR(m);
    return m;
}
