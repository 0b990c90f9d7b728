/*
 * Handler registry, pending-call table and hc_invocation accessors (see
 * calls.h). Pure data structures; no locks, no I/O.
 */
#include "calls.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hcp/common.h"
#include "hcp/jsonscan.h"
#include "hcp/text.h"

int hc__handlers_add(struct hc__handlers *h, const char *method, hc_handler_fn fn, void *user)
{
    if (method == NULL || *method == '\0' || fn == NULL)
        return HC_ERR_INVALID;
    struct hc__handler *n = hcp_calloc(1, sizeof *n);
    if (n == NULL)
        return HC_ERR_NOMEM;
    n->method = hcp_strdup(method);
    if (n->method == NULL) {
        hcp_free(n);
        return HC_ERR_NOMEM;
    }
    n->fn = fn;
    n->user = user;
    struct hc__handler **pp = &h->head;
    while (*pp)
        pp = &(*pp)->next;
    *pp = n;
    h->n++;
    return HC_OK;
}

size_t hc__handlers_remove(struct hc__handlers *h, const char *method, hc_handler_fn fn)
{
    size_t removed = 0;
    struct hc__handler **pp = &h->head;
    while (*pp) {
        struct hc__handler *n = *pp;
        if (hcp_str_ieq(n->method, method) && (fn == NULL || n->fn == fn)) {
            *pp = n->next;
            hcp_free(n->method);
            hcp_free(n);
            h->n--;
            removed++;
        } else {
            pp = &n->next;
        }
    }
    return removed;
}

size_t hc__handlers_find(const struct hc__handlers *h, const char *target,
                         struct hc__handler_ref *out, size_t cap)
{
    size_t n = 0;
    for (const struct hc__handler *it = h->head; it && n < cap; it = it->next) {
        if (hcp_str_ieq(it->method, target) || strcmp(it->method, "*") == 0) {
            out[n].fn = it->fn;
            out[n].user = it->user;
            n++;
        }
    }
    return n;
}

void hc__handlers_clear(struct hc__handlers *h)
{
    struct hc__handler *n = h->head;
    while (n) {
        struct hc__handler *next = n->next;
        hcp_free(n->method);
        hcp_free(n);
        n = next;
    }
    h->head = NULL;
    h->n = 0;
}

struct hc__call *hc__calls_add(struct hc__calls *t, enum hc__call_kind kind, hc_result_fn done,
                               hc_item_fn item, void *user)
{
    struct hc__call *c = hcp_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->id = t->next_id++;
    snprintf(c->id_str, sizeof c->id_str, "%" PRIu64, c->id);
    c->kind = kind;
    c->done = done;
    c->item = item;
    c->user = user;
    struct hc__call **pp = &t->head;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    return c;
}

struct hc__call *hc__calls_find(const struct hc__calls *t, const char *id_str)
{
    for (struct hc__call *c = t->head; c; c = c->next)
        if (strcmp(c->id_str, id_str) == 0)
            return c;
    return NULL;
}

static struct hc__call *take_if(struct hc__calls *t, const char *id_str, uint64_t id)
{
    for (struct hc__call **pp = &t->head; *pp; pp = &(*pp)->next) {
        struct hc__call *c = *pp;
        if (id_str ? strcmp(c->id_str, id_str) == 0 : c->id == id) {
            *pp = c->next;
            c->next = NULL;
            return c;
        }
    }
    return NULL;
}

struct hc__call *hc__calls_take(struct hc__calls *t, const char *id_str)
{
    return take_if(t, id_str, 0);
}

struct hc__call *hc__calls_take_id(struct hc__calls *t, uint64_t id)
{
    return take_if(t, NULL, id);
}

struct hc__call *hc__calls_take_all(struct hc__calls *t)
{
    struct hc__call *all = t->head;
    t->head = NULL;
    return all;
}

void hc__calls_free_list(struct hc__call *list)
{
    while (list) {
        struct hc__call *next = list->next;
        hcp_free(list);
        list = next;
    }
}

/* ---- hc_invocation ----------------------------------------------------------------------- */

int hc__invocation_init(struct hc_invocation *inv, const char *target, const cJSON *args,
                        bool expects_result)
{
    memset(inv, 0, sizeof *inv);
    inv->target = target;
    inv->args = args;
    inv->expects_result = expects_result;
    inv->n_args = (size_t)cJSON_GetArraySize(args);
    char *printed = cJSON_PrintUnformatted(args);
    if (printed == NULL)
        return HC_ERR_NOMEM;
    inv->args_json = printed;
    if (inv->n_args > 0) {
        inv->arg_cache = hcp_calloc(inv->n_args, sizeof(char *));
        if (inv->arg_cache == NULL) {
            cJSON_free(printed);
            inv->args_json = NULL;
            return HC_ERR_NOMEM;
        }
    }
    return HC_OK;
}

void hc__invocation_cleanup(struct hc_invocation *inv)
{
    if (inv->arg_cache) {
        for (size_t i = 0; i < inv->n_args; i++)
            cJSON_free(inv->arg_cache[i]);
        hcp_free(inv->arg_cache);
    }
    cJSON_free((char *)inv->args_json);
    hcp_free(inv->result_json);
    hcp_free(inv->error);
    memset(inv, 0, sizeof *inv);
}

const char *hc_invocation_target(const hc_invocation *inv)
{
    return inv->target;
}

const char *hc_invocation_args_json(const hc_invocation *inv)
{
    return inv->args_json;
}

size_t hc_invocation_n_args(const hc_invocation *inv)
{
    return inv->n_args;
}

static const cJSON *arg(const hc_invocation *inv, size_t i)
{
    if (i >= inv->n_args)
        return NULL;
    return cJSON_GetArrayItem(inv->args, (int)i);
}

const char *hc_invocation_arg_json(hc_invocation *inv, size_t i)
{
    const cJSON *a = arg(inv, i);
    if (a == NULL)
        return NULL;
    if (inv->arg_cache[i] == NULL)
        inv->arg_cache[i] = cJSON_PrintUnformatted(a);
    return inv->arg_cache[i];
}

const char *hc_invocation_arg_string(const hc_invocation *inv, size_t i)
{
    const cJSON *a = arg(inv, i);
    return cJSON_IsString(a) ? a->valuestring : NULL;
}

int hc_invocation_arg_number(const hc_invocation *inv, size_t i, double *out)
{
    const cJSON *a = arg(inv, i);
    if (!cJSON_IsNumber(a))
        return HC_ERR_INVALID;
    *out = a->valuedouble;
    return HC_OK;
}

int hc_invocation_arg_bool(const hc_invocation *inv, size_t i, bool *out)
{
    const cJSON *a = arg(inv, i);
    if (!cJSON_IsBool(a))
        return HC_ERR_INVALID;
    *out = cJSON_IsTrue(a);
    return HC_OK;
}

bool hc_invocation_expects_result(const hc_invocation *inv)
{
    return inv->expects_result;
}

int hc_invocation_set_result(hc_invocation *inv, const char *result_json)
{
    if (!inv->expects_result)
        return HC_ERR_STATE;
    if (result_json == NULL || hcp_json_validate(result_json, strlen(result_json)) != 0)
        return HC_ERR_INVALID;
    char *copy = hcp_strdup(result_json);
    if (copy == NULL)
        return HC_ERR_NOMEM;
    hcp_free(inv->result_json);
    hcp_free(inv->error);
    inv->error = NULL;
    inv->result_json = copy;
    return HC_OK;
}

int hc_invocation_set_error(hc_invocation *inv, const char *error)
{
    if (!inv->expects_result)
        return HC_ERR_STATE;
    if (error == NULL || *error == '\0' || !hcp_utf8_valid((const uint8_t *)error, strlen(error)))
        return HC_ERR_INVALID;
    char *copy = hcp_strdup(error);
    if (copy == NULL)
        return HC_ERR_NOMEM;
    hcp_free(inv->error);
    hcp_free(inv->result_json);
    inv->result_json = NULL;
    inv->error = copy;
    return HC_OK;
}
