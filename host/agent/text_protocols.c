#include "agent/text_protocols.h"

#include <string.h>

#include <jansson.h>

typedef struct tag {
    const char *open, *close, *type;
    int try_json;   /* the body may be a JSON object: keep it parsed too */
} tag_t;

static const tag_t TAGS[] = {
    {"[USER_QUESTION]", "[/USER_QUESTION]", "agent.question", 0},
    {"[DEPENDENCY_REQUEST]", "[/DEPENDENCY_REQUEST]", "agent.dependency_request", 1},
    {"[ERROR]", "[/ERROR]", "agent.error", 0},
};
#define NTAGS (sizeof TAGS / sizeof TAGS[0])
#define PHASE NTAGS /* the index of the phase pattern among candidates */

/* The next match of one pattern at or after the scan position. Cached,
 * because a failed search must not be repeated for every match of another
 * pattern (that would make a long text quadratic). */
typedef struct cand {
    int state;                  /* 0 unknown, 1 found, 2 none left */
    size_t start, end;          /* the whole match */
    size_t body, body_end;      /* tag: inside the tags */
    long phase;
} cand_t;

static const char *find(const char *s, size_t len, size_t from, const char *needle)
{
    return from <= len ? memmem(s + from, len - from, needle, strlen(needle)) : NULL;
}

static void find_tag(const char *s, size_t len, size_t from, const tag_t *t, cand_t *c)
{
    const char *o = find(s, len, from, t->open);
    size_t body = o != NULL ? (size_t)(o - s) + strlen(t->open) : 0;
    const char *e = o != NULL ? find(s, len, body, t->close) : NULL;
    if (e == NULL) {
        /* No closing tag after this opening one, so none after any later
         * opening one either. */
        c->state = 2;
        return;
    }
    c->state = 1;
    c->start = (size_t)(o - s);
    c->body = body;
    c->body_end = (size_t)(e - s);
    c->end = c->body_end + strlen(t->close);
}

static size_t skip_blanks(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

static int word_at(const char *s, size_t len, size_t i, const char *w)
{
    size_t n = strlen(w);
    return i + n <= len && strncasecmp(s + i, w, n) == 0;
}

/* "={3,} PHASE N COMPLETE ={3,}" with blanks optional around the '=' runs
 * and case ignored. i is the start of a run of '='; *run_end receives where
 * that run ends, so a failed match resumes there. Returns the match's end
 * or 0. */
static size_t match_phase(const char *s, size_t len, size_t i, size_t *run_end, long *phase)
{
    size_t j = i;
    while (j < len && s[j] == '=')
        j++;
    *run_end = j;
    if (j - i < 3)
        return 0;
    j = skip_blanks(s, len, j);
    if (!word_at(s, len, j, "PHASE"))
        return 0;
    size_t k = skip_blanks(s, len, j + 5);
    if (k == j + 5 || k >= len || s[k] < '0' || s[k] > '9')
        return 0;
    long n = 0;
    size_t digits = 0;
    for (; k < len && s[k] >= '0' && s[k] <= '9'; k++, digits++)
        n = n * 10 + (s[k] - '0');
    if (digits > 9)
        return 0;
    j = skip_blanks(s, len, k);
    if (j == k || !word_at(s, len, j, "COMPLETE"))
        return 0;
    j = skip_blanks(s, len, j + 8);
    size_t r = j;
    while (r < len && s[r] == '=')
        r++;
    if (r - j < 3)
        return 0;
    *phase = n;
    return r;
}

static void find_phase(const char *s, size_t len, size_t from, cand_t *c)
{
    for (;;) {
        const char *q = find(s, len, from, "===");
        if (q == NULL) {
            c->state = 2;
            return;
        }
        size_t start = (size_t)(q - s), run_end;
        size_t end = match_phase(s, len, start, &run_end, &c->phase);
        if (end != 0) {
            c->state = 1;
            c->start = start;
            c->end = end;
            return;
        }
        from = run_end;
    }
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int emit_tag(const char *s, const tag_t *t, const cand_t *c, host_agent_event_fn fn,
                    void *ud)
{
    size_t a = c->body, b = c->body_end;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return 0; /* nothing asked, nothing to act on */
    json_t *ev = json_object();
    if (ev == NULL || json_object_set_new(ev, "text", json_stringn(s + a, b - a)) != 0) {
        json_decref(ev);
        return 0;
    }
    if (t->try_json && s[a] == '{') {
        json_t *parsed = json_loadb(s + a, b - a, 0, NULL);
        if (parsed != NULL)
            json_object_set_new(ev, "json", parsed);
    }
    fn(ud, t->type, ev);
    json_decref(ev);
    return 1;
}

static int emit_phase(long phase, host_agent_event_fn fn, void *ud)
{
    json_t *ev = json_object();
    if (ev == NULL || json_object_set_new(ev, "phase", json_integer(phase)) != 0) {
        json_decref(ev);
        return 0;
    }
    fn(ud, "agent.phase_complete", ev);
    json_decref(ev);
    return 1;
}

size_t host_agent_scan_protocols(const char *s, size_t len, host_agent_event_fn fn, void *ud)
{
    /* Nothing can match without one of these bytes: the common case. */
    if (memchr(s, '[', len) == NULL && memchr(s, '=', len) == NULL)
        return 0;
    cand_t c[NTAGS + 1];
    memset(c, 0, sizeof c);
    size_t pos = 0, found = 0;
    for (;;) {
        size_t best = NTAGS + 1;
        for (size_t i = 0; i <= NTAGS; i++) {
            if (c[i].state == 1 && c[i].start < pos)
                c[i].state = 0; /* inside the previous match: look again */
            if (c[i].state == 0) {
                if (i == PHASE)
                    find_phase(s, len, pos, &c[i]);
                else
                    find_tag(s, len, pos, &TAGS[i], &c[i]);
            }
            if (c[i].state == 1 && (best > NTAGS || c[i].start < c[best].start))
                best = i;
        }
        if (best > NTAGS)
            return found;
        if (best == PHASE)
            found += (size_t)emit_phase(c[best].phase, fn, ud);
        else
            found += (size_t)emit_tag(s, &TAGS[best], &c[best], fn, ud);
        pos = c[best].end;
        c[best].state = 0;
    }
}
