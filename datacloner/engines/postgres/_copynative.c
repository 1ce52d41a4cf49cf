/* Native helpers of the COPY text codec (copytext.py). A block of COPY text
 * stays one bytes object: `pick` hands over only the fields a masker reads,
 * `splice` writes the block again with masked fields replaced, and every
 * other field is copied byte for byte, never made into an object. The
 * decoders and encoders of masked fields do text here (the escapes COPY
 * writes included) and hand every other case (an escape PostgreSQL does not
 * write, a value that is not text, bytes that are not UTF-8) to the Python
 * function, so outputs and errors are the Python ones. Each function does exactly what its Python twin
 * in copytext.py does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdio.h>
#include <string.h>

/* Which requested slot each field index of a row fills (-1: none); columns
 * must be distinct field indexes below width. Returns a PyMem buffer or NULL. */
static Py_ssize_t *slots_of(PyObject *columns, Py_ssize_t width) {
    if (width < 1) {
        PyErr_SetString(PyExc_ValueError, "a row has at least one field");
        return NULL;
    }
    Py_ssize_t *slot = PyMem_Malloc((size_t)width * sizeof(Py_ssize_t));
    if (!slot) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < width; i++) slot[i] = -1;
    Py_ssize_t n = PyList_GET_SIZE(columns);
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t c = PyLong_AsSsize_t(PyList_GET_ITEM(columns, k));
        if (c == -1 && PyErr_Occurred()) goto fail;
        if (c < 0 || c >= width || slot[c] != -1) {
            PyErr_SetString(PyExc_ValueError, "columns must be distinct fields of the row");
            goto fail;
        }
        slot[c] = k;
    }
    return slot;
fail:
    PyMem_Free(slot);
    return NULL;
}

static int check_ends_at_row(const char *data, Py_ssize_t len) {
    if (len && data[len - 1] != '\n') {
        PyErr_SetString(PyExc_ValueError, "COPY data ended in the middle of a row");
        return -1;
    }
    return 0;
}

static void wrong_width(Py_ssize_t row, Py_ssize_t width) {
    PyErr_Format(PyExc_ValueError, "COPY row %zd does not have %zd fields", row + 1, width);
}

/* pick(data, width, columns) -> [[field of column c of each row] for c in columns]:
 * data is whole rows of `width` fields each. */
static PyObject *pick(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b;
    Py_ssize_t width;
    PyObject *columns;
    if (!PyArg_ParseTuple(args, "y*nO!", &b, &width, &PyList_Type, &columns)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t *slot = slots_of(columns, width);
    if (!slot) goto done;
    const char *data = b.buf;
    Py_ssize_t len = b.len, ncols = PyList_GET_SIZE(columns);
    if (check_ends_at_row(data, len) < 0) goto done;
    const char *p = data, *end = data + len;
    Py_ssize_t nrows = 0;
    /* data ends with a newline (checked): every memchr finds one */
    for (const char *q = p; q < end; nrows++) q = (const char *)memchr(q, '\n', (size_t)(end - q)) + 1;
    out = PyList_New(ncols);
    if (!out) goto done;
    for (Py_ssize_t k = 0; k < ncols; k++) {
        PyObject *col = PyList_New(nrows); /* filled below, row by row */
        if (!col) goto fail;
        PyList_SET_ITEM(out, k, col);
    }
    for (Py_ssize_t row = 0; p < end; row++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        Py_ssize_t field = 0;
        for (;;) {
            const char *tab = memchr(p, '\t', (size_t)(nl - p));
            const char *stop = tab ? tab : nl;
            if (slot[field] >= 0) {
                PyObject *f = PyBytes_FromStringAndSize(p, stop - p);
                if (!f) goto fail;
                PyList_SET_ITEM(PyList_GET_ITEM(out, slot[field]), row, f);
            }
            field++;
            p = stop + 1;
            if (!tab) break;
            if (field >= width) {
                wrong_width(row, width);
                goto fail;
            }
        }
        if (field != width) {
            wrong_width(row, width);
            goto fail;
        }
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyMem_Free(slot);
    PyBuffer_Release(&b);
    return out;
}

/* splice(data, width, columns, values, keep) -> bytes: data (whole rows of
 * `width` fields) with field columns[k] of row r replaced by values[k][r]
 * (bytes; None keeps the field), and only the first `keep` fields of each row. */
static PyObject *splice(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b;
    Py_ssize_t width, keep;
    PyObject *columns, *values, *out = NULL;
    if (!PyArg_ParseTuple(args, "y*nO!O!n", &b, &width, &PyList_Type, &columns, &PyList_Type,
                          &values, &keep))
        return NULL;
    Py_ssize_t *slot = slots_of(columns, width);
    if (!slot) goto done;
    const char *data = b.buf;
    Py_ssize_t len = b.len, ncols = PyList_GET_SIZE(columns), nrows = -1, extra = 0;
    if (check_ends_at_row(data, len) < 0) goto done;
    if (keep < 1 || keep > width) {
        PyErr_SetString(PyExc_ValueError, "keep is between 1 and width");
        goto done;
    }
    if (PyList_GET_SIZE(values) != ncols) {
        PyErr_SetString(PyExc_ValueError, "one list of values per column");
        goto done;
    }
    /* an upper bound of the output: every byte of data, plus every new value */
    for (Py_ssize_t k = 0; k < ncols; k++) {
        PyObject *col = PyList_GET_ITEM(values, k);
        if (!PyList_Check(col) || (nrows >= 0 && PyList_GET_SIZE(col) != nrows)) {
            PyErr_SetString(PyExc_ValueError, "one value per row in each column");
            goto done;
        }
        nrows = PyList_GET_SIZE(col);
        for (Py_ssize_t r = 0; r < nrows; r++) {
            PyObject *v = PyList_GET_ITEM(col, r);
            if (v == Py_None) continue;
            if (!PyBytes_Check(v)) {
                PyErr_SetString(PyExc_TypeError, "a new field must be bytes");
                goto done;
            }
            extra += PyBytes_GET_SIZE(v);
        }
    }
    out = PyBytes_FromStringAndSize(NULL, len + extra);
    if (!out) goto done;
    char *w = PyBytes_AS_STRING(out);
    const char *p = data, *end = data + len;
    Py_ssize_t row = 0;
    for (; p < end; row++) {
        if (nrows >= 0 && row >= nrows) {
            PyErr_SetString(PyExc_ValueError, "one value per row in each column");
            goto fail;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        Py_ssize_t field = 0;
        for (;;) {
            const char *tab = memchr(p, '\t', (size_t)(nl - p));
            const char *stop = tab ? tab : nl;
            if (field >= width) {
                wrong_width(row, width);
                goto fail;
            }
            if (field < keep) {
                if (field) *w++ = '\t';
                PyObject *v = slot[field] >= 0
                                  ? PyList_GET_ITEM(PyList_GET_ITEM(values, slot[field]), row)
                                  : Py_None;
                if (v != Py_None) {
                    memcpy(w, PyBytes_AS_STRING(v), (size_t)PyBytes_GET_SIZE(v));
                    w += PyBytes_GET_SIZE(v);
                } else {
                    memcpy(w, p, (size_t)(stop - p));
                    w += stop - p;
                }
            }
            field++;
            p = stop + 1;
            if (!tab) break;
        }
        if (field != width) {
            wrong_width(row, width);
            goto fail;
        }
        *w++ = '\n';
    }
    if (nrows >= 0 && row != nrows) {
        PyErr_SetString(PyExc_ValueError, "one value per row in each column");
        goto fail;
    }
    _PyBytes_Resize(&out, w - PyBytes_AS_STRING(out)); /* NULL with an error if it fails */
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyMem_Free(slot);
    PyBuffer_Release(&b);
    return out;
}

static PyObject *NULL_FIELD; /* b"\\N", shared by every NULL encode_values writes */

/* The text of a field with the escapes COPY writes (\\b \\f \\n \\r \\t \\v and a
 * doubled backslash) undone, or NULL with no error set for any other escape
 * or bytes that are not UTF-8: the Python decode handles (or refuses) those.
 * Escapes are ASCII and never part of a multibyte character, so undoing them
 * before decoding gives what decoding before undoing them gives. */
static PyObject *unescaped(const char *s, Py_ssize_t n) {
    char small[512];
    small[0] = 0; /* never read before written; quiets -Wmaybe-uninitialized */
    char *buf = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n);
    if (!buf) return NULL;
    Py_ssize_t w = 0;
    PyObject *v = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            if (++i == n) goto done;
            switch (s[i]) {
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'n': c = '\n'; break;
                case 'r': c = '\r'; break;
                case 't': c = '\t'; break;
                case 'v': c = '\v'; break;
                case '\\': c = '\\'; break;
                default: goto done;
            }
        }
        buf[w++] = c;
    }
    v = PyUnicode_DecodeUTF8(buf, w, NULL);
    if (!v) PyErr_Clear();
done:
    if (buf != small) PyMem_Free(buf);
    return v;
}

/* decode_fields(fields, decode) -> [decode(f) for f in fields]. */
static PyObject *decode_fields(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *fields, *fallback;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &fields, &fallback)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(fields);
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *f = PyList_GET_ITEM(fields, r);
        PyObject *v = NULL;
        if (PyBytes_CheckExact(f)) {
            const char *s = PyBytes_AS_STRING(f);
            Py_ssize_t fl = PyBytes_GET_SIZE(f);
            if (fl == 2 && s[0] == '\\' && s[1] == 'N') {
                v = Py_NewRef(Py_None);
            } else if (!memchr(s, '\\', (size_t)fl)) {
                v = PyUnicode_DecodeUTF8(s, fl, NULL);
                if (!v) PyErr_Clear(); /* Python raises its own error below */
            } else {
                v = unescaped(s, fl);
            }
        }
        if (!v) v = PyObject_CallOneArg(fallback, f);
        if (!v) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, r, v);
    }
    return out;
}

/* encode_values(values, encode) -> [encode(v) for v in values]. */
static PyObject *encode_values(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *values, *fallback;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &values, &fallback)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(values);
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *v = PyList_GET_ITEM(values, r);
        PyObject *e = NULL;
        if (v == Py_None) {
            e = Py_NewRef(NULL_FIELD);
        } else if (PyDate_CheckExact(v)) { /* date.isoformat(), as copytext._text */
            char iso[16];
            int len = snprintf(iso, sizeof iso, "%04d-%02d-%02d", PyDateTime_GET_YEAR(v),
                               PyDateTime_GET_MONTH(v), PyDateTime_GET_DAY(v));
            if (!(e = PyBytes_FromStringAndSize(iso, len))) {
                Py_DECREF(out);
                return NULL;
            }
        } else if (PyUnicode_CheckExact(v)) {
            Py_ssize_t size;
            const char *u = PyUnicode_AsUTF8AndSize(v, &size);
            if (!u) {
                PyErr_Clear(); /* lone surrogates: Python raises its own error */
            } else {
                Py_ssize_t special = 0; /* each written as two bytes */
                for (Py_ssize_t k = 0; k < size; k++) {
                    char c = u[k];
                    special += (c == '\\' || c == '\n' || c == '\r' || c == '\t');
                }
                if (!(e = PyBytes_FromStringAndSize(special ? NULL : u, size + special))) {
                    Py_DECREF(out);
                    return NULL;
                }
                if (special) {
                    char *w = PyBytes_AS_STRING(e);
                    for (Py_ssize_t k = 0; k < size; k++) {
                        char c = u[k];
                        switch (c) {
                            case '\\': *w++ = '\\'; *w++ = '\\'; break;
                            case '\n': *w++ = '\\'; *w++ = 'n'; break;
                            case '\r': *w++ = '\\'; *w++ = 'r'; break;
                            case '\t': *w++ = '\\'; *w++ = 't'; break;
                            default: *w++ = c;
                        }
                    }
                }
            }
        }
        if (!e) e = PyObject_CallOneArg(fallback, v);
        if (!e) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, r, e);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"pick", pick, METH_VARARGS, "Some fields of every row of a block of COPY text."},
    {"splice", splice, METH_VARARGS, "A block of COPY text with some fields replaced."},
    {"decode_fields", decode_fields, METH_VARARGS, "Decode a list of fields."},
    {"encode_values", encode_values, METH_VARARGS, "Encode a list of values into fields."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_copynative",
    .m_doc = "Native helpers of the COPY text codec.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__copynative(void) {
    if (!NULL_FIELD && !(NULL_FIELD = PyBytes_FromStringAndSize("\\N", 2))) return NULL;
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return NULL;
    return PyModule_Create(&module);
}
