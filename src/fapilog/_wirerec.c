/* fapilog.exporters.otlp._wirerec: one serialised OTLP LogRecord, for the common case.
 *
 * encode_record(event) returns the bytes that fapilog.exporters.otlp._wire._record(event)
 * returns, byte for byte, or None when the event is outside the fast path below; the
 * caller then runs the Python _record, which stays the reference (docs/compiled.md,
 * tests/exporters/test_native_parity.py). It never raises: any C-API error is cleared
 * and means None.
 *
 * The fast path (anything else -> None):
 *   timestamp, observed_timestamp   exact int, 0 <= v < 2**64 (0 is not written)
 *   severity_number                 exact int, 0..24 (0 is not written)
 *   severity_text, event_name       None or exact str ("" is not written)
 *   body                            None (not written) or exact str
 *   attributes                      None, or an exact dict: keys exact non-empty str;
 *                                   values exact str, int in int64 range, float,
 *                                   bool or None (a KeyValue without a value)
 *   trace_flags                     exact int 0..255 (0 is not written)
 *   trace_id, span_id               exact int, 0 <= v < 2**128 / 2**64 (0: not written)
 *   strings                         encodable as UTF-8 (no lone surrogates)
 *
 * Built by hatch_build.py with the mypyc modules; loaded through fapilog._native's
 * finder only (it is not importable on the pure path).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* A growable output buffer, on the stack until a record outgrows it. */
typedef struct {
    unsigned char *p;
    Py_ssize_t len, cap;
    unsigned char small[1024];
} Buf;

/* Make room for n more bytes; -1 (MemoryError set) if it cannot. */
static int reserve(Buf *b, Py_ssize_t n) {
    if (b->cap - b->len >= n) return 0;
    Py_ssize_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n;
    unsigned char *p = b->p == b->small ? PyMem_Malloc(cap) : PyMem_Realloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (b->p == b->small) memcpy(p, b->small, b->len);
    b->p = p;
    b->cap = cap;
    return 0;
}

/* The unchecked writers below assume a reserve() of enough bytes. */
static inline void put_byte(Buf *b, unsigned char c) { b->p[b->len++] = c; }

static inline void put_bytes(Buf *b, const void *data, Py_ssize_t n) {
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static inline void put_varint(Buf *b, uint64_t v) { /* at most 10 bytes */
    while (v > 127) {
        b->p[b->len++] = (unsigned char)((v & 0x7F) | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (unsigned char)v;
}

static inline Py_ssize_t varint_len(uint64_t v) {
    Py_ssize_t n = 1;
    while (v > 127) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline void put_le64(Buf *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b->p[b->len++] = (unsigned char)(v >> (8 * i));
}

static inline void put_be64(Buf *b, uint64_t v) {
    for (int i = 7; i >= 0; i--) b->p[b->len++] = (unsigned char)(v >> (8 * i));
}

/* Field tag, length and bytes of a string field (n bytes at s). */
static int put_string_field(Buf *b, unsigned char tag, const char *s, Py_ssize_t n) {
    if (reserve(b, 11 + n) < 0) return -1;
    put_byte(b, tag);
    put_varint(b, (uint64_t)n);
    put_bytes(b, s, n);
    return 0;
}

/* An exact int in 0..2**64-1; -1 (error set, or none for another type) otherwise. */
static int as_u64(PyObject *o, uint64_t *out) {
    if (!PyLong_CheckExact(o)) return -1;
    unsigned long long v = PyLong_AsUnsignedLongLong(o); /* OverflowError if < 0 */
    if (v == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    *out = (uint64_t)v;
    return 0;
}

/* An exact int in 0..2**128-1, as its high and low 64 bits. */
static int as_u128(PyObject *o, uint64_t *hi, uint64_t *lo) {
    if (!PyLong_CheckExact(o)) return -1;
    if (as_u64(o, lo) == 0) {
        *hi = 0;
        return 0;
    }
    PyErr_Clear(); /* negative or 2**64 and more */
    PyObject *shift = PyLong_FromLong(64);
    if (shift == NULL) return -1;
    PyObject *high = PyNumber_Rshift(o, shift);
    Py_DECREF(shift);
    if (high == NULL) return -1;
    int err = as_u64(high, hi); /* fails for negatives, and for 2**128 and more */
    Py_DECREF(high);
    if (err < 0) return -1;
    *lo = (uint64_t)PyLong_AsUnsignedLongLongMask(o);
    return PyErr_Occurred() ? -1 : 0;
}

/* None or an exact str, as UTF-8 (n = 0 and s = NULL for None); -1 otherwise,
 * including strings with lone surrogates (UnicodeEncodeError). */
static int as_text(PyObject *o, const char **s, Py_ssize_t *n) {
    if (o == Py_None) {
        *s = NULL;
        *n = 0;
        return 0;
    }
    if (!PyUnicode_CheckExact(o)) return -1;
    *s = PyUnicode_AsUTF8AndSize(o, n);
    return *s == NULL ? -1 : 0;
}

/* One attribute as a LogRecord.attributes KeyValue field (tag 0x32). */
static int put_attribute(Buf *b, PyObject *key, PyObject *value) {
    const char *k, *s = NULL;
    Py_ssize_t klen, slen = 0, any_len;
    uint64_t bits = 0;
    if (!PyUnicode_CheckExact(key) || as_text(key, &k, &klen) < 0 || klen == 0) return -1;
    if (value == Py_None) {
        any_len = 0; /* an empty AnyValue: the KeyValue has no value field */
    } else if (PyUnicode_CheckExact(value)) {
        if (as_text(value, &s, &slen) < 0) return -1;
        any_len = 1 + varint_len((uint64_t)slen) + slen;
    } else if (PyLong_CheckExact(value)) {
        long long v = PyLong_AsLongLong(value); /* OverflowError outside int64 */
        if (v == -1 && PyErr_Occurred()) return -1;
        bits = (uint64_t)v; /* a negative int64 is a 10-byte varint */
        any_len = 1 + varint_len(bits);
    } else if (PyFloat_CheckExact(value)) {
        double d = PyFloat_AS_DOUBLE(value);
        memcpy(&bits, &d, 8); /* every bit, NaN payloads included */
        any_len = 9;
    } else if (PyBool_Check(value)) {
        any_len = 2;
    } else {
        return -1;
    }
    Py_ssize_t head_len = 1 + varint_len((uint64_t)klen) + klen;
    Py_ssize_t kv_len = any_len ? head_len + 1 + varint_len((uint64_t)any_len) + any_len : head_len;
    if (reserve(b, 1 + 10 + kv_len) < 0) return -1;
    put_byte(b, 0x32);
    put_varint(b, (uint64_t)kv_len);
    put_byte(b, 0x0A); /* KeyValue.key */
    put_varint(b, (uint64_t)klen);
    put_bytes(b, k, klen);
    if (value == Py_None) return 0;
    put_byte(b, 0x12); /* KeyValue.value */
    put_varint(b, (uint64_t)any_len);
    if (s != NULL) { /* AnyValue.string_value */
        put_byte(b, 0x0A);
        put_varint(b, (uint64_t)slen);
        put_bytes(b, s, slen);
    } else if (PyLong_CheckExact(value)) { /* AnyValue.int_value */
        put_byte(b, 0x18);
        put_varint(b, bits);
    } else if (PyFloat_CheckExact(value)) { /* AnyValue.double_value */
        put_byte(b, 0x21);
        put_le64(b, bits);
    } else { /* AnyValue.bool_value, written even when false */
        put_byte(b, 0x10);
        put_byte(b, value == Py_True ? 1 : 0);
    }
    return 0;
}

/* The event's fields, read once per record (interned names, set at import). */
enum { TS, OBSERVED, SEV_NUM, SEV_TEXT, BODY, ATTRS, FLAGS, TRACE, SPAN, EVENT, NFIELDS };
static const char *const field_names[NFIELDS] = {
    "timestamp", "observed_timestamp", "severity_number", "severity_text", "body",
    "attributes", "trace_flags", "trace_id", "span_id", "event_name",
};
static PyObject *names[NFIELDS];

/* Write the record of the fields f into b; -1 when outside the fast path. */
static int put_record(Buf *b, PyObject *const *f) {
    uint64_t ts, observed, trace_hi, trace_lo, span, flags, severity;
    const char *s;
    Py_ssize_t n;
    if (as_u64(f[TS], &ts) < 0 || as_u64(f[OBSERVED], &observed) < 0) return -1;
    if (as_u64(f[SEV_NUM], &severity) < 0 || severity > 24) return -1;
    if (as_u64(f[FLAGS], &flags) < 0 || flags > 255) return -1;
    if (as_u128(f[TRACE], &trace_hi, &trace_lo) < 0 || as_u64(f[SPAN], &span) < 0) return -1;
    if (reserve(b, 11) < 0) return -1;
    if (ts) { /* time_unix_nano, fixed64 */
        put_byte(b, 0x09);
        put_le64(b, ts);
    }
    if (severity) { /* severity_number */
        put_byte(b, 0x10);
        put_byte(b, (unsigned char)severity);
    }
    if (as_text(f[SEV_TEXT], &s, &n) < 0) return -1;
    if (n && put_string_field(b, 0x1A, s, n) < 0) return -1;
    if (f[BODY] != Py_None) { /* body: an AnyValue holding a string */
        if (!PyUnicode_CheckExact(f[BODY]) || as_text(f[BODY], &s, &n) < 0) return -1;
        if (reserve(b, 22 + n) < 0) return -1;
        put_byte(b, 0x2A);
        put_varint(b, (uint64_t)(1 + varint_len((uint64_t)n) + n));
        put_string_field(b, 0x0A, s, n);
    }
    PyObject *attrs = f[ATTRS];
    if (PyDict_CheckExact(attrs)) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(attrs, &pos, &key, &value)) {
            if (put_attribute(b, key, value) < 0) return -1;
        }
    } else if (attrs != Py_None) {
        return -1;
    }
    if (reserve(b, 2 + 16 + 2 + 8 + 5 + 9) < 0) return -1;
    if (flags) { /* flags, fixed32 */
        put_byte(b, 0x45);
        for (int i = 0; i < 4; i++) put_byte(b, (unsigned char)(flags >> (8 * i)));
    }
    if (trace_hi || trace_lo) { /* trace_id, 16 bytes big-endian */
        put_byte(b, 0x4A);
        put_byte(b, 0x10);
        put_be64(b, trace_hi);
        put_be64(b, trace_lo);
    }
    if (span) { /* span_id, 8 bytes big-endian */
        put_byte(b, 0x52);
        put_byte(b, 0x08);
        put_be64(b, span);
    }
    if (observed) { /* observed_time_unix_nano, fixed64 */
        put_byte(b, 0x59);
        put_le64(b, observed);
    }
    if (as_text(f[EVENT], &s, &n) < 0) return -1;
    if (n && put_string_field(b, 0x62, s, n) < 0) return -1;
    return 0;
}

static PyObject *encode_record(PyObject *module, PyObject *event) {
    PyObject *f[NFIELDS] = {NULL};
    PyObject *out = NULL;
    Buf b;
    b.p = b.small;
    b.len = 0;
    b.cap = sizeof b.small;
    int ok = 1;
    for (int i = 0; i < NFIELDS && ok; i++) {
        f[i] = PyObject_GetAttr(event, names[i]);
        ok = f[i] != NULL;
    }
    if (ok && put_record(&b, f) == 0) {
        out = PyBytes_FromStringAndSize((const char *)b.p, b.len);
    }
    for (int i = 0; i < NFIELDS; i++) Py_XDECREF(f[i]);
    if (b.p != b.small) PyMem_Free(b.p);
    if (out == NULL) { /* outside the fast path, or a C-API error: the caller falls back */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"encode_record", encode_record, METH_O,
     "encode_record(event, /)\n--\n\nThe serialised OTLP LogRecord of event (the bytes of "
     "fapilog.exporters.otlp._wire._record), or None outside the fast path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fapilog.exporters.otlp._wirerec",
    .m_doc = "One serialised OTLP LogRecord in C, for the common case (see _wire._record).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__wirerec(void) {
    for (int i = 0; i < NFIELDS; i++) {
        if (names[i] == NULL && (names[i] = PyUnicode_InternFromString(field_names[i])) == NULL)
            return NULL;
    }
    return PyModule_Create(&module_def);
}
