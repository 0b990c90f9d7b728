/* Unit tests for hcp/settings.h: settings.json shapes, pattern matching,
 * URL templates, the claims header and invocation results. */
#include "test_util.h"

#include "hcp/settings.h"

static const char EMULATOR_DEFAULT[] =
    "{\n"
    "  \"UpstreamSettings\": {\n"
    "    \"Templates\": [\n"
    "      {\n"
    "        \"UrlTemplate\": \"http://localhost:7071/runtime/webhooks/signalr\",\n"
    "        \"EventPattern\": \"*\",\n"
    "        \"CategoryPattern\": \"*\",\n"
    "        \"HubPattern\": \"*\"\n"
    "      }\n"
    "    ]\n"
    "  }\n"
    "}\n";

static void parse_ok(const char *text, struct hcp_upstream_settings *s)
{
    const char *reason = NULL;
    int rc = hcp_upstream_settings_parse(text, strlen(text), s, &reason);
    if (rc != HCP_OK)
        fail_msg("parse failed (%d): %s for %s", rc, reason, text);
}

static void test_parse_emulator_shape(void **state)
{
    (void)state;
    struct hcp_upstream_settings s;
    parse_ok(EMULATOR_DEFAULT, &s);
    assert_int_equal(s.n_rules, 1);
    assert_string_equal(s.rules[0].url_template, "http://localhost:7071/runtime/webhooks/signalr");
    assert_string_equal(s.rules[0].hub_pattern, "*");
    assert_string_equal(s.rules[0].category_pattern, "*");
    assert_string_equal(s.rules[0].event_pattern, "*");
    assert_false(s.has_auth);
    hcp_upstream_settings_cleanup(&s);
}

static void test_parse_arm_shape(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"upstream\":{\"templates\":[{\"urlTemplate\":\"https://a.example/{hub}\","
        "\"hubPattern\":\"chat\",\"eventPattern\":\"connected,disconnected\","
        "\"categoryPattern\":\"connections\",\"auth\":{\"type\":\"ManagedIdentity\"}},"
        "{\"urlTemplate\":\"http://b.example/x\"}]}}",
        "{\"properties\":{\"upstream\":{\"templates\":[{\"urlTemplate\":\"https://a.example/"
        "{hub}\",\"hubPattern\":\"chat\",\"eventPattern\":\"connected,disconnected\","
        "\"categoryPattern\":\"connections\",\"auth\":{\"type\":\"ManagedIdentity\"}},"
        "{\"urlTemplate\":\"http://b.example/x\",\"hubPattern\":null,\"eventPattern\":\"  \"}]}}}",
    };
    for (size_t i = 0; i < 2; i++) {
        struct hcp_upstream_settings s;
        parse_ok(texts[i], &s);
        assert_int_equal(s.n_rules, 2);
        assert_true(s.has_auth);
        assert_string_equal(s.rules[0].url_template, "https://a.example/{hub}");
        assert_string_equal(s.rules[0].hub_pattern, "chat");
        assert_string_equal(s.rules[0].category_pattern, "connections");
        assert_string_equal(s.rules[0].event_pattern, "connected,disconnected");
        assert_string_equal(s.rules[1].hub_pattern, "*");
        assert_string_equal(s.rules[1].category_pattern, "*");
        assert_string_equal(s.rules[1].event_pattern, "*");
        hcp_upstream_settings_cleanup(&s);
    }
}

static void test_parse_variants(void **state)
{
    (void)state;
    struct {
        const char *text;
        size_t n_rules;
    } cases[] = {
        /* keys case-insensitive, comments, BOM */
        {"\xEF\xBB\xBF// settings\n{\"upstreamsettings\":{\"templates\":[/* one */"
         "{\"urltemplate\":\"HTTP://h/\"}]}}",
         1},
        {"{}", 0},
        {"{\"Logging\":{\"LogLevel\":{\"Default\":\"Information\"}}}", 0},
        {"{\"UpstreamSettings\":{}}", 0},
        {"{\"UpstreamSettings\":{\"Templates\":[]}}", 0},
        {"{\"UpstreamSettings\":null}", 0},
        {"{\"UpstreamSettings\":{\"Templates\":null}}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_upstream_settings s;
        parse_ok(cases[i].text, &s);
        assert_int_equal(s.n_rules, cases[i].n_rules);
        hcp_upstream_settings_cleanup(&s);
    }
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "[]",
        "\"x\"",
        "{",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"http://h/\"}]}} trailing",
        "{\"UpstreamSettings\":[]}",
        "{\"UpstreamSettings\":{\"Templates\":{}}}",
        "{\"UpstreamSettings\":{\"Templates\":[1]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"\"}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":5}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"file:///etc/passwd\"}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"localhost:7071/x\"}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"http://\"}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"http://h/a b\"}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"http://h/\",\"HubPattern\":1}]}}",
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"http://h/\"},"
        "{\"UrlTemplate\":\"ftp://h/\"}]}}",
        "{\"upstream\":{\"templates\":[{\"urlTemplate\":\"http://h/\",\"eventPattern\":[]}]}}",
        "\xff{}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hcp_upstream_settings s = {.n_rules = 77};
        const char *reason = NULL;
        int rc = hcp_upstream_settings_parse(bad[i], strlen(bad[i]), &s, &reason);
        if (rc != HCP_ERR_MALFORMED)
            fail_msg("case %zu accepted (%d): %s", i, rc, bad[i]);
        assert_non_null(reason);
        assert_int_equal(s.n_rules, 77); /* untouched */
    }
    /* Embedded NUL and oversized input. */
    struct hcp_upstream_settings s = {.n_rules = 77};
    const char *reason = NULL;
    assert_int_equal(hcp_upstream_settings_parse("{}\0", 3, &s, &reason), HCP_ERR_MALFORMED);
    assert_int_equal(hcp_upstream_settings_parse(EMULATOR_DEFAULT, HCP_SETTINGS_MAX_BYTES + 1, &s,
                                                 &reason),
                     HCP_ERR_TOO_LARGE);
    assert_int_equal(s.n_rules, 77);
}

static void test_parse_oom(void **state)
{
    (void)state;
    static const char text[] =
        "{\"UpstreamSettings\":{\"Templates\":[{\"UrlTemplate\":\"http://a/\",\"HubPattern\":"
        "\"x\"},{\"UrlTemplate\":\"http://b/\",\"EventPattern\":\"e\"}]}}";
    bool ok = false;
    for (int n = 1; n < 200 && !ok; n++) {
        tu_fail_nth(n);
        struct hcp_upstream_settings s;
        const char *reason = NULL;
        int rc = hcp_upstream_settings_parse(text, strlen(text), &s, &reason);
        if (rc == HCP_OK) {
            assert_int_equal(s.n_rules, 2);
            hcp_upstream_settings_cleanup(&s);
            ok = tu_n_failed == 0;
        } else {
            /* cJSON reports allocation failure as a syntax error. */
            assert_true(rc == HCP_ERR_NOMEM || rc == HCP_ERR_MALFORMED);
        }
    }
    assert_true(ok);
}

static void test_pattern_match(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *value;
        bool ignore_case, match;
    } cases[] = {
        {"*", "anything", false, true},
        {"*", "", false, true},
        {"chat", "chat", false, true},
        {"chat", "Chat", false, false},
        {"chat", "Chat", true, true},
        {"chat", "chat2", false, false},
        {"chat", "cha", false, false},
        {"a,b,c", "b", false, true},
        {"a, b , c", "b", false, true},
        {" a ,\tc\t", "c", false, true},
        {"a,b", "a,b", false, false},
        {"a,b", "ab", false, false},
        {"a,*", "zzz", false, true},
        {" * ", "zzz", false, true},
        {"a,,b", "", false, false},
        {"", "", false, false},
        {"", "x", false, false},
        {"connected,disconnected", "disconnected", false, true},
        {"connected,disconnected", "Connected", false, false},
        {"Chat,Room", "room", true, true},
        {"**", "x", false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool m = hcp_upstream_pattern_match(cases[i].pattern, cases[i].value,
                                            cases[i].ignore_case);
        if (m != cases[i].match)
            fail_msg("case %zu: '%s' vs '%s' gave %d", i, cases[i].pattern, cases[i].value, m);
    }
}

static void test_rule_match(void **state)
{
    (void)state;
    struct hcp_upstream_settings s;
    parse_ok("{\"UpstreamSettings\":{\"Templates\":["
             "{\"UrlTemplate\":\"http://r0/\",\"HubPattern\":\"Chat\",\"CategoryPattern\":"
             "\"connections\",\"EventPattern\":\"connected\"},"
             "{\"UrlTemplate\":\"http://r1/\",\"HubPattern\":\"chat,game\",\"CategoryPattern\":"
             "\"messages\",\"EventPattern\":\"*\"},"
             "{\"UrlTemplate\":\"http://r2/\",\"HubPattern\":\"*\",\"CategoryPattern\":\"*\","
             "\"EventPattern\":\"broadcast\"}]}}",
             &s);
    static const struct {
        const char *hub, *category, *event;
        long rule;
    } cases[] = {
        {"chat", "connections", "connected", 0},
        {"CHAT", "connections", "connected", 0},
        {"chat", "connections", "disconnected", -1},
        {"chat", "Connections", "connected", -1},
        {"chat", "messages", "send", 1},
        {"game", "messages", "broadcast", 1}, /* first match wins */
        {"other", "messages", "broadcast", 2},
        {"other", "messages", "Broadcast", -1},
        {"other", "connections", "broadcast", 2},
        {"other", "messages", "send", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long r = hcp_upstream_settings_match(&s, cases[i].hub, cases[i].category, cases[i].event);
        if (r != cases[i].rule)
            fail_msg("case %zu: %s/%s/%s gave %ld", i, cases[i].hub, cases[i].category,
                     cases[i].event, r);
    }
    hcp_upstream_settings_cleanup(&s);
    struct hcp_upstream_settings empty = {0};
    assert_int_equal(hcp_upstream_settings_match(&empty, "h", "c", "e"), -1);
    assert_int_equal(hcp_upstream_settings_match(NULL, "h", "c", "e"), -1);
}

static void test_url_expand(void **state)
{
    (void)state;
    static const struct {
        const char *tmpl, *hub, *category, *event, *want;
    } cases[] = {
        {"http://localhost:7071/runtime/webhooks/signalr", "h", "messages", "e",
         "http://localhost:7071/runtime/webhooks/signalr"},
        {"http://x/{hub}/api/{category}/{event}", "chat", "messages", "broadcast",
         "http://x/chat/api/messages/broadcast"},
        {"http://x/{HUB}/{Event}?c={category}", "chat", "connections", "connected",
         "http://x/chat/connected?c=connections"},
        {"http://x/{event}", "h", "messages", "a b/c?d&e=%", "http://x/a%20b%2Fc%3Fd%26e%3D%25"},
        {"http://x/{event}", "h", "messages", "\xc3\xa9", "http://x/%C3%A9"},
        {"http://x/{evt}/{hub", "h", "c", "e", "http://x/{evt}/{hub"},
        {"http://x/{{hub}}", "h", "c", "e", "http://x/{h}"},
        {"http://x/{hub}{hub}", "a-b_c.d~", "c", "e", "http://x/a-b_c.d~a-b_c.d~"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hcp_buf b;
        hcp_buf_init(&b, 0);
        assert_int_equal(hcp_upstream_url_expand(&b, cases[i].tmpl, cases[i].hub,
                                                 cases[i].category, cases[i].event),
                         HCP_OK);
        assert_string_equal(hcp_buf_cstr(&b), cases[i].want);
        hcp_buf_cleanup(&b);
    }
    /* Cap reached. */
    struct hcp_buf b;
    hcp_buf_init(&b, 8);
    assert_int_equal(hcp_upstream_url_expand(&b, "http://x/{hub}", "h", "c", "e"),
                     HCP_ERR_TOO_LARGE);
    hcp_buf_cleanup(&b);
}

static void claims_case(const char *json, const char *want)
{
    cJSON *c = cJSON_Parse(json);
    assert_non_null(c);
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_upstream_claims_header(&b, c), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), want);
    hcp_buf_cleanup(&b);
    cJSON_Delete(c);
}

static void test_claims_header(void **state)
{
    (void)state;
    claims_case("{\"aud\":\"http://x/client/?hub=h\",\"iat\":1,\"nbf\":1,\"exp\":2,\"iss\":\"i\","
                "\"asrs.s.uid\":\"alice\",\"asrs.s.htt\":1,\"marker\":\"abc\"}",
                "marker: abc");
    claims_case("{\"nameid\":\"alice\",\"marker\":\"abc\",\"asrs.u.aud\":\"my-aud\","
                "\"n\":42,\"f\":1.5,\"b\":true,\"nul\":null,\"role\":[\"r1\",\"r2\",null],"
                "\"o\":{\"k\":[1,\"v\"]}}",
                "nameid: alice, marker: abc, aud: my-aud, n: 42, f: 1.5, b: true, role: r1, "
                "role: r2, o: {\"k\":[1,\"v\"]}");
    /* Commas are not escaped (documented); control characters become spaces. */
    claims_case("{\"city\":\"Paris, France\",\"x\":\"a\\r\\nInjected: 1\"}",
                "city: Paris, France, x: a  Injected: 1");
    claims_case("{\"aud\":\"a\",\"asrs.s.uid\":\"u\"}", "");
    claims_case("{\"asrs.u.\":\"empty name\",\"http://schemas.xmlsoap.org/ws/2005/05/identity/"
                "claims/nameidentifier\":\"bob\"}",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier: bob");
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_upstream_claims_header(&b, NULL), HCP_OK);
    assert_int_equal(b.len, 0);
    hcp_buf_cleanup(&b);
}

static void test_header_value(void **state)
{
    (void)state;
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    assert_int_equal(hcp_upstream_header_value(&b, "a\r\nb\tc\x7f\xc3\xa9"), HCP_OK);
    assert_string_equal(hcp_buf_cstr(&b), "a  b c \xc3\xa9");
    hcp_buf_cleanup(&b);
}

static void result_case(long status, const char *body, size_t len, bool too_large,
                        const char *want, enum hcp_upstream_result want_kind)
{
    struct hcp_buf b;
    hcp_buf_init(&b, 0);
    enum hcp_upstream_result kind = (enum hcp_upstream_result)99;
    assert_int_equal(hcp_upstream_invocation_result(&b, "7", status, (const uint8_t *)body, len,
                                                    too_large, &kind),
                     HCP_OK);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("status %ld body '%.*s': got '%s' want '%s'", status, (int)len, body,
                 hcp_buf_cstr(&b), want);
    assert_int_equal(kind, want_kind);
    hcp_buf_cleanup(&b);
}

#define S(lit) lit, sizeof(lit) - 1

static void test_invocation_result(void **state)
{
    (void)state;
    /* Functions-style framed Completion: relayed byte for byte. */
    result_case(200, S("{\"type\":3,\"invocationId\":\"7\",\"result\":{\"a\":1}}\x1e"), false,
                "{\"type\":3,\"invocationId\":\"7\",\"result\":{\"a\":1}}\x1e", HCP_UPSTREAM_RELAYED);
    result_case(200, S("{\"type\":3,\"invocationId\":\"7\",\"error\":\"boom\"}\x1e"), false,
                "{\"type\":3,\"invocationId\":\"7\",\"error\":\"boom\"}\x1e", HCP_UPSTREAM_RELAYED);
    /* Empty answers. */
    result_case(200, "", 0, false, "{\"type\":3,\"invocationId\":\"7\"}\x1e", HCP_UPSTREAM_EMPTY);
    result_case(204, S("ignored"), false, "{\"type\":3,\"invocationId\":\"7\"}\x1e", HCP_UPSTREAM_EMPTY);
    /* Unframed JSON becomes the result. */
    result_case(200, S(" {\"x\": [1, 2]}\n"), false,
                "{\"type\":3,\"invocationId\":\"7\",\"result\":{\"x\":[1,2]}}\x1e", HCP_UPSTREAM_WRAPPED);
    result_case(201, S("\"hi\""), false, "{\"type\":3,\"invocationId\":\"7\",\"result\":\"hi\"}\x1e",
                HCP_UPSTREAM_WRAPPED);
    result_case(200, S("null"), false, "{\"type\":3,\"invocationId\":\"7\",\"result\":null}\x1e",
                HCP_UPSTREAM_WRAPPED);
    /* Garbage, wrong id, wrong type, two records. */
    static const char invalid[] =
        "{\"type\":3,\"invocationId\":\"7\",\"error\":\"Invocation failed, invalid response "
        "from upstream.\"}\x1e";
    result_case(200, S("not json"), false, invalid, HCP_UPSTREAM_INVALID);
    result_case(200, S("{\"type\":3,\"invocationId\":\"8\"}\x1e"), false, invalid, HCP_UPSTREAM_INVALID);
    result_case(200, S("{\"type\":1,\"target\":\"x\",\"arguments\":[]}\x1e"), false, invalid,
                HCP_UPSTREAM_INVALID);
    result_case(200, S("{\"type\":3,\"invocationId\":\"7\"}\x1e{\"type\":6}\x1e"), false, invalid,
                HCP_UPSTREAM_INVALID);
    result_case(200, S("{\"type\":3,\"invocationId\":\"7\"}\x1e\x1e"), false, invalid, HCP_UPSTREAM_INVALID);
    result_case(200, S("\"a\"\0"), false, invalid, HCP_UPSTREAM_INVALID);
    /* Status and size errors. */
    result_case(500, S("{\"type\":3,\"invocationId\":\"7\"}\x1e"), false,
                "{\"type\":3,\"invocationId\":\"7\",\"error\":\"Invocation failed, status code "
                "500\"}\x1e",
                HCP_UPSTREAM_STATUS);
    result_case(404, "", 0, false,
                "{\"type\":3,\"invocationId\":\"7\",\"error\":\"Invocation failed, status code "
                "404\"}\x1e",
                HCP_UPSTREAM_STATUS);
    result_case(200, S("{}"), true,
                "{\"type\":3,\"invocationId\":\"7\",\"error\":\"Invocation failed, response too "
                "large.\"}\x1e",
                HCP_UPSTREAM_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_parse_emulator_shape), TU_TEST(test_parse_arm_shape),
        TU_TEST(test_parse_variants),       TU_TEST(test_parse_bad),
        TU_TEST(test_parse_oom),            TU_TEST(test_pattern_match),
        TU_TEST(test_rule_match),           TU_TEST(test_url_expand),
        TU_TEST(test_claims_header),        TU_TEST(test_header_value),
        TU_TEST(test_invocation_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
