/* The native form of datacloner/detect/detectors.py for email, phone, IPv4, card and
 * IBAN spans: the same candidates, the same validation, the same spans.
 *
 * Each regex of detectors.py is written out here as the path Python's
 * backtracking engine takes through it (the comments quote the regex), with
 * the engine's character classes: \w is Py_UNICODE_ISALNUM or "_", \d is
 * Py_UNICODE_ISDECIMAL, [0-9] and [A-Z] are ASCII. Tests compare both forms
 * on generated and real text; detectors.py stays the reference, and URLs and
 * IPv6 addresses (rare, prefiltered) stay there only.
 *
 * spans(text, flags) -> (head, tail): head holds the email, IBAN and card
 * spans, tail the IPv4 and phone spans, each (start, end, kind) in the order
 * detectors._spans lists them; detectors puts URLs before head and IPv6
 * between the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum { K_EMAIL = 1, K_PHONE = 2, K_IPV4 = 4, K_CARD = 8, K_IBAN = 16, K_DATE = 32 };
#define K_NUMERIC (K_PHONE | K_IPV4 | K_CARD)

static PyObject *KIND_EMAIL, *KIND_PHONE, *KIND_IPV4, *KIND_CARD, *KIND_IBAN;

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;
} Text;

/* The character at i, or 0 outside the text: every class below treats 0 as
 * "no character", which is also how each pattern treats the text's end. */
static inline Py_UCS4 at(const Text *t, Py_ssize_t i) {
    return (i >= 0 && i < t->n) ? PyUnicode_READ(t->kind, t->data, i) : 0;
}

/* The same, with the pattern's endpos: nothing at or after hi. */
static inline Py_UCS4 lim(const Text *t, Py_ssize_t i, Py_ssize_t hi) {
    return i < hi ? at(t, i) : 0;
}

static inline int is_09(Py_UCS4 c) { return c >= '0' && c <= '9'; }
/* ASCII first: the Unicode database lookups are function calls. */
static inline int is_word(Py_UCS4 c) {
    if (c < 128)
        return c == '_' || is_09(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    return Py_UNICODE_ISALNUM(c);
}
static inline int is_dec(Py_UCS4 c) { return c < 128 ? is_09(c) : Py_UNICODE_ISDECIMAL(c); }
static inline int is_AZ(Py_UCS4 c) { return c >= 'A' && c <= 'Z'; }
static inline int in_set(Py_UCS4 c, const char *set) { return c && c < 128 && strchr(set, (int)c); }

/* ---- growable span list ---- */

typedef struct {
    Py_ssize_t s, e;
    int kind;
} Span;

typedef struct {
    Span *items;
    Py_ssize_t len, cap;
} Spans;

static int push(Spans *l, Py_ssize_t s, Py_ssize_t e, int kind) {
    if (l->len == l->cap) {
        Py_ssize_t cap = l->cap ? l->cap * 2 : 8;
        Span *items = PyMem_Realloc(l->items, cap * sizeof(Span));
        if (!items) {
            PyErr_NoMemory();
            return -1;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = (Span){s, e, kind};
    return 0;
}

/* _ends_clean: no letter, digit, "@" or ":" right after. */
static int ends_clean(const Text *t, Py_ssize_t e) {
    Py_UCS4 c = at(t, e);
    return !(is_word(c) || c == '@' || c == ':');
}

/* ---- email ---- */

/* The next c at or after i (t->n when none): memchr on one-byte text. */
static Py_ssize_t next_char(const Text *t, Py_UCS4 c, Py_ssize_t i) {
    if (i >= t->n)
        return t->n;
    if (t->kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *d = t->data;
        const void *hit = memchr(d + i, (int)c, (size_t)(t->n - i));
        return hit ? (const Py_UCS1 *)hit - d : t->n;
    }
    while (i < t->n && at(t, i) != c)
        i++;
    return i;
}

/* _DOMAIN at q: (?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+ [^\W\d_]{2,63} (?![\w-]).
 * Each label has one way to match (it must end right before a "."), so the
 * engine's backtracking is: as many labels as match, then the TLD after the
 * last label, else after the one before ... Returns the end, or -1. */
static Py_ssize_t domain_match(const Text *t, Py_ssize_t q) {
    Py_ssize_t starts_small[16];
    Py_ssize_t *starts = starts_small, cap = 16, k = 0, end = -1;
    for (;;) {
        Py_UCS4 c = at(t, q);
        if (!is_word(c) || c == '_')
            break;
        Py_ssize_t r = 0;
        while (is_word(at(t, q + 1 + r)) || at(t, q + 1 + r) == '-')
            r++;
        Py_ssize_t next;
        if (r == 0) {
            if (at(t, q + 1) != '.')
                break;
            next = q + 2;
        } else {
            Py_UCS4 last = at(t, q + r);
            if (r - 1 > 61 || last == '_' || last == '-' || at(t, q + r + 1) != '.')
                break;
            next = q + r + 2;
        }
        if (k == cap) {
            Py_ssize_t *grown = PyMem_Malloc(2 * cap * sizeof(Py_ssize_t));
            if (!grown) {
                end = -2;
                goto done;
            }
            memcpy(grown, starts, k * sizeof(Py_ssize_t));
            if (starts != starts_small)
                PyMem_Free(starts);
            starts = grown;
            cap *= 2;
        }
        starts[k++] = next; /* where the TLD would start after k labels */
        q = next;
    }
    for (Py_ssize_t i = k - 1; i >= 0; i--) {
        Py_ssize_t p = starts[i], a = 0;
        Py_UCS4 c;
        while ((c = at(t, p + a)) && is_word(c) && !is_dec(c) && c != '_')
            a++;
        Py_UCS4 after = at(t, p + a);
        if (a >= 2 && a <= 63 && !(is_word(after) || after == '-')) {
            end = p + a;
            break;
        }
    }
done:
    if (starts != starts_small)
        PyMem_Free(starts);
    if (end == -2)
        PyErr_NoMemory();
    return end;
}

static int is_local(Py_UCS4 c) { return is_word(c) || c == '.' || c == '%' || c == '+' || c == '-'; }

/* _find_email: the local part walks left from each "@" ([\w.%+-]{1,64}), the
 * domain matches right of it; no leading dot; spans do not overlap. */
static int find_email(const Text *t, Spans *out) {
    Py_ssize_t last_end = -1;
    for (Py_ssize_t a = next_char(t, '@', 0); a < t->n; a = next_char(t, '@', a + 1)) {
        Py_ssize_t len = 0;
        while (len < 64 && a - 1 - len >= 0 && is_local(at(t, a - 1 - len)))
            len++;
        if (len == 0)
            continue;
        Py_ssize_t end = domain_match(t, a + 1);
        if (end == -2 || (end < 0 && PyErr_Occurred()))
            return -1;
        if (end < 0)
            continue;
        Py_ssize_t start = a - len;
        while (start < a && at(t, start) == '.')
            start++;
        if (start < a && (last_end < 0 || start >= last_end)) {
            if (push(out, start, end, K_EMAIL) < 0)
                return -1;
            last_end = end;
        }
    }
    return 0;
}

/* ---- numbers ---- */

/* [ ]?(?:x|ext\.?|#)[ ]?\d{1,6} at q (endpos hi): its end, or -1. With
 * to_end, the digits must run exactly to hi (the "$" of _PHONE_EXTENSION). */
static Py_ssize_t extension_match(const Text *t, Py_ssize_t q, Py_ssize_t hi, int to_end) {
    Py_ssize_t r = q;
    if (lim(t, r, hi) == ' ')
        r++;
    Py_UCS4 c = lim(t, r, hi);
    if (c == 'x' || c == '#')
        r++;
    else if (c == 'e' && lim(t, r + 1, hi) == 'x' && lim(t, r + 2, hi) == 't') {
        r += 3;
        if (lim(t, r, hi) == '.')
            r++;
    } else
        return -1;
    if (lim(t, r, hi) == ' ')
        r++;
    Py_ssize_t d = 0;
    while (d < 6 && is_dec(lim(t, r + d, hi)))
        d++;
    if (d == 0)
        return -1;
    if (to_end && r + d != hi)
        return -1;
    return r + d;
}

/* A phone unit: \(\+?\d{1,5}\) (the "+" only in the first) or \d. */
static Py_ssize_t phone_unit(const Text *t, Py_ssize_t q, Py_ssize_t hi, int plus) {
    Py_UCS4 c = lim(t, q, hi);
    if (c == '(') {
        Py_ssize_t r = q + 1, d = 0;
        if (plus && lim(t, r, hi) == '+')
            r++;
        while (is_dec(lim(t, r + d, hi)))
            d++;
        if (d >= 1 && d <= 5 && lim(t, r + d, hi) == ')')
            return r + d + 1;
        return -1;
    }
    return is_dec(c) ? q + 1 : -1;
}

/* _PHONE at p (endpos hi). Every step has at most one way to match, so the
 * greedy path is the engine's match. */
static Py_ssize_t phone_match(const Text *t, Py_ssize_t p, Py_ssize_t hi) {
    Py_UCS4 before = at(t, p - 1);
    if (is_word(before) || before == '+' || before == '@')
        return -1;
    Py_ssize_t q = p;
    if (lim(t, q, hi) == '+')
        q++;
    q = phone_unit(t, q, hi, 1);
    if (q < 0)
        return -1;
    int count = 0;
    while (count < 22) {
        Py_UCS4 c = lim(t, q, hi);
        Py_ssize_t u = -1;
        if (c == ' ' || c == '.' || c == '-')
            u = phone_unit(t, q + 1, hi, 0);
        else if (c == '/') {
            if (lim(t, q + 1, hi) == ' ')
                u = phone_unit(t, q + 2, hi, 0);
            if (u < 0)
                u = phone_unit(t, q + 1, hi, 0);
        } else
            u = phone_unit(t, q, hi, 0);
        if (u < 0)
            break;
        q = u;
        count++;
    }
    if (count < 4)
        return -1;
    Py_ssize_t ext = extension_match(t, q, hi, 0);
    return ext >= 0 ? ext : q;
}

/* count decimal digits from q, all before hi. */
static int decs_by(const Text *t, Py_ssize_t q, int count, Py_ssize_t hi) {
    for (int i = 0; i < count; i++)
        if (!is_dec(lim(t, q + i, hi)))
            return 0;
    return 1;
}

static int decs(const Text *t, Py_ssize_t q, int count) { return decs_by(t, q, count, t->n); }

static int is_date_sep(Py_UCS4 c) { return c == '.' || c == '/' || c == '-'; }

/* \d{4}-\d{1,2}-\d{1,2} or \d{1,2}([./-])\d{1,2}\1\d{2} matches at q within hi. */
static int date_in_at(const Text *t, Py_ssize_t q, Py_ssize_t hi) {
    if (decs_by(t, q, 4, hi) && lim(t, q + 4, hi) == '-')
        for (int a = 2; a >= 1; a--)
            if (decs_by(t, q + 5, a, hi) && lim(t, q + 5 + a, hi) == '-' &&
                decs_by(t, q + 6 + a, 1, hi))
                return 1;
    for (int a = 2; a >= 1; a--) {
        Py_UCS4 sep = lim(t, q + a, hi);
        if (!decs_by(t, q, a, hi) || !is_date_sep(sep))
            continue;
        for (int b = 2; b >= 1; b--) {
            Py_ssize_t r = q + a + 1;
            if (decs_by(t, r, b, hi) && lim(t, r + b, hi) == sep && decs_by(t, r + b + 1, 2, hi))
                return 1;
        }
    }
    return 0;
}

/* _DATE_IN.search(text, lo, hi) */
static int date_in(const Text *t, Py_ssize_t lo, Py_ssize_t hi) {
    for (Py_ssize_t q = lo; q < hi; q++)
        if (date_in_at(t, q, hi))
            return 1;
    return 0;
}

/* What may follow a date: a time ([ T]\d{1,2}:\d\d), or no digit. */
static int date_tail_ok(const Text *t, Py_ssize_t e) {
    Py_UCS4 c = at(t, e);
    if ((c == ' ' || c == 'T') && is_dec(at(t, e + 1)) &&
        ((at(t, e + 2) == ':' && decs(t, e + 3, 2)) ||
         (is_dec(at(t, e + 2)) && at(t, e + 3) == ':' && decs(t, e + 4, 2))))
        return 1;
    return !(is_09(c) || (in_set(c, " .()/-") && is_09(at(t, e + 1))));
}

/* _DATE_AT.match(text, p): the end of the date, in the engine's order of tries. */
static Py_ssize_t date_at(const Text *t, Py_ssize_t p) {
    if (decs(t, p, 4) && at(t, p + 4) == '-') {
        for (int a = 2; a >= 1; a--) {
            if (!decs(t, p + 5, a) || at(t, p + 5 + a) != '-')
                continue;
            for (int b = 2; b >= 1; b--) {
                Py_ssize_t e = p + 6 + a + b;
                if (decs(t, p + 6 + a, b) && date_tail_ok(t, e))
                    return e;
            }
        }
    }
    for (int a = 2; a >= 1; a--) {
        Py_UCS4 sep = at(t, p + a);
        if (!decs(t, p, a) || !is_date_sep(sep))
            continue;
        for (int b = 2; b >= 1; b--) {
            Py_ssize_t r = p + a + 1;
            if (!decs(t, r, b) || at(t, r + b) != sep)
                continue;
            for (int c = 4; c >= 2; c -= 2) {
                Py_ssize_t e = r + b + 1 + c;
                if (decs(t, r + b + 1, c) && date_tail_ok(t, e))
                    return e;
            }
        }
    }
    return -1;
}

/* Digit groups of [s, e) split by single separators from seps; -1 when the
 * text holds anything else, two separators in a row, or different separators
 * and same_sep is set. Lengths go to len[] (up to max). */
static int groups(const Text *t, Py_ssize_t s, Py_ssize_t e, const char *seps, int same_sep,
                  int *len, int max) {
    int k = 0, cur = 0;
    Py_UCS4 sep = 0;
    for (Py_ssize_t i = s; i < e; i++) {
        Py_UCS4 c = at(t, i);
        if (is_dec(c))
            cur++;
        else if (in_set(c, seps)) {
            if (cur == 0 || k + 1 >= max || (same_sep && sep && c != sep))
                return -1;
            sep = c;
            len[k++] = cur;
            cur = 0;
        } else
            return -1;
    }
    if (cur == 0)
        return -1;
    len[k++] = cur;
    return k;
}

/* _DATE_LIKE.fullmatch: \d{4}[-./]\d{1,2}[-./]\d{1,2} | \d{1,2}[-./]\d{1,2}[-./]\d{2,4} */
static int date_like(const Text *t, Py_ssize_t s, Py_ssize_t e) {
    int g[4];
    if (groups(t, s, e, "-./", 0, g, 4) != 3)
        return 0;
    return (g[0] == 4 && g[1] <= 2 && g[2] <= 2) ||
           (g[0] <= 2 && g[1] <= 2 && g[2] >= 2 && g[2] <= 4);
}

/* _DOTTED_QUAD.fullmatch: \d{1,3}(?:\.\d{1,3}){3} */
static int dotted_quad(const Text *t, Py_ssize_t s, Py_ssize_t e) {
    int g[5];
    if (groups(t, s, e, ".", 0, g, 5) != 4)
        return 0;
    return g[0] <= 3 && g[1] <= 3 && g[2] <= 3 && g[3] <= 3;
}

/* _phone_ok(text[s:e]) */
static int phone_ok(const Text *t, Py_ssize_t s, Py_ssize_t e) {
    Py_ssize_t body_end = e;
    for (Py_ssize_t q = s; q < e; q++) {
        Py_UCS4 c = at(t, q);
        if (c == 'x' || c == 'e' || c == '#') {
            /* leftmost start of _PHONE_EXTENSION, as re.sub finds it */
            for (Py_ssize_t r = s; r < e; r++)
                if (extension_match(t, r, e, 1) == e) {
                    body_end = r;
                    break;
                }
            break;
        }
    }
    Py_ssize_t spaces = 0, dots = 0, dashes = 0, others = 0;
    for (Py_ssize_t q = s; q < body_end; q++) {
        Py_UCS4 c = at(t, q);
        spaces += c == ' ';
        dots += c == '.';
        dashes += c == '-';
        others += c == '(' || c == ')' || c == '/';
    }
    int plus = body_end > s && at(t, s) == '+';
    Py_ssize_t digits = (body_end - s) - spaces - dots - dashes - others - plus;
    if (digits < 7 || digits > 15)
        return 0;
    if (!(spaces || dots || dashes || others))
        return plus || digits >= 10 || (digits >= 8 && at(t, s) == '0');
    if (dots == 1 && !(spaces || dashes || others || plus))
        return 0;
    if (dots == 3 && dotted_quad(t, s, body_end))
        return 0;
    return !(digits <= 8 && date_like(t, s, body_end));
}

/* _CARD: (?<![\w+])\d(?:[ -]?\d){11,18} at p within hi. */
static Py_ssize_t card_match(const Text *t, Py_ssize_t p, Py_ssize_t hi) {
    Py_UCS4 before = at(t, p - 1);
    if (is_word(before) || before == '+' || !is_dec(lim(t, p, hi)))
        return -1;
    Py_ssize_t q = p + 1;
    int count = 0;
    while (count < 18) {
        Py_UCS4 c = lim(t, q, hi);
        if ((c == ' ' || c == '-') && is_dec(lim(t, q + 1, hi)))
            q += 2;
        else if (is_dec(c))
            q += 1;
        else
            break;
        count++;
    }
    return count >= 11 ? q : -1;
}

/* _card_ok: 12-19 digits; one block or the printed groupings; Luhn (ASCII). */
static int card_ok(const Text *t, Py_ssize_t s, Py_ssize_t e) {
    Py_ssize_t digits = 0;
    for (Py_ssize_t q = s; q < e; q++) {
        Py_UCS4 c = at(t, q);
        if (is_dec(c)) {
            if (!is_09(c))
                return 0; /* luhn_ok wants ASCII digits */
            digits++;
        }
    }
    if (digits < 12 || digits > 19)
        return 0;
    if (digits != e - s) {
        /* _CARD_GROUPS: 4-4-4(-4)(-1..4) or 4-6-4/5, one separator kind */
        int g[8];
        int k = groups(t, s, e, " -", 1, g, 8);
        int ok = 0;
        if (k >= 3 && g[0] == 4 && g[1] == 4 && g[2] == 4) {
            if (k == 3)
                ok = 1;
            else if (k == 4)
                ok = g[3] >= 1 && g[3] <= 4;
            else if (k == 5)
                ok = g[3] == 4 && g[4] >= 1 && g[4] <= 4;
        }
        if (k == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 4 || g[2] == 5))
            ok = 1;
        if (!ok)
            return 0;
    }
    int total = 0, i = 0;
    for (Py_ssize_t q = e - 1; q >= s; q--) {
        Py_UCS4 c = at(t, q);
        if (!is_09(c))
            continue;
        int d = (int)(c - '0');
        if (i % 2) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        total += d;
        i++;
    }
    return total % 10 == 0;
}

/* _IPV4: (?<![\w.])(?:\d{1,3}\.){3}\d{1,3} at p within hi. */
static Py_ssize_t ipv4_match(const Text *t, Py_ssize_t p, Py_ssize_t hi) {
    Py_UCS4 before = at(t, p - 1);
    if (is_word(before) || before == '.')
        return -1;
    Py_ssize_t q = p;
    for (int i = 0; i < 3; i++) {
        Py_ssize_t r = 0;
        while (is_dec(lim(t, q + r, hi)))
            r++;
        if (r < 1 || r > 3 || lim(t, q + r, hi) != '.')
            return -1;
        q += r + 1;
    }
    Py_ssize_t r = 0;
    while (r < 3 && is_dec(lim(t, q + r, hi)))
        r++;
    return r ? q + r : -1;
}

/* _ipv4_ok: not followed by more of a token; ipaddress.IPv4Address accepts it
 * (ASCII digits, each octet 0-255 without leading zeros). */
static int ipv4_ok(const Text *t, Py_ssize_t s, Py_ssize_t e) {
    Py_UCS4 c = at(t, e);
    Py_UCS4 next = at(t, e + 1);
    if ((c != '_' && is_word(c)) || (c == '.' && (is_09(next) || (next >= 128 && Py_UNICODE_ISDIGIT(next)))))
        return 0;
    Py_ssize_t q = s;
    for (int i = 0; i < 4; i++) {
        int value = 0, len = 0;
        Py_ssize_t start = q;
        while (q < e && at(t, q) != '.') {
            Py_UCS4 d = at(t, q);
            if (!is_09(d))
                return 0;
            value = value * 10 + (int)(d - '0');
            len++;
            q++;
        }
        if (len == 0 || len > 3 || value > 255 || (len > 1 && at(t, start) == '0'))
            return 0;
        q++; /* the dot */
    }
    return 1;
}

/* _number_at: the end of a `kind` starting exactly at p (by hi), or -1. The
 * whole match first, then shorter ones ending before a separator (_prefixes). */
static Py_ssize_t number_at(const Text *t, Py_ssize_t p, Py_ssize_t hi, int kind) {
    if (kind == K_IPV4) {
        Py_ssize_t m = ipv4_match(t, p, hi);
        return (m >= 0 && ipv4_ok(t, p, m)) ? m : -1;
    }
    Py_ssize_t m = kind == K_CARD ? card_match(t, p, hi) : phone_match(t, p, hi);
    if (m < 0)
        return -1;
    const char *seps = kind == K_CARD ? " -" : " .-/";
    for (Py_ssize_t e = m; e > p; e--) {
        if (e != m && !in_set(at(t, e), seps))
            continue;
        if (ends_clean(t, e) && (kind == K_CARD ? card_ok(t, p, e) : phone_ok(t, p, e)))
            return e;
    }
    return -1;
}

static int covered(const Spans *taken, Py_ssize_t p) {
    for (Py_ssize_t i = 0; i < taken->len; i++)
        if (taken->items[i].s <= p && p < taken->items[i].e)
            return 1;
    return 0;
}

static int by_start(const void *a, const void *b) {
    Py_ssize_t x = ((const Span *)a)->s, y = ((const Span *)b)->s;
    return (x > y) - (x < y);
}

/* _numbers_in: cards, IPv4 addresses and phones inside [lo, hi). */
static int numbers_in(const Text *t, Py_ssize_t lo, Py_ssize_t hi, int wanted, Spans *out) {
    int possible = wanted;
    Py_ssize_t digits = 0, dots = 0;
    for (Py_ssize_t q = lo; q < hi; q++) {
        Py_UCS4 c = at(t, q);
        digits += is_dec(c);
        dots += c == '.';
    }
    if (digits < 12)
        possible &= ~K_CARD;
    if (dots < 3)
        possible &= ~K_IPV4;
    if (possible == K_PHONE && phone_match(t, lo, hi) == hi && ends_clean(t, hi) &&
        !date_in(t, lo, hi) && phone_ok(t, lo, hi))
        return push(out, lo, hi, K_PHONE);

    Py_ssize_t *starts = PyMem_Malloc((hi - lo + 1) * sizeof(Py_ssize_t));
    if (!starts) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t nstarts = 0;
    starts[nstarts++] = lo;
    for (Py_ssize_t q = lo + 1; q < hi; q++) { /* _GROUP_START: [+(]|(?<=[ .()/-])[0-9] */
        Py_UCS4 c = at(t, q);
        if (c == '+' || c == '(' || (is_09(c) && in_set(at(t, q - 1), " .()/-")))
            starts[nstarts++] = q;
    }
    Spans taken = {0};
    int rc = 0;
    static const int order[3] = {K_CARD, K_IPV4, K_PHONE};
    for (int k = 0; k < 3 && rc == 0; k++) {
        int kind = order[k];
        if (kind == K_PHONE) /* dates are not phones */
            for (Py_ssize_t i = 0; i < nstarts && rc == 0; i++) {
                Py_ssize_t p = starts[i], d = date_at(t, p);
                if (d >= 0 && !covered(&taken, p))
                    rc = push(&taken, p, d, K_DATE);
            }
        if (!(possible & kind))
            continue;
        for (Py_ssize_t i = 0; i < nstarts && rc == 0; i++) {
            Py_ssize_t p = starts[i];
            if (covered(&taken, p))
                continue;
            Py_ssize_t end = hi;
            for (Py_ssize_t j = 0; j < taken.len; j++)
                if (taken.items[j].s > p && taken.items[j].s < end)
                    end = taken.items[j].s;
            Py_ssize_t hit = number_at(t, p, end, kind);
            if (hit >= 0)
                rc = push(&taken, p, hit, kind);
        }
    }
    if (rc == 0) {
        qsort(taken.items, taken.len, sizeof(Span), by_start);
        for (Py_ssize_t i = 0; i < taken.len && rc == 0; i++)
            if (taken.items[i].kind != K_DATE)
                rc = push(out, taken.items[i].s, taken.items[i].e, taken.items[i].kind);
    }
    PyMem_Free(taken.items);
    PyMem_Free(starts);
    return rc;
}

static int is_AZ09(Py_UCS4 c) { return is_AZ(c) || is_09(c); }

/* iban_ok: [A-Z]{2}\d{2}[A-Z0-9]{11,30} without spaces, mod 97 == 1. */
static int iban_ok(const Text *t, Py_ssize_t s, Py_ssize_t e) {
    Py_UCS4 chars[40];
    int n = 0;
    for (Py_ssize_t q = s; q < e; q++) {
        Py_UCS4 c = at(t, q);
        if (c == ' ')
            continue;
        if (n == 40)
            return 0;
        chars[n++] = c;
    }
    if (n < 15 || n > 34 || !is_AZ(chars[0]) || !is_AZ(chars[1]) || !is_dec(chars[2]) ||
        !is_dec(chars[3]))
        return 0;
    for (int i = 4; i < n; i++)
        if (!is_AZ09(chars[i]))
            return 0;
    int r = 0;
    for (int i = 0; i < n; i++) {
        Py_UCS4 c = chars[(i + 4) % n];
        if (is_AZ(c))
            r = (r * 100 + (int)(c - 'A' + 10)) % 97;
        else
            r = (r * 10 + Py_UNICODE_TODECIMAL(c)) % 97;
    }
    return r == 1;
}

/* _find_iban at start: _IBAN then the longest valid prefix ending before a space. */
static int find_iban(const Text *t, Py_ssize_t start, Py_ssize_t *end) {
    if (is_word(at(t, start - 1)) || !is_AZ(at(t, start)) || !is_AZ(at(t, start + 1)) ||
        !is_dec(at(t, start + 2)) || !is_dec(at(t, start + 3)))
        return 0;
    Py_ssize_t ends[31], q = start + 4;
    int k = 0;
    while (k < 30) {
        if (at(t, q) == ' ' && is_AZ09(at(t, q + 1)))
            q += 2;
        else if (is_AZ09(at(t, q)))
            q += 1;
        else
            break;
        ends[++k] = q;
    }
    Py_ssize_t m = -1;
    for (int i = k; i >= 11; i--) /* (?![\w]) after it: back off whole repeats */
        if (!is_word(at(t, ends[i]))) {
            m = ends[i];
            break;
        }
    if (m < 0)
        return 0;
    for (Py_ssize_t e = m; e > start; e--) {
        if (e != m && at(t, e) != ' ')
            continue;
        if (ends_clean(t, e) && iban_ok(t, start, e)) {
            *end = e;
            return 1;
        }
    }
    return 0;
}

/* _scan_numbers: _SCAN's candidates; IBANs, then numbers outside them. */
static int scan_numbers(const Text *t, int wanted, Spans *out) {
    Py_ssize_t covered_to = 0, i = 0;
    int numeric = wanted & K_NUMERIC;
    const Py_UCS1 *bytes = t->kind == PyUnicode_1BYTE_KIND ? t->data : NULL;
    while (i < t->n) {
        /* _SCAN: [0-9](?:[0-9 .()/-]{5,}[0-9]) | [A-Z][A-Z][0-9][0-9] */
        if (bytes) /* skip to the next [0-9A-Z]: most of a text is neither */
            while (i < t->n && !((bytes[i] >= '0' && bytes[i] <= '9') || (bytes[i] >= 'A' && bytes[i] <= 'Z')))
                i++;
        if (i >= t->n)
            break;
        Py_UCS4 c = at(t, i);
        Py_ssize_t e = -1;
        if (is_09(c)) {
            Py_ssize_t j = i + 1;
            while (j < t->n && in_set(at(t, j), "0123456789 .()/-"))
                j++;
            for (Py_ssize_t k = j - 1; k >= i + 6; k--)
                if (is_09(at(t, k))) {
                    e = k + 1;
                    break;
                }
        } else if (is_AZ(c) && is_AZ(at(t, i + 1)) && is_09(at(t, i + 2)) && is_09(at(t, i + 3)))
            e = i + 4;
        if (e < 0) {
            i++;
            continue;
        }
        Py_ssize_t s = i;
        i = e;
        if (s < covered_to)
            continue;
        if (is_AZ(c)) {
            Py_ssize_t end;
            if ((wanted & K_IBAN) && find_iban(t, s, &end)) {
                if (push(out, s, end, K_IBAN) < 0)
                    return -1;
                covered_to = end;
            }
            continue;
        }
        if (!numeric)
            continue;
        Py_ssize_t lo = s;
        while (lo > 0 && s - lo < 2 && (at(t, lo - 1) == '+' || at(t, lo - 1) == '('))
            lo--;
        Py_ssize_t ext = extension_match(t, e, t->n, 0);
        if (numbers_in(t, lo, ext >= 0 ? ext : e, numeric, out) < 0)
            return -1;
    }
    return 0;
}

static PyObject *kind_name(int kind) {
    switch (kind) {
    case K_EMAIL:
        return KIND_EMAIL;
    case K_PHONE:
        return KIND_PHONE;
    case K_IPV4:
        return KIND_IPV4;
    case K_CARD:
        return KIND_CARD;
    default:
        return KIND_IBAN;
    }
}

static int append_spans(PyObject *list, const Spans *l, int kinds) {
    for (Py_ssize_t i = 0; i < l->len; i++) {
        if (!(l->items[i].kind & kinds))
            continue;
        PyObject *item = PyTuple_New(3);
        if (!item)
            return -1;
        PyObject *s = PyLong_FromSsize_t(l->items[i].s), *e = PyLong_FromSsize_t(l->items[i].e);
        PyObject *name = kind_name(l->items[i].kind);
        Py_INCREF(name);
        PyTuple_SET_ITEM(item, 2, name);
        if (s)
            PyTuple_SET_ITEM(item, 0, s);
        if (e)
            PyTuple_SET_ITEM(item, 1, e);
        if (!s || !e || PyList_Append(list, item) < 0) {
            Py_DECREF(item);
            return -1;
        }
        Py_DECREF(item);
    }
    return 0;
}

/* detectors.phone_valid(text, start, end): the one validation of phone
 * candidates (phonenumbers, document ids, year ranges), in Python for both
 * paths. Set once by detectors.py at import; without it every candidate is
 * kept. */
static PyObject *phone_check = NULL;

static PyObject *set_phone_check(PyObject *self, PyObject *check) {
    if (!PyCallable_Check(check)) {
        PyErr_SetString(PyExc_TypeError, "set_phone_check needs a callable");
        return NULL;
    }
    Py_INCREF(check);
    Py_XSETREF(phone_check, check);
    Py_RETURN_NONE;
}

/* Drop the phone candidates phone_check rejects, keeping the order. */
static int check_phones(PyObject *text, Spans *numbers) {
    if (!phone_check)
        return 0;
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < numbers->len; i++) {
        Span sp = numbers->items[i];
        if (sp.kind == K_PHONE) {
            PyObject *ok = PyObject_CallFunction(phone_check, "Onn", text, sp.s, sp.e);
            if (!ok)
                return -1;
            int yes = PyObject_IsTrue(ok);
            Py_DECREF(ok);
            if (yes < 0)
                return -1;
            if (!yes)
                continue;
        }
        numbers->items[kept++] = sp;
    }
    numbers->len = kept;
    return 0;
}

/* Emails, then numbers (IBANs first, as _scan_numbers finds them). */
static int detect(PyObject *text, int flags, Spans *emails, Spans *numbers) {
    Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    if ((flags & K_EMAIL) && find_email(&t, emails) < 0)
        return -1;
    if ((flags & (K_IBAN | K_NUMERIC)) && scan_numbers(&t, flags, numbers) < 0)
        return -1;
    if ((flags & K_PHONE) && check_phones(text, numbers) < 0)
        return -1;
    return 0;
}

static PyObject *spans(PyObject *self, PyObject *args) {
    PyObject *text;
    int flags;
    if (!PyArg_ParseTuple(args, "Ui", &text, &flags))
        return NULL;
    Spans emails = {0}, numbers = {0};
    PyObject *head = NULL, *tail = NULL, *result = NULL;
    if (detect(text, flags, &emails, &numbers) < 0)
        goto done;
    head = PyList_New(0);
    tail = PyList_New(0);
    if (!head || !tail || append_spans(head, &emails, K_EMAIL) < 0 ||
        append_spans(head, &numbers, K_IBAN) < 0 || append_spans(head, &numbers, K_CARD) < 0 ||
        append_spans(tail, &numbers, K_IPV4 | K_PHONE) < 0)
        goto done;
    result = PyTuple_Pack(2, head, tail);
done:
    Py_XDECREF(head);
    Py_XDECREF(tail);
    PyMem_Free(emails.items);
    PyMem_Free(numbers.items);
    return result;
}

/* Take spans in priority order, dropping any that overlaps one already kept. */
static int keep(Spans *kept, const Spans *l, int kinds) {
    for (Py_ssize_t i = 0; i < l->len; i++) {
        Span sp = l->items[i];
        if (!(sp.kind & kinds))
            continue;
        int free = 1;
        for (Py_ssize_t j = 0; j < kept->len && free; j++)
            free = sp.e <= kept->items[j].s || sp.s >= kept->items[j].e;
        if (free && push(kept, sp.s, sp.e, sp.kind) < 0)
            return -1;
    }
    return 0;
}

/* detectors.finder: the spans in priority order, overlaps dropped, sorted. */
static int detect_kept(PyObject *text, int flags, Spans *kept) {
    Spans emails = {0}, numbers = {0};
    int rc = -1;
    if (detect(text, flags, &emails, &numbers) == 0 && keep(kept, &emails, K_EMAIL) == 0 &&
        keep(kept, &numbers, K_IBAN) == 0 && keep(kept, &numbers, K_CARD) == 0 &&
        keep(kept, &numbers, K_IPV4 | K_PHONE) == 0) {
        qsort(kept->items, kept->len, sizeof(Span), by_start);
        rc = 0;
    }
    PyMem_Free(emails.items);
    PyMem_Free(numbers.items);
    return rc;
}

static PyObject *find(PyObject *self, PyObject *args) {
    PyObject *text;
    int flags;
    if (!PyArg_ParseTuple(args, "Ui", &text, &flags))
        return NULL;
    Spans kept = {0};
    PyObject *result = NULL;
    if (detect_kept(text, flags, &kept) == 0) {
        result = PyList_New(0);
        if (result && append_spans(result, &kept, K_EMAIL | K_NUMERIC | K_IBAN) < 0)
            Py_CLEAR(result);
    }
    PyMem_Free(kept.items);
    return result;
}

/* `text` with each kept span replaced by fakes[kind](span), None when there
 * is none: scrub's loop (a None fake is "", a non-text fake its str()). */
static PyObject *substitute(PyObject *self, PyObject *args) {
    PyObject *text, *fakes;
    int flags;
    if (!PyArg_ParseTuple(args, "UiO!", &text, &flags, &PyTuple_Type, &fakes))
        return NULL;
    if (PyTuple_GET_SIZE(fakes) != 5) {
        PyErr_SetString(PyExc_ValueError, "fakes: one callable (or None) per kind, five");
        return NULL;
    }
    Spans kept = {0};
    PyObject *result = NULL, *pieces = NULL;
    if (detect_kept(text, flags, &kept) < 0)
        goto done;
    if (kept.len == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    pieces = PyList_New(2 * kept.len + 1);
    if (!pieces)
        goto done;
    Py_ssize_t pos = 0;
    for (Py_ssize_t i = 0; i < kept.len; i++) {
        Span sp = kept.items[i];
        int slot = sp.kind == K_EMAIL ? 0 : sp.kind == K_PHONE ? 1 : sp.kind == K_IPV4 ? 2
                 : sp.kind == K_CARD  ? 3 : 4;
        PyObject *before = PyUnicode_Substring(text, pos, sp.s);
        if (!before)
            goto done;
        PyList_SET_ITEM(pieces, 2 * i, before);
        PyObject *found = PyUnicode_Substring(text, sp.s, sp.e);
        if (!found)
            goto done;
        PyObject *fake = PyObject_CallOneArg(PyTuple_GET_ITEM(fakes, slot), found);
        Py_DECREF(found);
        if (!fake)
            goto done;
        if (fake == Py_None) {
            Py_DECREF(fake);
            fake = PyUnicode_New(0, 0);
        } else if (!PyUnicode_Check(fake)) {
            Py_SETREF(fake, PyObject_Str(fake));
        }
        if (!fake)
            goto done;
        PyList_SET_ITEM(pieces, 2 * i + 1, fake);
        pos = sp.e;
    }
    PyObject *after = PyUnicode_Substring(text, pos, PyUnicode_GET_LENGTH(text));
    if (!after)
        goto done;
    PyList_SET_ITEM(pieces, 2 * kept.len, after);
    PyObject *empty = PyUnicode_New(0, 0);
    if (empty) {
        result = PyUnicode_Join(empty, pieces);
        Py_DECREF(empty);
    }
done:
    Py_XDECREF(pieces);
    PyMem_Free(kept.items);
    return result;
}

static PyMethodDef methods[] = {
    {"substitute", substitute, METH_VARARGS,
     "substitute(text, flags, fakes) -> str | None: text with each span find() keeps "
     "replaced by fakes[i](span) (i: email, phone, ipv4, credit_card, iban); None when "
     "there is none."},
    {"find", find, METH_VARARGS,
     "find(text, flags) -> detectors.finder(kinds)(text) when the kinds are among those of "
     "spans(): sorted, not overlapping, higher priority kept."},
    {"spans", spans, METH_VARARGS,
     "spans(text, flags) -> (head, tail): detectors._spans for email (1), phone (2), "
     "ipv4 (4), credit_card (8) and iban (16)."},
    {"set_phone_check", set_phone_check, METH_O,
     "set_phone_check(check): check(text, start, end) -> bool validates every phone "
     "candidate (detectors.phone_valid)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_detectnative", NULL, -1, methods};

PyMODINIT_FUNC PyInit__detectnative(void) {
    KIND_EMAIL = PyUnicode_InternFromString("email");
    KIND_PHONE = PyUnicode_InternFromString("phone");
    KIND_IPV4 = PyUnicode_InternFromString("ipv4");
    KIND_CARD = PyUnicode_InternFromString("credit_card");
    KIND_IBAN = PyUnicode_InternFromString("iban");
    if (!KIND_EMAIL || !KIND_PHONE || !KIND_IPV4 || !KIND_CARD || !KIND_IBAN)
        return NULL;
    return PyModule_Create(&module);
}
