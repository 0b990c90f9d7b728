/* hubcast-bridge entry point: configuration, then the event loop. */
#include <curl/curl.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "server.h"

int main(int argc, char **argv)
{
    struct hcb_config cfg;
    int rc = hcb_config_parse(&cfg, argc, argv, stderr);
    if (rc)
        return rc > 0 ? 0 : 2;
    hcb_log_level = cfg.log_level;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hcb_log(HCB_LOG_ERR, "main", "curl_global_init failed");
        return 1;
    }
    rc = hcb_server_run(&cfg, stdout);
    curl_global_cleanup();
    return rc;
}
