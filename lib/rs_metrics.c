/* rs_metrics: see rs_metrics.h. */
#include "rs_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Enough for the largest process (the keycoord registers about 20). */
#define S_MAX_SERIES 96

const double rs_metrics_duration_bounds[RS_METRICS_DURATION_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10,
};

/* Registration appends under the lock; rendering reads under it too.
 * Neither is on a hot path; updates never take it. */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static rs_metric_t *s_series[S_MAX_SERIES];
static size_t s_count;
static const char *s_version = "unknown";

static rs_metric_t *s_register(rs_metric_kind_t kind, const char *name, const char *help,
                               const char *labels)
{
    rs_metric_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->kind = kind;
    m->name = name;
    m->help = help;
    m->labels = labels;
    pthread_mutex_lock(&s_lock);
    if (s_count < S_MAX_SERIES)
        s_series[s_count++] = m;
    else {
        free(m);
        m = NULL;
    }
    pthread_mutex_unlock(&s_lock);
    return m;
}

rs_metric_t *rs_metrics_counter(const char *name, const char *help, const char *labels)
{
    return s_register(RS_METRIC_COUNTER, name, help, labels);
}

rs_metric_t *rs_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return s_register(RS_METRIC_GAUGE, name, help, labels);
}

rs_metric_t *rs_metrics_histogram(const char *name, const char *help, const char *labels)
{
    return s_register(RS_METRIC_HISTOGRAM, name, help, labels);
}

void rs_metrics_set_version(const char *version)
{
    s_version = version;
}

void rs_metric_observe_us(rs_metric_t *m, int64_t us)
{
    if (!m)
        return;
    if (us < 0)
        us = 0;
    double seconds = (double) us / 1e6;
    size_t b = 0;
    while (b < RS_METRICS_DURATION_BUCKETS && seconds > rs_metrics_duration_bounds[b])
        b++;
    /* Per bucket, not cumulative: rendering sums them up. */
    atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us, (uint64_t) us, memory_order_relaxed);
}

int64_t rs_metric_value(const rs_metric_t *m)
{
    return m ? atomic_load_explicit(&m->value, memory_order_relaxed) : 0;
}

static const char *s_type_name(rs_metric_kind_t kind)
{
    return kind == RS_METRIC_COUNTER ? "counter" : kind == RS_METRIC_GAUGE ? "gauge" : "histogram";
}

/* name{labels} or name{labels,extra} or name{extra} or name. */
static void s_series_name(FILE *out, const char *name, const char *suffix, const char *labels,
                          const char *extra)
{
    fprintf(out, "%s%s", name, suffix);
    if (labels || extra)
        fprintf(out, "{%s%s%s}", labels ? labels : "", labels && extra ? "," : "",
                extra ? extra : "");
}

static void s_render_histogram(FILE *out, rs_metric_t *m)
{
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= RS_METRICS_DURATION_BUCKETS; b++) {
        cumulative += atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
        char le[48];
        if (b < RS_METRICS_DURATION_BUCKETS)
            snprintf(le, sizeof le, "le=\"%g\"", rs_metrics_duration_bounds[b]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        s_series_name(out, m->name, "_bucket", m->labels, le);
        fprintf(out, " %llu\n", (unsigned long long) cumulative);
    }
    s_series_name(out, m->name, "_sum", m->labels, NULL);
    fprintf(out, " %.6f\n", (double) atomic_load_explicit(&m->sum_us, memory_order_relaxed) / 1e6);
    s_series_name(out, m->name, "_count", m->labels, NULL);
    fprintf(out, " %llu\n", (unsigned long long) cumulative);
}

/* When this process started, in seconds since the Unix epoch, as
 * Prometheus's client libraries compute process_start_time_seconds: the
 * boot time (btime in /proc/stat) plus the process's start in clock ticks
 * since boot (field 22 of /proc/self/stat, proc(5)). 0 when unreadable. */
static double s_start_time_seconds(void)
{
    char stat[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
    if (f)
        fclose(f);
    stat[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: fields
     * are counted from its last ')'. Field 3 follows it. */
    char *p = strrchr(stat, ')');
    unsigned long long ticks = 0;
    if (!p)
        return 0;
    p++;
    for (int field = 3; field <= 22 && p; field++) {
        while (*p == ' ')
            p++;
        if (field == 22)
            ticks = strtoull(p, NULL, 10);
        p = strchr(p, ' ');
    }
    unsigned long long btime = 0;
    f = fopen("/proc/stat", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    if (f)
        fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || !ticks || hz <= 0)
        return 0;
    return (double) btime + (double) ticks / (double) hz;
}

/* The standard process metrics (client libraries' names). */
static void s_render_process(FILE *out)
{
    long pages_total = 0, pages_resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm) {
        if (fscanf(statm, "%ld %ld", &pages_total, &pages_resident) != 2)
            pages_resident = 0;
        fclose(statm);
    }
    fprintf(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                 "# TYPE process_resident_memory_bytes gauge\n"
                 "process_resident_memory_bytes %lld\n",
            (long long) pages_resident * (long long) sysconf(_SC_PAGESIZE));
    struct timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    fprintf(out, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                 "# TYPE process_cpu_seconds_total counter\n"
                 "process_cpu_seconds_total %.6f\n",
            (double) cpu.tv_sec + (double) cpu.tv_nsec / 1e9);
    fprintf(out, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                 "# TYPE process_start_time_seconds gauge\n"
                 "process_start_time_seconds %.2f\n",
            s_start_time_seconds());
    fprintf(out, "# HELP recsign_build_info The recsign version this process was built from.\n"
                 "# TYPE recsign_build_info gauge\n"
                 "recsign_build_info{version=\"%s\"} 1\n",
            s_version);
}

char *rs_metrics_render(size_t *size)
{
    char *text = NULL;
    *size = 0;
    FILE *out = open_memstream(&text, size);
    if (!out)
        return NULL;
    pthread_mutex_lock(&s_lock);
    const char *previous = NULL;
    for (size_t i = 0; i < s_count; i++) {
        rs_metric_t *m = s_series[i];
        if (!previous || strcmp(previous, m->name) != 0)
            fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                    s_type_name(m->kind));
        previous = m->name;
        if (m->kind == RS_METRIC_HISTOGRAM)
            s_render_histogram(out, m);
        else {
            s_series_name(out, m->name, "", m->labels, NULL);
            fprintf(out, " %lld\n", (long long) atomic_load_explicit(&m->value, memory_order_relaxed));
        }
    }
    pthread_mutex_unlock(&s_lock);
    s_render_process(out);
    if (fclose(out) != 0) {
        free(text);
        *size = 0;
        return NULL;
    }
    return text;
}
