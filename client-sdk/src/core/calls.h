/*
 * Pure bookkeeping for hub calls: the handler registry (method names matched
 * ASCII case-insensitively, like the JS client, spec 5.2), the table of
 * pending invocations and streams keyed by invocation id, and the
 * hc_invocation object handed to handlers (argument access, client results).
 *
 * No locking here: the edge holds its lock around registry and table calls
 * and never calls user code with it held. Allocation through hcp_malloc.
 */
#ifndef HC_CORE_CALLS_H
#define HC_CORE_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hubcast.h"

struct hc__handler {
    char *method;
    hc_handler_fn fn;
    void *user;
    struct hc__handler *next;
};

struct hc__handlers {
    struct hc__handler *head;
    size_t n;
};

/* A copy of one matching handler, safe to call after the lock is dropped. */
struct hc__handler_ref {
    hc_handler_fn fn;
    void *user;
};

#define HC__MAX_HANDLERS_PER_CALL 32

HC_NODISCARD int hc__handlers_add(struct hc__handlers *h, const char *method, hc_handler_fn fn,
                                  void *user);
/* Remove handlers for method using fn (NULL: all); returns how many were removed. */
size_t hc__handlers_remove(struct hc__handlers *h, const char *method, hc_handler_fn fn);
/* Copy up to cap handlers registered for target, in registration order; returns the count. */
size_t hc__handlers_find(const struct hc__handlers *h, const char *target,
                         struct hc__handler_ref *out, size_t cap);
void hc__handlers_clear(struct hc__handlers *h);

enum hc__call_kind { HC__CALL_INVOKE, HC__CALL_STREAM };

struct hc__call {
    uint64_t id;
    char id_str[24];
    enum hc__call_kind kind;
    hc_result_fn done;
    hc_item_fn item;
    void *user;
    struct hc__call *next;
};

struct hc__calls {
    struct hc__call *head;
    uint64_t next_id; /* ids are decimal strings from "0" like the JS client (spec 5.1) */
};

/* Register a call and assign it the next id. Returns NULL on allocation failure. */
struct hc__call *hc__calls_add(struct hc__calls *t, enum hc__call_kind kind, hc_result_fn done,
                               hc_item_fn item, void *user);
struct hc__call *hc__calls_find(const struct hc__calls *t, const char *id_str);
/* Unlink and return the call (free with hcp_free) or NULL. */
struct hc__call *hc__calls_take(struct hc__calls *t, const char *id_str);
struct hc__call *hc__calls_take_id(struct hc__calls *t, uint64_t id);
/* Unlink every call; returns the list (linked by next) in registration order. */
struct hc__call *hc__calls_take_all(struct hc__calls *t);
void hc__calls_free_list(struct hc__call *list);

/* A received Invocation (opaque hc_invocation in hubcast.h). */
struct hc_invocation {
    const char *target;
    const cJSON *args;
    const char *args_json;   /* the arguments exactly as printed by cJSON */
    char **arg_cache;        /* lazily printed arguments */
    size_t n_args;
    bool expects_result;
    char *result_json;       /* set by hc_invocation_set_result */
    char *error;             /* set by hc_invocation_set_error */
};

/* Prepare inv for target/args (borrowed; args an array). Returns HC_ERR_NOMEM. */
HC_NODISCARD int hc__invocation_init(struct hc_invocation *inv, const char *target,
                                     const cJSON *args, bool expects_result);
void hc__invocation_cleanup(struct hc_invocation *inv);

/* "Client didn't provide a result." (JS client text, spec 7) */
#define HC__ERR_NO_RESULT "Client didn't provide a result."

#endif
