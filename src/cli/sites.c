/*
 * sites.c — call sites in the CLI (sites.h): lookups of the report's stacks, modules and
 * strings, symbolization of native frames through src/sym, and a stack as text.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/sites.h"
#include "common/alloc.h"
#include "core/stacks.h"
#include "ttmem/ttmem.h"

/* ---- lookups --------------------------------------------------------------------------------- */

/* The element of id in an array of n elements of size bytes whose first member is a uint32_t
 * id: a binary search (the daemon sends them by id), then a scan in case they are not sorted. */
static const void *by_id(const void *arr, size_t n, size_t size, uint32_t id)
{
    if (id == 0 || arr == NULL)
        return NULL;
    const char *base = arr;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t v;
        memcpy(&v, base + mid * size, sizeof v);
        if (v == id)
            return base + mid * size;
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, base + i * size, sizeof v);
        if (v == id)
            return base + i * size;
    }
    return NULL;
}

const ttm_report_stack *ttm_cli_stack(const ttm_report *r, uint32_t id)
{
    return by_id(r->stacks, r->nstacks, sizeof *r->stacks, id);
}

const ttm_report_module *ttm_cli_module(const ttm_report *r, uint32_t id)
{
    return by_id(r->modules, r->nmodules, sizeof *r->modules, id);
}

const char *ttm_cli_string(const ttm_report *r, uint32_t id)
{
    const ttm_report_string *s = by_id(r->strings, r->nstrings, sizeof *r->strings, id);
    return s != NULL ? s->text : NULL;
}

/* ---- symbolization ----------------------------------------------------------------------------- */

/* The bytes of a lower-case (or upper-case) hex build-id into out (cap bytes); returns their
 * count, 0 when there is none or it is not whole hex. */
static size_t build_id_bytes(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = hex != NULL ? strlen(hex) : 0;
    if (n == 0 || n % 2 != 0 || n / 2 > cap)
        return 0;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d > 15)
                return 0;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return n / 2;
}

#define INLINE_MAX 16 /* functions of one address's inline chain shown */
#define GATE_PREFIX "ttm__gated_" /* ttmem.h's inline gate around the reporting calls */

size_t ttm_cli_symbolize_stack(const ttm_report *r, ttm_report_stack *st, ttm_sym *sym)
{
    size_t resolved = 0;
    for (size_t i = 0; i < st->nframes; i++) {
        ttm_report_frame *f = &st->frames[i];
        if (f->kind != TTM_FRAME_NATIVE || f->function != NULL || f->module == 0)
            continue;
        const ttm_report_module *m = ttm_cli_module(r, f->module);
        if (m == NULL || m->path == NULL)
            continue;
        uint8_t bid[TTM_STACKS_BUILD_ID_MAX];
        size_t blen = build_id_bytes(m->build_id, bid, sizeof bid);
        ttm_sym_frame chain[INLINE_MAX];
        size_t n = 0;
        if (ttm_sym_lookup_inline(sym, m->path, blen ? bid : NULL, blen, f->offset, chain,
                                  INLINE_MAX, &n) != TTM_OK ||
            n == 0)
            continue;
        resolved++;
        /* ttmem's own frames are not the caller's: libttmem trims its own, and the header's
         * inline gate (ttm__gated_*, inlined into the caller) is trimmed here, where inlined
         * functions become visible */
        size_t skip = 0;
        while (i == 0 && skip + 1 < n && chain[skip].function != NULL &&
               strncmp(chain[skip].function, GATE_PREFIX, sizeof GATE_PREFIX - 1) == 0)
            skip++;
        memmove(chain, chain + skip, (n - skip) * sizeof *chain);
        n -= skip;
        if (n > 1) { /* room for the chain: frames i+1.. move up by n-1 */
            st->frames = ttm__xreallocarray(st->frames, st->nframes + n - 1, sizeof *st->frames);
            memmove(&st->frames[i + n], &st->frames[i + 1],
                    (st->nframes - i - 1) * sizeof *st->frames);
            st->nframes += n - 1;
            f = &st->frames[i];
            for (size_t k = 1; k < n; k++)
                st->frames[i + k] = *f;
        }
        for (size_t k = 0; k < n; k++) {
            ttm_report_frame *g = &st->frames[i + k];
            g->function = chain[k].function ? ttm__xstrdup(chain[k].function) : NULL;
            g->file = chain[k].file ? ttm__xstrdup(chain[k].file) : NULL;
            g->line = chain[k].line;
        }
        i += n - 1;
    }
    return resolved;
}

size_t ttm_cli_symbolize(ttm_report *r, ttm_sym *sym)
{
    if (r->nstacks == 0)
        return 0;
    ttm_sym *own = NULL;
    if (sym == NULL) {
        if (ttm_sym_open(&own) != TTM_OK)
            return 0;
        sym = own;
    }
    size_t resolved = 0;
    for (size_t i = 0; i < r->nstacks; i++)
        resolved += ttm_cli_symbolize_stack(r, &r->stacks[i], sym);
    ttm_sym_close(own);
    return resolved;
}

/* ---- text ------------------------------------------------------------------------------------ */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

void ttm_cli_frame_text(const ttm_report *r, const ttm_report_frame *f, char *buf, size_t len)
{
    const char *module = NULL;
    if (f->kind == TTM_FRAME_NATIVE) {
        const ttm_report_module *m = ttm_cli_module(r, f->module);
        module = m != NULL && m->path != NULL ? base_name(m->path) : NULL;
    } else if (f->kind == TTM_FRAME_PYTHON) {
        module = "python";
    } else {
        module = ttm_cli_string(r, f->module); /* TEXT: the module name the log gave */
    }
    if (f->function == NULL && f->kind == TTM_FRAME_NATIVE) {
        if (module != NULL)
            snprintf(buf, len, "%s+0x%" PRIx64, module, f->offset);
        else
            snprintf(buf, len, "0x%" PRIx64, f->offset);
        return;
    }
    int o = snprintf(buf, len, "%s", f->function != NULL ? f->function : "??");
    if (o >= 0 && (size_t)o < len && f->file != NULL) {
        if (f->line != 0)
            o += snprintf(buf + o, len - (size_t)o, " (%s:%" PRIu32 ")", f->file, f->line);
        else
            o += snprintf(buf + o, len - (size_t)o, " (%s)", f->file);
    }
    if (o >= 0 && (size_t)o < len && module != NULL)
        snprintf(buf + o, len - (size_t)o, " [%s]", module);
}

void ttm_cli_print_stack(FILE *out, const ttm_report *r, uint32_t stack, unsigned depth,
                         int indent)
{
    const ttm_report_stack *st = ttm_cli_stack(r, stack);
    if (st == NULL || st->nframes == 0) {
        fprintf(out, "%*s(no call stack%s)\n", indent, "",
                stack == 0 ? ": tracked without stacks, or the capture failed" : " in the report");
        return;
    }
    size_t shown = st->nframes < depth ? st->nframes : depth;
    char text[1024];
    for (size_t i = 0; i < shown; i++) {
        ttm_cli_frame_text(r, &st->frames[i], text, sizeof text);
        fprintf(out, "%*sat %s\n", indent, "", text);
    }
    if (shown < st->nframes)
        fprintf(out, "%*s...%zu more frame%s (--stack-depth)\n", indent, "",
                st->nframes - shown, st->nframes - shown == 1 ? "" : "s");
}

const char *ttm_cli_names(const ttm_report *r, uint32_t scope, uint32_t phase, char *buf,
                          size_t len)
{
    const char *s = ttm_cli_string(r, scope), *p = ttm_cli_string(r, phase);
    snprintf(buf, len, "%s%s%s%s%s", s ? "scope " : "", s ? s : "", s && p ? ", " : "",
             p ? "phase " : "", p ? p : "");
    return buf;
}

int ttm_cli_name_ids(const ttm_registry *reg, const uint32_t *stacks, size_t nstacks,
                     const uint32_t *scopes, size_t nscopes, ttm_sym *sym, ttm_report *r)
{
    memset(r, 0, sizeof *r);
    r->live_sites = ttm__calloc(nstacks + 1, sizeof *r->live_sites);
    r->breakdown = ttm__calloc(nscopes + 1, sizeof *r->breakdown);
    if (r->live_sites == NULL || r->breakdown == NULL)
        return TTM_ENOMEM;
    for (size_t i = 0; i < nstacks; i++)
        r->live_sites[r->nlive_sites++] = (ttm_live_site){.stack = stacks[i]};
    for (size_t i = 0; i < nscopes; i++)
        r->breakdown[r->nbreakdown++] =
            (ttm_breakdown){.kind = TTM_BREAKDOWN_SCOPE, .name = scopes[i]};
    int err = ttm_report_resolve(r, ttm_registry_stacks_c(reg));
    if (err != TTM_OK)
        return err;
    ttm_cli_symbolize(r, sym);
    return 0;
}
