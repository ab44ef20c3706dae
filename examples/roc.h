/* roc: the exact ROC AUC of anomaly scores, shared by the anomaly examples. */
#ifndef AE_EXAMPLE_ROC_H
#define AE_EXAMPLE_ROC_H

#include <stddef.h>

typedef struct scored {
    float score;
    size_t index;
} scored;

/* Exact ROC AUC (Mann-Whitney U): P(score of a random positive > score of a random negative)
 * + 0.5 P(equal). s is sorted ascending in place; positive[i] says whether row i is one. */
double roc_auc(scored *s, size_t n, const unsigned char *positive);

#endif
