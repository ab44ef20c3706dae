#include "roc.h"

#include <stdlib.h>

static int by_score(const void *a, const void *b) {
    const float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

double roc_auc(scored *s, size_t n, const unsigned char *positive) {
    qsort(s, n, sizeof *s, by_score);
    double rank_sum = 0.0; /* sum of the (1-based, tie-averaged) ranks of the positives */
    size_t n_pos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j].score == s[i].score) j++;
        const double mid_rank = 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
        for (size_t t = i; t < j; t++)
            if (positive[s[t].index]) {
                rank_sum += mid_rank;
                n_pos++;
            }
        i = j;
    }
    const size_t n_neg = n - n_pos;
    if (n_pos == 0 || n_neg == 0) return 0.5;
    return (rank_sum - 0.5 * (double)n_pos * (double)(n_pos + 1)) / ((double)n_pos * (double)n_neg);
}
