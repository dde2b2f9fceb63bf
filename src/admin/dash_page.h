/* dash_page: the dashboard's one page (HTML, CSS and the script that
 * applies each Server-Sent "state" event), served by dash_http. */
#ifndef DASH_PAGE_H
#define DASH_PAGE_H

#include <stddef.h>
#include <stdint.h>

/* The page with the signed and total counts written into the elements
 * with ids "signed" and "total" (plain digits) and the latest state (json,
 * one line of JSON with '<', '>' and '&' escaped, or NULL) applied by its
 * script as it loads, so that the page is whole before its first event;
 * every event then updates it, and the page's title says
 * "recsign SIGNED/TOTAL live" once one has. Returns a malloc'd
 * NUL-terminated text, its length in *size; NULL when memory runs out. */
char *dash_page_render(int64_t signed_count, int64_t total, const char *json, size_t *size);

#endif
