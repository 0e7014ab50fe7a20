/* Checks of the C library's contract, run by tests/test_c_library.py against the tree
 * `make c-lib` stages (linked through pkg-config, shared and static):
 *   c_library_check CLASSIFIER_BUNDLE_DIR TEXT
 * checks the version against the header's macros, the scores buffer contract, the empty
 * text passed as (NULL, 0), and one handle shared by several threads at once; then prints
 *   version<TAB>VERSION
 *   LABEL<TAB>score score ...
 * for TEXT. The first failed check prints a message and exits with status 1.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cerebellum.h"

#define THREADS 4
#define ROUNDS_PER_THREAD 200

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#define CHECK(condition)                                                                                     \
    do {                                                                                                     \
        if (!(condition)) {                                                                                  \
            fprintf(stderr, "check failed at line %d: %s (last error: %s)\n", __LINE__, #condition,         \
                    cerebellum_last_error());                                                                \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

typedef struct {
    const CerebellumModel *model;
    const char *text;
    size_t expected_label;
    const float *expected_scores;
    size_t labels;
    int disagreements;
} SharedQuery;

/* Classify the same text on the shared handle again and again; count any answer that differs. */
static void *classify_repeatedly(void *arg) {
    SharedQuery *query = arg;
    float *scores = malloc(query->labels * sizeof *scores);
    if (!scores) {
        query->disagreements = -1;
        return NULL;
    }
    for (int round = 0; round < ROUNDS_PER_THREAD; round++) {
        size_t label = 0;
        CerebellumStatus status =
            cerebellum_classify(query->model, query->text, strlen(query->text), &label, scores, query->labels);
        if (status != CEREBELLUM_STATUS_OK || label != query->expected_label ||
            memcmp(scores, query->expected_scores, query->labels * sizeof *scores) != 0)
            query->disagreements++;
    }
    free(scores);
    return NULL;
}

static void check_version(void) {
    const char *numbers = STRINGIFY(CEREBELLUM_VERSION_MAJOR) "." STRINGIFY(CEREBELLUM_VERSION_MINOR) "." STRINGIFY(
        CEREBELLUM_VERSION_PATCH);
    const char *version = cerebellum_version();
    CHECK(version != NULL);
    CHECK(strcmp(version, CEREBELLUM_VERSION) == 0);
    /* CEREBELLUM_VERSION may carry a pre-release suffix after the three numbers. */
    CHECK(strncmp(version, numbers, strlen(numbers)) == 0);
    CHECK(version == cerebellum_version()); /* static: the same string every time */
}

static void check_scores_buffer(const CerebellumModel *model, size_t labels) {
    const char *text = "when is dinner?";
    float scores[3] = {-1.0f, -1.0f, -1.0f};
    size_t label = 12345;
    CHECK(labels >= 1 && labels < 3);
    /* One float short: refused, and nothing written. */
    CHECK(cerebellum_classify(model, text, strlen(text), &label, scores, labels - 1) ==
          CEREBELLUM_STATUS_BUFFER_TOO_SMALL);
    CHECK(label == 12345 && scores[0] == -1.0f && scores[labels - 1] == -1.0f);
    CHECK(strstr(cerebellum_last_error(), "labels") != NULL);
    bool defer = true;
    CHECK(cerebellum_classify_defer(model, text, strlen(text), &label, scores, 0, &defer) ==
          CEREBELLUM_STATUS_BUFFER_TOO_SMALL);
    CHECK(label == 12345 && defer);
    /* Exactly one per label, more than enough, or no scores at all: answered. */
    CHECK(cerebellum_classify(model, text, strlen(text), &label, scores, labels) == CEREBELLUM_STATUS_OK);
    CHECK(label < labels && scores[labels - 1] >= 0.0f);
    CHECK(cerebellum_classify(model, text, strlen(text), &label, scores, 3) == CEREBELLUM_STATUS_OK);
    CHECK(scores[labels] == -1.0f); /* nothing past the last label */
    CHECK(cerebellum_classify(model, text, strlen(text), &label, NULL, 0) == CEREBELLUM_STATUS_OK);
}

static void check_empty_text(const CerebellumModel *model, size_t labels) {
    float from_null[3], from_empty[3];
    size_t label_from_null = 12345, label_from_empty = 54321;
    CHECK(cerebellum_classify(model, NULL, 0, &label_from_null, from_null, labels) == CEREBELLUM_STATUS_OK);
    CHECK(cerebellum_classify(model, "", 0, &label_from_empty, from_empty, labels) == CEREBELLUM_STATUS_OK);
    CHECK(label_from_null == label_from_empty && memcmp(from_null, from_empty, labels * sizeof(float)) == 0);
    /* A null pointer with bytes to read stays an error. */
    CHECK(cerebellum_classify(model, NULL, 1, &label_from_null, from_null, labels) ==
          CEREBELLUM_STATUS_NULL_ARGUMENT);
}

static void check_shared_handle(const CerebellumModel *model, const char *text, size_t labels) {
    float expected[3];
    size_t label = 0;
    CHECK(cerebellum_classify(model, text, strlen(text), &label, expected, labels) == CEREBELLUM_STATUS_OK);
    pthread_t threads[THREADS];
    SharedQuery queries[THREADS];
    for (int i = 0; i < THREADS; i++) {
        queries[i] = (SharedQuery){model, text, label, expected, labels, 0};
        CHECK(pthread_create(&threads[i], NULL, classify_repeatedly, &queries[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(queries[i].disagreements == 0);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CLASSIFIER_BUNDLE_DIR TEXT\n", argv[0]);
        return 2;
    }
    check_version();
    CerebellumModel *model = NULL;
    CHECK(cerebellum_load(argv[1], &model) == CEREBELLUM_STATUS_OK);
    CHECK(cerebellum_kind(model) == CEREBELLUM_KIND_CLASSIFIER);
    size_t labels = cerebellum_num_labels(model);
    check_scores_buffer(model, labels);
    check_empty_text(model, labels);
    check_shared_handle(model, argv[2], labels);

    float scores[3];
    size_t label = 0;
    CHECK(cerebellum_classify(model, argv[2], strlen(argv[2]), &label, scores, labels) == CEREBELLUM_STATUS_OK);
    printf("version\t%s\n%s\t", cerebellum_version(), cerebellum_label(model, label));
    for (size_t i = 0; i < labels; i++) printf("%s%.9g", i ? " " : "", scores[i]);
    printf("\n");
    cerebellum_free(model);
    return 0;
}
