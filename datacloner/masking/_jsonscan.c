/* plain_numbers(text): True when every number in a JSON text is an integer of
 * at most 18 digits (no fraction, no exponent).
 *
 * Such a text parses to the same objects with orjson as with the json module
 * the json rule uses (which makes fractions Decimal, to keep their digits):
 * json_rule.py asks this before it lets orjson parse a document. Strings are
 * skipped with their escapes; what is not JSON is left to the parsers, which
 * both refuse it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

static PyMethodDef methods[] = {
    {"plain_numbers", plain_numbers, METH_O,
     "plain_numbers(text) -> bool: every number in the JSON text is an integer of at "
     "most 18 digits."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsonscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__jsonscan(void) { return PyModule_Create(&module); }
