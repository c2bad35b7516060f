// A minimal hyper research skill in C: ranks the shortest documents of the domain's data
// first, whatever the query. `hyper skill build` generates `bindings/` (wit-bindgen-c), compiles
// with clang for wasm32-wasi and adapts the module into a component.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "research_skill.h"

#define QUERIES 225

typedef struct {
    size_t len;
    int id;
} doc_t;

static int shortest_first(const void *a, const void *b) {
    const doc_t *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id - y->id;
}

static void log_info(const char *text) {
    research_skill_string_t message;
    research_skill_string_set(&message, text);
    hyper_research_log_log(HYPER_RESEARCH_LOG_LEVEL_INFO, &message);
}

static bool fail(exports_hyper_research_experiment_error_t *err, uint8_t tag, const char *text) {
    err->tag = tag;
    // Every error case carries a string at the same place.
    research_skill_string_dup(&err->val.failed, text);
    return false;
}

void exports_hyper_research_experiment_describe(exports_hyper_research_experiment_skill_info_t *ret) {
    research_skill_string_dup(&ret->name, "{{name}}");
    research_skill_string_dup(&ret->version, "0.1.0");
    research_skill_string_dup(&ret->domain, "{{domain}}");
    research_skill_string_dup(&ret->description, "ranks the shortest documents first (C template)");
    ret->params.len = 1;
    ret->params.ptr = calloc(1, sizeof(exports_hyper_research_experiment_param_spec_t));
    exports_hyper_research_experiment_param_spec_t *depth = &ret->params.ptr[0];
    research_skill_string_dup(&depth->name, "depth");
    research_skill_string_dup(&depth->description, "documents returned per query");
    depth->kind.tag = HYPER_RESEARCH_TYPES_PARAM_KIND_INT;
    depth->kind.val.int_ = (hyper_research_types_int_range_t){.min = 1, .max = 100, .default_ = 10};
}

bool exports_hyper_research_experiment_run(exports_hyper_research_experiment_experiment_spec_t *spec,
                                           exports_hyper_research_experiment_artifact_t *ret,
                                           exports_hyper_research_experiment_error_t *err) {
    int64_t depth = 10;
    for (size_t i = 0; i < spec->params.len; i++) {
        hyper_research_types_param_t *p = &spec->params.ptr[i];
        if (p->name.len == 5 && memcmp(p->name.ptr, "depth", 5) == 0 && p->value.tag == HYPER_RESEARCH_TYPES_PARAM_VALUE_INT)
            depth = p->value.val.int_;
    }
    exports_hyper_research_experiment_experiment_spec_free(spec);
    if (depth < 1 || depth > 100) return fail(err, HYPER_RESEARCH_TYPES_ERROR_INVALID_PARAMS, "depth must be 1..100");

    // The domain's data is mounted read-only at /data.
    FILE *f = fopen("/data/cran.all.1400", "rb");
    if (!f) return fail(err, HYPER_RESEARCH_TYPES_ERROR_DATA, "cannot open /data/cran.all.1400");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    text[got] = '\0';

    size_t cap = 2048, n = 0;
    doc_t *docs = malloc(cap * sizeof(doc_t));
    const char *start = NULL;
    int id = 0;
    for (const char *line = text; line && *line;) {
        if (strncmp(line, ".I ", 3) == 0) {
            if (start && n < cap) docs[n++] = (doc_t){.len = (size_t)(line - start), .id = id};
            start = line;
            id = atoi(line + 3);
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    if (start && n < cap) docs[n++] = (doc_t){.len = strlen(start), .id = id};
    free(text);
    qsort(docs, n, sizeof(doc_t), shortest_first);

    size_t out_cap = (size_t)QUERIES * (size_t)depth * 40 + 1, len = 0;
    char *out = malloc(out_cap);
    for (int q = 1; q <= QUERIES; q++)
        for (int r = 0; r < depth && (size_t)r < n; r++)
            len += (size_t)snprintf(out + len, out_cap - len, "%d\t%d\t%d\t%d\n", q, docs[r].id, r + 1, (int)(depth - r));
    free(docs);
    log_info("ranked the shortest documents first");
    research_skill_string_dup(&ret->media_type, "text/tab-separated-values; profile=trec-run");
    ret->bytes.ptr = (uint8_t *)out;
    ret->bytes.len = len;
    return true;
}
