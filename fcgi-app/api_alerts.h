/* PingWatcher — the alerts API (spec §7): rules, their firing state and their history.
 *
 * Reads come from the store's `alerts` DB (libtrace/store.h, keys in engine-daemon/alerts.h);
 * changes go to pingwatcherd (alert.create/update/delete, CONTROL.md) after the same checks
 * the daemon makes that need no configuration, so a bad rule is refused even while the daemon
 * is down. Rule bodies are whole JSON objects (arrays of targets and actions), so their routes
 * carry PW_ROUTE_JSON_BODY and the handlers parse r->raw_body themselves.
 */
#ifndef PW_API_ALERTS_H
#define PW_API_ALERTS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "app.h"

/* ---- handlers ---- */

int pw_api_alerts_list(struct pw_req *r);    /* GET /api/alerts */
int pw_api_alert_create(struct pw_req *r);   /* POST /api/alerts */
int pw_api_alert_get(struct pw_req *r);      /* GET /api/alerts/{id} */
int pw_api_alert_update(struct pw_req *r);   /* PATCH /api/alerts/{id} */
int pw_api_alert_delete(struct pw_req *r);   /* DELETE /api/alerts/{id} */
int pw_api_alerts_firing(struct pw_req *r);  /* GET /api/alerts/firing */
int pw_api_alerts_history(struct pw_req *r); /* GET /api/alerts/history */

/* ---- parsing (plain input, unit-tested) ---- */

/* Parses a request body that must be one JSON object (valid UTF-8, nothing after it). On 0
 * *out is the object (caller frees with cJSON_Delete); otherwise -EINVAL with the reason in
 * err (-ENOMEM when out of memory). */
int pw_api_alert_body(const char *text, size_t len, cJSON **out, char *err, size_t errlen);

/* Checks a rule object as the API accepts it: pw_alert_rule_parse() (base NULL: create, every
 * required key; else PATCH of *base, at least one key). Fills *out. 0 or -EINVAL with the
 * reason in err. */
int pw_api_alert_validate(const cJSON *obj, const struct pw_alert_rule *base,
                          struct pw_alert_rule *out, char *err, size_t errlen);

/* Store keys of the `alerts` DB (engine-daemon/alerts.h). Each returns 0, or -EINVAL when the
 * key has the wrong tag or length. */
struct pw_api_alert_hkey {
    int64_t time_us;
    uint32_t rule, target;
    uint8_t event; /* enum pw_alert_event */
};
int pw_api_alert_rkey_parse(const void *k, size_t klen, uint32_t *rule);
int pw_api_alert_skey_parse(const void *k, size_t klen, uint32_t *rule, uint32_t *target);
int pw_api_alert_hkey_parse(const void *k, size_t klen, struct pw_api_alert_hkey *out);

#endif
