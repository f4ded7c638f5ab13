/*
 * gendocs.c — writes the generated blocks of the docs from the record tables
 * (core/report_schema.c): docs/REPORT_SCHEMA.md's records, docs/DAEMON.md's snapshot
 * sections and docs/METRICS.md's table of every family (core/metrics.c's tables). A block is
 * the text between the lines `<!-- generated: NAME -->` and
 * `<!-- end generated -->`; everything else of a file is copied as it is.
 *
 *   gendocs IN_DIR OUT_DIR    reads IN_DIR/NAME.md, writes OUT_DIR/NAME.md (the same directory
 *                             regenerates in place; ctest cli.docs compares a fresh copy)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "common/snapshot.h"
#include "core/metrics.h"
#include "core/report.h"

static void block_report_records(FILE *out)
{
    for (size_t i = ttm_report_nrecords; i-- > 0;) /* the report first, then what it holds */
        ttm__schema_doc(out, ttm_report_records[i]);
}

/* The records a section's rows hold, each once, in the order met. */
static void collect(const ttm_record *rec, const ttm_record **seen, size_t *n, size_t cap)
{
    for (size_t i = 0; i < *n; i++)
        if (seen[i] == rec)
            return;
    if (*n >= cap) { /* a table cut short would be a wrong document: refuse */
        fprintf(stderr, "gendocs: more than %zu records under the report; raise the bound\n",
                cap);
        exit(1);
    }
    seen[(*n)++] = rec;
    for (size_t i = 0; i < rec->nfields; i++)
        if (rec->fields[i].rec != NULL && !(rec->fields[i].flags & TTM_FF_OFFWIRE))
            collect(rec->fields[i].rec, seen, n, cap);
}

static void block_snapshot_sections(FILE *out)
{
    const ttm_record *seen[128];
    size_t nseen = 0;
    fprintf(out, "| id | name | rows of the report it carries |\n|---|---|---|\n");
    for (unsigned id = 1; id < 32; id++) {
        const char *name = ttm__snap_section_name(id);
        if (name[0] == '?')
            continue;
        fprintf(out, "| %u | %s |", id, name);
        const char *sep = " ";
        for (size_t i = 0; i < ttm_rec_report.nfields; i++) {
            const ttm_field *f = &ttm_rec_report.fields[i];
            if (f->section != id || (f->flags & TTM_FF_OFFWIRE))
                continue;
            fprintf(out, "%s`%s`", sep, f->name);
            sep = ", ";
        }
        fprintf(out, " |\n");
    }
    fprintf(out,
            "\nA section's bytes are the rows it carries, in the order of the report record:\n\n");
    ttm__schema_doc_wire(out, &ttm_rec_report, 0);
    for (size_t i = 0; i < ttm_rec_report.nfields; i++) {
        const ttm_field *f = &ttm_rec_report.fields[i];
        if (f->rec != NULL && !(f->flags & TTM_FF_OFFWIRE))
            collect(f->rec, seen, &nseen, sizeof seen / sizeof seen[0]);
    }
    for (size_t i = 0; i < nseen; i++) {
        fprintf(out, "`%s`:\n\n", seen[i]->name);
        ttm__schema_doc_wire(out, seen[i], 0);
    }
}

/* Each item of a label list ("device,memtype", "kind=\"alloc\"") in backticks, those of the
 * previous lists of the family (prev[0..nprev)) left out. */
static void labels_cell(FILE *out, const ttm_prom_family *fams, size_t first, size_t k)
{
    const char *sep = "";
    for (size_t e = first; e <= k; e++) {
        for (const char *l = fams[e].labels; l != NULL && *l != '\0';) {
            size_t n = strcspn(l, ",");
            bool seen = false;
            for (size_t d = first; d < e && !seen; d++)
                seen = fams[d].labels != NULL && strncmp(fams[d].labels, l, n) == 0 &&
                       (fams[d].labels[n] == '\0' || fams[d].labels[n] == ',');
            if (!seen) {
                fprintf(out, "%s`%.*s`", sep, (int)n, l);
                sep = ", ";
            }
            l += n + (l[n] == ',');
        }
    }
}

static void fixed_row(FILE *out, const ttm_prom_family *f)
{
    fprintf(out, "| `%s` | %s | ", f->name, f->kind);
    labels_cell(out, f, 0, 0);
    fprintf(out, " | %s%s | %s |\n", f->path,
            (f->flags & TTM_PROM_ENDPOINT) ? " (endpoint only, not in `ttmem metrics`)" : "",
            f->help);
}

/* The families of a record's exported rows (core/metrics.c, record_families): a family once,
 * with the rows it is written from. */
static void record_rows(FILE *out, const ttm_record *rec)
{
    for (size_t i = 0; i < rec->nfields; i++) {
        const ttm_field *f = &rec->fields[i];
        if (f->prom == NULL || (i > 0 && rec->fields[i - 1].prom != NULL &&
                                strcmp(rec->fields[i - 1].prom, f->prom) == 0))
            continue; /* a family once, at its first row */
        fprintf(out, "| `%s` | %s | ", f->prom, f->prom_kind);
        size_t k = i;
        for (; k < rec->nfields && rec->fields[k].prom != NULL &&
               strcmp(rec->fields[k].prom, f->prom) == 0;
             k++)
            if (rec->fields[k].prom_labels != NULL)
                fprintf(out, "%s`%s`", k > i ? ", " : "", rec->fields[k].prom_labels);
        fprintf(out, " | ");
        for (size_t m = i; m < k; m++)
            fprintf(out, "%s`%s.%s` (%s)", m > i ? "; " : "", rec->name, rec->fields[m].name,
                    rec->fields[m].help);
        fprintf(out, " | %s |\n", f->prom_help ? f->prom_help : f->help);
    }
}

/* Every family of the exposition, in the order of the text (core/metrics.c): the fixed ones,
 * those of the record rows and those of the paths through the record tables. */
static void block_metrics_families(FILE *out)
{
    fprintf(out, "| family | type | labels | from | HELP |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < TTM_PROM_NHEAD; i++)
        fixed_row(out, &ttm_prom_fixed[i]);
    for (size_t i = 0; i < ttm_prom_nfamilies; i++) {
        const ttm_prom_family *f = &ttm_prom_families[i];
        if (f->name == NULL) {
            const ttm_field *row = NULL;
            for (size_t k = 0; k < ttm_rec_report.nfields && row == NULL; k++)
                if (strcmp(ttm_rec_report.fields[k].name, f->path) == 0)
                    row = &ttm_rec_report.fields[k];
            if (row != NULL && row->rec != NULL)
                record_rows(out, row->rec);
            continue;
        }
        if (f->help == NULL)
            continue; /* written with the entry that opens the family */
        size_t k = i;
        while (k + 1 < ttm_prom_nfamilies && ttm_prom_families[k + 1].help == NULL &&
               ttm_prom_families[k + 1].name != NULL &&
               strcmp(ttm_prom_families[k + 1].name, f->name) == 0)
            k++;
        fprintf(out, "| `%s` | %s | ", f->name, f->kind);
        labels_cell(out, ttm_prom_families, i, k);
        fprintf(out, " | ");
        for (size_t e = i; e <= k; e++) {
            const ttm_field *row = ttm_metrics_value_row(&ttm_prom_families[e]);
            fprintf(out, "%s`%s` (%s)", e > i ? "; " : "", ttm_prom_families[e].path,
                    row ? row->help : "?");
        }
        fprintf(out, " | %s%s |\n", f->help,
                (f->flags & TTM_PROM_NONZERO) ? " No sample for a value of 0." : "");
    }
    for (size_t i = TTM_PROM_NHEAD; i < ttm_prom_nfixed; i++)
        fixed_row(out, &ttm_prom_fixed[i]);
}

typedef struct block {
    const char *name;
    void (*write)(FILE *);
} block;

static const block blocks[] = {
    {"report-records", block_report_records},
    {"snapshot-sections", block_snapshot_sections},
    {"metrics-families", block_metrics_families},
};

static int regenerate(const char *in_dir, const char *out_dir, const char *file)
{
    char in_path[4096], out_path[4096];
    snprintf(in_path, sizeof in_path, "%s/%s", in_dir, file);
    snprintf(out_path, sizeof out_path, "%s/%s", out_dir, file);
    FILE *in = fopen(in_path, "r");
    if (in == NULL) {
        perror(in_path);
        return 1;
    }
    char *text = NULL; /* the whole output, built first: IN and OUT may be the same file */
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char line[8192];
    bool skipping = false;
    int rc = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        if (skipping) {
            if (strncmp(line, "<!-- end generated -->", 22) == 0) {
                fputs(line, mem);
                skipping = false;
            }
            continue;
        }
        fputs(line, mem);
        char name[64];
        if (sscanf(line, "<!-- generated: %63[a-z-] -->", name) == 1) {
            size_t k = 0;
            while (k < sizeof blocks / sizeof blocks[0] && strcmp(blocks[k].name, name) != 0)
                k++;
            if (k == sizeof blocks / sizeof blocks[0]) {
                fprintf(stderr, "gendocs: %s: unknown block '%s'\n", in_path, name);
                rc = 1;
                continue;
            }
            fputs("\n", mem);
            blocks[k].write(mem);
            skipping = true;
        }
    }
    fclose(in);
    fclose(mem);
    if (skipping) {
        fprintf(stderr, "gendocs: %s: a generated block is not closed\n", in_path);
        rc = 1;
    }
    FILE *out = rc == 0 ? fopen(out_path, "w") : NULL;
    if (rc == 0 && (out == NULL || fwrite(text, 1, len, out) != len)) {
        perror(out_path);
        rc = 1;
    }
    if (out != NULL && fclose(out) != 0)
        rc = 1;
    free(text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gendocs IN_DIR OUT_DIR\n");
        return 2;
    }
    static const char *const files[] = {"REPORT_SCHEMA.md", "DAEMON.md", "METRICS.md"};
    int rc = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        rc |= regenerate(argv[1], argv[2], files[i]);
    return rc;
}
