/* Placeholder until the upstream dispatcher lands: installs nothing. */
#include "upstream.h"

#include <stdlib.h>

struct hcs_upstream {
    int unused;
};

struct hcs_upstream *hcs_upstream_new(const struct hcs_config *cfg, struct hcs_core *core,
                                      void (*wake)(void *user), void *wake_user)
{
    (void)cfg;
    (void)core;
    (void)wake;
    (void)wake_user;
    return calloc(1, sizeof(struct hcs_upstream));
}

void hcs_upstream_poll(struct hcs_upstream *u, int64_t now_ms)
{
    (void)u;
    (void)now_ms;
}

void hcs_upstream_free(struct hcs_upstream *u)
{
    free(u);
}
