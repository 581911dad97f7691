/* PingWatcher — one FastCGI request from start to end: parse, route, check, answer. */
#ifndef PW_ROUTER_H
#define PW_ROUTER_H

#include <fcgiapp.h>

#include "app.h"

/* Handles the accepted request f with the worker's arena a (reset by the caller afterwards)
 * and its thread state th. Always answers something (an error when nothing else). */
void pw_router_handle(struct pw_app *app, FCGX_Request *f, struct pw_arena *a,
                      struct pw_app_thread *th);

#endif
