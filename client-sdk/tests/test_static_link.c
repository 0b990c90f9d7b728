/* Links against the merged static libhubcast.a and uses only hubcast.h. */
#include <stdio.h>
#include <string.h>

#include "hubcast.h"

int main(void)
{
    if (hc_version() != HC_VERSION || strcmp(hc_version_string(), "1.1.0") != 0)
        return 1;
    hc_client *c = hc_client_new("http://127.0.0.1:1/client/?hub=x");
    if (c == NULL)
        return 1;
    if (hc_client_new("ftp://x/") != NULL)
        return 1;
    hc_client_free(c);
    puts("ok");
    return 0;
}
