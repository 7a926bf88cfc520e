/* fapilog._untrack: take the pipeline's own short-lived containers out of the cyclic
 * garbage collector's lists (compiled path only; docs/compiled.md, "Untracked records").
 *
 * A captured record (a tuple) and the LogEvent built from it hold a reference to a
 * tracked object (the Logger, the Context), so the collector tracks them: under a burst
 * they wait in the intake buffer and the exporter's batches long enough to be promoted
 * to the oldest generation, and every full collection then walks tens of thousands of
 * them. They never need it: each is freed by reference counting once the worker (or
 * the exporter) lets go of it, and no reference cycle runs through one.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *untrack(PyObject *module, PyObject *obj) {
    if (PyObject_IS_GC(obj) && PyObject_GC_IsTracked(obj)) {
        PyObject_GC_UnTrack(obj);
    }
    Py_INCREF(obj);
    return obj;
}

static PyObject *untrack_all(PyObject *module, PyObject *items) {
    if (!PyList_CheckExact(items)) {
        PyErr_SetString(PyExc_TypeError, "untrack_all() takes a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = PyList_GET_ITEM(items, i);
        if (PyObject_IS_GC(obj) && PyObject_GC_IsTracked(obj)) {
            PyObject_GC_UnTrack(obj);
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"untrack", untrack, METH_O,
     "untrack(obj, /)\n--\n\nobj itself, no longer tracked by the cyclic garbage collector."},
    {"untrack_all", untrack_all, METH_O,
     "untrack_all(items, /)\n--\n\nUntrack every object of the list items."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fapilog._untrack",
    .m_doc = "Untrack the pipeline's own short-lived containers from the cyclic GC.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__untrack(void) { return PyModule_Create(&module_def); }
