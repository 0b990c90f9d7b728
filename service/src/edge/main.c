/*
 * hubcast-service entry point: parse configuration and run the server, or run
 * one of the emulator-compatible verbs (azure-signalr-service.md section 7):
 *
 *   hubcast-service [start] [options]
 *   hubcast-service upstream init [-o DIR] [--force]
 *   hubcast-service upstream list [-c FILE|DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "upstream_req.h"

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

static void upstream_usage(FILE *f)
{
    fprintf(f, "Usage: hubcast-service upstream init [-o DIR] [--force]\n"
               "       hubcast-service upstream list [-c FILE|DIR]\n\n"
               "  init   Write a default settings.json (every event of every hub goes to the\n"
               "         Azure Functions host at http://localhost:7071) into DIR (default: the\n"
               "         current directory). An existing file is kept unless --force is given\n"
               "         or you confirm overwriting it at the prompt.\n"
               "  list   Print the upstream rules of FILE, of DIR/settings.json, or of\n"
               "         ./settings.json.\n");
}

/* Ask on a terminal; anything but y/yes keeps the file. */
static bool confirm_overwrite(const char *path)
{
    if (!isatty(STDIN_FILENO))
        return false;
    fprintf(stderr, "%s already exists. Overwrite it? [y/N] ", path);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}

static int upstream_init(const char *dir, bool force)
{
    char path[1100];
    size_t dl = strlen(dir);
    if (snprintf(path, sizeof path, "%s%ssettings.json", dir,
                 (dl && dir[dl - 1] == '/') ? "" : "/") >= (int)sizeof path) {
        fprintf(stderr, "hubcast-service: output path too long\n");
        return 2;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "hubcast-service: %s is not a directory\n", dir);
        return 1;
    }
    bool exists = access(path, F_OK) == 0;
    if (exists && !force && !confirm_overwrite(path)) {
        fprintf(stderr, "hubcast-service: %s already exists; not overwritten (use --force)\n",
                path);
        return 1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "hubcast-service: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t len = strlen(HCS_UPSTREAM_DEFAULT_SETTINGS);
    ssize_t w = write(fd, HCS_UPSTREAM_DEFAULT_SETTINGS, len);
    if (close(fd) != 0 || w != (ssize_t)len) {
        fprintf(stderr, "hubcast-service: cannot write %s\n", path);
        return 1;
    }
    printf("Exported default settings to %s.\n", path);
    return 0;
}

static int upstream_list(const char *config)
{
    char path[1100];
    if (hcs_upstream_settings_path(config, path, sizeof path) != 0) {
        fprintf(stderr, "hubcast-service: settings path too long\n");
        return 2;
    }
    struct hcp_upstream_settings s;
    struct stat st;
    bool missing = false;
    char err[1300];
    if (hcs_upstream_settings_read(path, &s, &st, &missing, err, sizeof err) != 0) {
        if (missing && !*config) {
            printf("No settings file at %s: no upstream is configured "
                   "(create one with `hubcast-service upstream init`).\n", path);
            return 0;
        }
        fprintf(stderr, "hubcast-service: %s\n", err);
        return 1;
    }
    printf("Upstream rules from %s (the first match wins):\n", path);
    hcs_upstream_settings_print(stdout, &s);
    hcp_upstream_settings_cleanup(&s);
    return 0;
}

/* `hubcast-service upstream …`: argv[1] is "upstream". */
static int upstream_verb(int argc, char **argv)
{
    if (argc < 3 || !strcmp(argv[2], "-h") || !strcmp(argv[2], "--help") ||
        !strcmp(argv[2], "help")) {
        upstream_usage(argc < 3 ? stderr : stdout);
        return argc < 3 ? 2 : 0;
    }
    bool is_init = !strcmp(argv[2], "init");
    if (!is_init && strcmp(argv[2], "list")) {
        fprintf(stderr, "hubcast-service: unknown upstream command '%s'\n", argv[2]);
        upstream_usage(stderr);
        return 2;
    }
    const char *dir = ".";
    const char *config = getenv("HUBCAST_CONFIG");
    if (!config)
        config = "";
    bool force = false;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            upstream_usage(stdout);
            return 0;
        } else if (is_init && (!strcmp(a, "-o") || !strcmp(a, "--output")) && has_next) {
            dir = argv[++i];
        } else if (is_init && !strncmp(a, "--output=", 9)) {
            dir = a + 9;
        } else if (is_init && (!strcmp(a, "--force") || !strcmp(a, "-f"))) {
            force = true;
        } else if (!is_init && (!strcmp(a, "-c") || !strcmp(a, "--config")) && has_next) {
            config = argv[++i];
        } else if (!is_init && !strncmp(a, "--config=", 9)) {
            config = a + 9;
        } else {
            fprintf(stderr, "hubcast-service: unexpected argument '%s'\n", a);
            upstream_usage(stderr);
            return 2;
        }
    }
    return is_init ? upstream_init(dir, force) : upstream_list(config);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "upstream"))
        return upstream_verb(argc, argv);
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
