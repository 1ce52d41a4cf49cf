/* Native helpers of the COPY text codec (copytext.py): splitting blocks into
 * rows and fields, joining them back, and decoding/encoding one column of a
 * batch. Each does exactly what its Python twin does; every case that is not
 * plain (a backslash escape to undo or make, a value that is not text, bytes
 * that are not UTF-8) is handed to the Python function, so outputs and errors
 * are the Python ones.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* split_rows(data) -> (rows, rest): the complete lines of data as lists of raw
 * fields, and the bytes after the last newline (as RowSplitter.feed). */
static PyObject *split_rows(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    const char *data = b.buf;
    Py_ssize_t len = b.len, pos = 0;
    PyObject *rows = PyList_New(0);
    if (!rows) goto fail;
    for (;;) {
        const char *nl = memchr(data + pos, '\n', (size_t)(len - pos));
        if (!nl) break;
        Py_ssize_t end = nl - data;
        Py_ssize_t nfields = 1;
        for (const char *p = data + pos; p < nl; p++) nfields += (*p == '\t');
        PyObject *row = PyList_New(nfields);
        if (!row) goto fail;
        Py_ssize_t start = pos, k = 0;
        for (Py_ssize_t i = pos; i <= end; i++) {
            if (i == end || data[i] == '\t') {
                PyObject *field = PyBytes_FromStringAndSize(data + start, i - start);
                if (!field) {
                    Py_DECREF(row);
                    goto fail;
                }
                PyList_SET_ITEM(row, k++, field);
                start = i + 1;
            }
        }
        if (PyList_Append(rows, row) < 0) {
            Py_DECREF(row);
            goto fail;
        }
        Py_DECREF(row);
        pos = end + 1;
    }
    PyObject *rest = PyBytes_FromStringAndSize(data + pos, len - pos);
    if (!rest) goto fail;
    PyBuffer_Release(&b);
    PyObject *out = PyTuple_Pack(2, rows, rest);
    Py_DECREF(rows);
    Py_DECREF(rest);
    return out;
fail:
    Py_XDECREF(rows);
    PyBuffer_Release(&b);
    return NULL;
}

/* join_rows(rows) -> bytes: fields joined by tabs, rows ended by newlines. */
static PyObject *join_rows(PyObject *self, PyObject *arg) {
    (void)self;
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "rows must be a list");
        return NULL;
    }
    Py_ssize_t nrows = PyList_GET_SIZE(arg), total = 0;
    for (Py_ssize_t r = 0; r < nrows; r++) {
        PyObject *row = PyList_GET_ITEM(arg, r);
        if (!PyList_Check(row)) {
            PyErr_SetString(PyExc_TypeError, "a row must be a list of bytes");
            return NULL;
        }
        Py_ssize_t n = PyList_GET_SIZE(row);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *f = PyList_GET_ITEM(row, i);
            if (!PyBytes_Check(f)) {
                PyErr_SetString(PyExc_TypeError, "a field must be bytes");
                return NULL;
            }
            total += PyBytes_GET_SIZE(f);
        }
        total += n ? n : 1; /* tabs and the newline */
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (!out) return NULL;
    char *w = PyBytes_AS_STRING(out);
    for (Py_ssize_t r = 0; r < nrows; r++) {
        PyObject *row = PyList_GET_ITEM(arg, r);
        Py_ssize_t n = PyList_GET_SIZE(row);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *f = PyList_GET_ITEM(row, i);
            Py_ssize_t fl = PyBytes_GET_SIZE(f);
            memcpy(w, PyBytes_AS_STRING(f), (size_t)fl);
            w += fl;
            *w++ = (i + 1 < n) ? '\t' : '\n';
        }
        if (!n) *w++ = '\n';
    }
    return out;
}

/* rows[r], checked to be a list with a field col (borrowed), or NULL with IndexError. */
static PyObject *row_at(PyObject *rows, Py_ssize_t r, Py_ssize_t col) {
    PyObject *row = PyList_GET_ITEM(rows, r);
    if (!PyList_Check(row) || col < 0 || col >= PyList_GET_SIZE(row)) {
        PyErr_SetString(PyExc_IndexError, "row has no such field");
        return NULL;
    }
    return row;
}

static PyObject *NULL_FIELD; /* b"\\N", shared by every NULL encode_column writes */

/* decode_column(rows, i, decode) -> list: copytext.decode of every row[i]. */
static PyObject *decode_column(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *rows, *fallback;
    Py_ssize_t col;
    if (!PyArg_ParseTuple(args, "O!nO", &PyList_Type, &rows, &col, &fallback)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = row_at(rows, r, col);
        if (!row) goto fail;
        PyObject *f = PyList_GET_ITEM(row, col);
        PyObject *v = NULL;
        if (PyBytes_CheckExact(f)) {
            const char *s = PyBytes_AS_STRING(f);
            Py_ssize_t fl = PyBytes_GET_SIZE(f);
            if (fl == 2 && s[0] == '\\' && s[1] == 'N') {
                v = Py_NewRef(Py_None);
            } else if (!memchr(s, '\\', (size_t)fl)) {
                v = PyUnicode_DecodeUTF8(s, fl, NULL);
                if (!v) PyErr_Clear(); /* Python raises its own error below */
            }
        }
        if (!v) v = PyObject_CallOneArg(fallback, f);
        if (!v) goto fail;
        PyList_SET_ITEM(out, r, v);
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* encode_column(rows, i, values, encode): row[i] = copytext.encode(value). */
static PyObject *encode_column(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *rows, *values, *fallback;
    Py_ssize_t col;
    if (!PyArg_ParseTuple(args, "O!nO!O", &PyList_Type, &rows, &col, &PyList_Type, &values,
                          &fallback))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    if (PyList_GET_SIZE(values) != n) {
        PyErr_SetString(PyExc_ValueError, "one value per row");
        return NULL;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *row = row_at(rows, r, col);
        if (!row) return NULL;
        PyObject *v = PyList_GET_ITEM(values, r);
        PyObject *e = NULL;
        if (v == Py_None) {
            e = Py_NewRef(NULL_FIELD);
        } else if (PyUnicode_CheckExact(v)) {
            Py_ssize_t size;
            const char *u = PyUnicode_AsUTF8AndSize(v, &size);
            if (!u) {
                PyErr_Clear(); /* lone surrogates: Python raises its own error */
            } else {
                int plain = 1;
                for (Py_ssize_t k = 0; k < size; k++) {
                    char c = u[k];
                    if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
                        plain = 0;
                        break;
                    }
                }
                if (plain) e = PyBytes_FromStringAndSize(u, size);
                if (plain && !e) return NULL;
            }
        }
        if (!e) e = PyObject_CallOneArg(fallback, v);
        if (!e) return NULL;
        PyList_SetItem(row, col, e); /* steals e, drops the old field */
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"split_rows", split_rows, METH_O, "Complete lines as lists of fields, and the rest."},
    {"join_rows", join_rows, METH_O, "Rows of fields back into COPY text."},
    {"decode_column", decode_column, METH_VARARGS, "Decode one field of every row."},
    {"encode_column", encode_column, METH_VARARGS, "Encode one value into every row."},
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
    return PyModule_Create(&module);
}
