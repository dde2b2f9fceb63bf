/* test_metrics: the registry renders the Prometheus text format 0.0.4:
 * one HELP and TYPE per name, labelled series, cumulative histogram
 * buckets with +Inf, _sum and _count, the process metrics and build info;
 * counts from several threads at once add up exactly; HOST:PORT checks. */
#include "rs_check.h"
#include "rs_http.h"
#include "rs_metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_THREADS 4
#define S_ADDS 100000

static rs_metric_t *s_counter;

static void *s_add(void *arg)
{
    for (int i = 0; i < S_ADDS; i++)
        rs_metric_add(s_counter, 1);
    return arg;
}

/* How many times needle occurs in text. */
static int s_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

int main(void)
{
    rs_metrics_set_version("9.8.7");
    s_counter = rs_metrics_counter("recsign_test_events_total", "Events.", NULL);
    rs_metric_t *a = rs_metrics_counter("recsign_test_dropped_total", "Dropped.", "reason=\"a\"");
    rs_metric_t *b = rs_metrics_counter("recsign_test_dropped_total", "Dropped.", "reason=\"b\"");
    rs_metric_t *gauge = rs_metrics_gauge("recsign_test_backlog_records", "Backlog.", NULL);
    rs_metric_t *hist = rs_metrics_histogram("recsign_test_wait_seconds", "Wait.", NULL);
    RS_CHECK(s_counter && a && b && gauge && hist);
    /* NULL series (not registered) count nothing and do not crash. */
    rs_metric_add(NULL, 1);
    rs_metric_set(NULL, 1);
    rs_metric_observe_us(NULL, 1);
    RS_CHECK(rs_metric_value(NULL) == 0);

    pthread_t ids[S_THREADS];
    for (int t = 0; t < S_THREADS; t++)
        RS_CHECK(pthread_create(&ids[t], NULL, s_add, NULL) == 0);
    for (int t = 0; t < S_THREADS; t++)
        pthread_join(ids[t], NULL);
    RS_CHECK(rs_metric_value(s_counter) == (int64_t) S_THREADS * S_ADDS);

    rs_metric_add(a, 3);
    rs_metric_add(b, 5);
    rs_metric_set(gauge, 42);
    rs_metric_set(gauge, 17);
    rs_metric_observe_us(hist, 50);       /* <= 0.0001 */
    rs_metric_observe_us(hist, 300);      /* <= 0.0005 */
    rs_metric_observe_us(hist, 2000000);  /* <= 2.5 */
    rs_metric_observe_us(hist, 60000000); /* only +Inf */
    rs_metric_observe_us(hist, -5);       /* counted as 0 */

    size_t size = 0;
    char *text = rs_metrics_render(&size);
    RS_CHECK(text && size == strlen(text));
    RS_CHECK(strstr(text, "# TYPE recsign_test_events_total counter\nrecsign_test_events_total 400000\n"));
    RS_CHECK(s_count(text, "# HELP recsign_test_dropped_total ") == 1);
    RS_CHECK(s_count(text, "# TYPE recsign_test_dropped_total counter\n") == 1);
    RS_CHECK(strstr(text, "recsign_test_dropped_total{reason=\"a\"} 3\n"));
    RS_CHECK(strstr(text, "recsign_test_dropped_total{reason=\"b\"} 5\n"));
    RS_CHECK(strstr(text, "# TYPE recsign_test_backlog_records gauge\nrecsign_test_backlog_records 17\n"));
    RS_CHECK(strstr(text, "# TYPE recsign_test_wait_seconds histogram\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_bucket{le=\"0.0001\"} 2\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_bucket{le=\"0.00025\"} 2\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_bucket{le=\"0.0005\"} 3\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_bucket{le=\"1\"} 3\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_bucket{le=\"2.5\"} 4\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_bucket{le=\"10\"} 4\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_bucket{le=\"+Inf\"} 5\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_sum 62.000350\n"));
    RS_CHECK(strstr(text, "recsign_test_wait_seconds_count 5\n"));
    RS_CHECK(strstr(text, "\nprocess_resident_memory_bytes "));
    RS_CHECK(!strstr(text, "\nprocess_resident_memory_bytes 0\n"));
    RS_CHECK(strstr(text, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
    RS_CHECK(strstr(text, "recsign_build_info{version=\"9.8.7\"} 1\n"));
    /* The process started a moment ago: within a minute before now. */
    const char *start = strstr(text, "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ");
    RS_CHECK(start);
    double started = strtod(strchr(start, '\n') + strlen("\nprocess_start_time_seconds "), NULL);
    double now = (double) time(NULL);
    RS_CHECK(started > now - 60 && started <= now + 1);
    RS_CHECK(text[size - 1] == '\n');
    free(text);

    char err[256];
    RS_CHECK(rs_http_check_bind("127.0.0.1:9100", err, sizeof err) == 0);
    RS_CHECK(rs_http_check_bind("*:9100", err, sizeof err) == 0);
    RS_CHECK(rs_http_check_bind(":9100", err, sizeof err) == 0);
    RS_CHECK(rs_http_check_bind("[::1]:9100", err, sizeof err) == 0);
    RS_CHECK(rs_http_check_bind("localhost:9100", err, sizeof err) == 0);
    RS_CHECK(rs_http_check_bind("127.0.0.1", err, sizeof err) == -1 && strstr(err, "no port"));
    RS_CHECK(rs_http_check_bind("127.0.0.1:", err, sizeof err) == -1);
    RS_CHECK(rs_http_check_bind("127.0.0.1:0", err, sizeof err) == -1 && strstr(err, "1 to 65535"));
    RS_CHECK(rs_http_check_bind("127.0.0.1:65536", err, sizeof err) == -1);
    RS_CHECK(rs_http_check_bind("127.0.0.1:http", err, sizeof err) == -1);
    RS_CHECK(rs_http_check_bind("no.such.host.invalid:9100", err, sizeof err) == -1
             && strstr(err, "cannot resolve"));
    return 0;
}
