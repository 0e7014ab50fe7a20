/* Load a bundle through the C ABI and answer lines from stdin:
 *   classifier: label (" (defer)" when deferred)<TAB>score per label<TAB>text
 *   tagger:     TYPE:text@byte_start-byte_end ...<TAB>text  ("-" for none)
 * Build against `make c-lib`'s tree (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig):
 *   cc lines.c $(pkg-config --cflags --libs cerebellum) -o lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cerebellum.h"

static int report(const char *what, CerebellumStatus status) {
    fprintf(stderr, "%s failed (status %d): %s\n", what, (int)status, cerebellum_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s BUNDLE_DIR < lines\n", argv[0]);
        return 2;
    }
    CerebellumModel *model = NULL;
    CerebellumStatus status = cerebellum_load(argv[1], &model);
    if (status != CEREBELLUM_STATUS_OK) return report("cerebellum_load", status);

    /* One score per label: a smaller buffer is refused with CEREBELLUM_STATUS_BUFFER_TOO_SMALL. */
    size_t n = cerebellum_num_labels(model);
    float *scores = malloc((n ? n : 1) * sizeof *scores);
    if (!scores) {
        cerebellum_free(model);
        return 1;
    }
    char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\n");
        line[len] = '\0';
        if (cerebellum_kind(model) == CEREBELLUM_KIND_CLASSIFIER) {
            size_t label = 0;
            bool defer = false;
            status = cerebellum_classify_defer(model, line, len, &label, scores, n, &defer);
            if (status != CEREBELLUM_STATUS_OK) return report("cerebellum_classify_defer", status);
            printf("%s%s\t", cerebellum_label(model, label), defer ? " (defer)" : "");
            for (size_t i = 0; i < n; i++)
                printf("%s%s=%.4f", i ? " " : "", cerebellum_label(model, i), scores[i]);
            printf("\t%s\n", line);
        } else {
            CerebellumEntity entities[64];
            size_t count = 0;
            status = cerebellum_tag(model, line, len, entities, 64, &count);
            if (status != CEREBELLUM_STATUS_OK) return report("cerebellum_tag", status);
            if (count == 0) printf("-");
            for (size_t i = 0; i < count; i++)
                printf("%s%s:%.*s@%zu-%zu", i ? " " : "", cerebellum_entity_type(model, entities[i].type_index),
                       (int)(entities[i].byte_end - entities[i].byte_start), line + entities[i].byte_start,
                       entities[i].byte_start, entities[i].byte_end);
            printf("\t%s\n", line);
        }
    }
    free(scores);
    cerebellum_free(model);
    return 0;
}
