/* hubcast-service entry point: parse configuration, run the server. */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "server.h"

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    struct hcs_config cfg;
    enum hcs_config_result r = hcs_config_load(&cfg, argc, argv, env_lookup, stdout, stderr);
    if (r == HCS_CONFIG_EXIT_OK)
        return 0;
    if (r != HCS_CONFIG_RUN)
        return 2;
    hcs_log_level = cfg.log_level;
    int rc = hcs_server_run(&cfg, stdout);
    hcs_config_cleanup(&cfg);
    return rc;
}
