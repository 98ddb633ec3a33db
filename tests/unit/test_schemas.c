/*
 * A remote registry's ids in the local Avro registry (bc_avro_registry_set_id,
 * bc_avro_registry_add) and bc_schemas' offline behaviour: the file registry needs no
 * bridge, a URL makes every local id provisional (negative), values that need no lookup
 * send no request. The HTTP paths are tested by tests/integration/1803-registry-pipeline.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_avro.h"
#include "bc_config.h"
#include "bc_schemas.h"

#define T_V1 "{\"type\": \"record\", \"name\": \"T\", \"namespace\": \"x\", \"fields\": [" \
             "{\"name\": \"a\", \"type\": \"long\"}]}"
#define T_V2 "{\"type\": \"record\", \"name\": \"T\", \"namespace\": \"x\", \"fields\": [" \
             "{\"name\": \"a\", \"type\": \"long\"}, " \
             "{\"name\": \"b\", \"type\": \"string\", \"default\": \"d\"}]}"

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static struct bc_avro_registry *load_t(void)
{
    snprintf(dir, sizeof(dir), "/tmp/bc-test-schemas-XXXXXX");
    assert_non_null(mkdtemp(dir));
    write_file("T.v1.avsc", T_V1);
    write_file("manifest.json", "{\"schemas\": [{\"subject\": \"T\", \"version\": 1, \"id\": 1, "
                                "\"file\": \"T.v1.avsc\"}]}");
    struct bc_avro_registry *reg = NULL;
    char errstr[256];
    assert_int_equal(bc_avro_registry_load(dir, &reg, errstr, sizeof(errstr)), 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/T.v1.avsc", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    unlink(path);
    rmdir(dir);
    return reg;
}

static void test_registry_set_id(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load_t();
    const struct bc_avro_schema *t = bc_avro_registry_lookup(reg, "T");
    assert_ptr_equal(bc_avro_registry_by_id(reg, 1), t);
    bc_avro_registry_set_id(reg, t, 42);
    assert_null(bc_avro_registry_by_id(reg, 1));
    assert_ptr_equal(bc_avro_registry_by_id(reg, 42), t);
    /* Encoded records carry the new id. */
    avro_value_t v, a;
    assert_int_equal(bc_avro_value_new(t, &v), 0);
    assert_int_equal(avro_value_get_by_name(&v, "a", &a, NULL), 0);
    assert_int_equal(avro_value_set_long(&a, 7), 0);
    struct bc_avro_buf buf = {0};
    char errstr[256];
    assert_int_equal(bc_avro_encode(t, &v, &buf, errstr, sizeof(errstr)), 0);
    const uint8_t header[] = {0, 0, 0, 0, 42};
    assert_memory_equal(buf.data, header, sizeof(header));
    avro_value_decref(&v);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

static void test_registry_add_foreign_version(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load_t();
    const struct bc_avro_schema *t = bc_avro_registry_lookup(reg, "T");
    char errstr[256];
    const struct bc_avro_schema *v2 = bc_avro_registry_add(reg, T_V2, 50, errstr, sizeof(errstr));
    assert_non_null(v2);
    assert_string_equal(bc_avro_schema_subject(v2), "T");
    assert_int_equal(bc_avro_schema_version(v2), 0);
    assert_int_equal(bc_avro_schema_id(v2), 50);
    assert_ptr_equal(bc_avro_registry_lookup(reg, "T"), t); /* never picked by lookups */
    assert_ptr_equal(bc_avro_registry_by_id(reg, 50), v2);

    /* A v2 record (id 50) reads as the local v1 and as written. */
    avro_value_t w, f, r;
    assert_int_equal(bc_avro_value_new(v2, &w), 0);
    assert_int_equal(avro_value_get_by_name(&w, "a", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, -9), 0);
    assert_int_equal(avro_value_get_by_name(&w, "b", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "yes"), 0);
    struct bc_avro_buf buf = {0};
    assert_int_equal(bc_avro_encode(v2, &w, &buf, errstr, sizeof(errstr)), 0);
    assert_int_equal(buf.data[4], 50);
    assert_int_equal(bc_avro_value_new(t, &r), 0);
    assert_int_equal(bc_avro_decode(reg, t, buf.data, buf.len, &r, errstr, sizeof(errstr)), 0);
    int64_t a = 0;
    assert_int_equal(avro_value_get_by_name(&r, "a", &f, NULL), 0);
    assert_int_equal(avro_value_get_long(&f, &a), 0);
    assert_int_equal(a, -9);
    avro_value_reset(&w);
    assert_int_equal(bc_avro_decode(reg, NULL, buf.data, buf.len, &w, errstr, sizeof(errstr)), 0);
    const char *b = NULL;
    size_t blen = 0;
    assert_int_equal(avro_value_get_by_name(&w, "b", &f, NULL), 0);
    assert_int_equal(avro_value_get_string(&f, &b, &blen), 0);
    assert_string_equal(b, "yes");

    /* Another record name: its own subject, readable as written only. */
    const struct bc_avro_schema *u = bc_avro_registry_add(
        reg, "{\"type\": \"record\", \"name\": \"U\", \"fields\": []}", 51, errstr, sizeof(errstr));
    assert_non_null(u);
    assert_string_equal(bc_avro_schema_subject(u), "U");
    /* Not a record, not Avro: refused with the id named. */
    assert_null(bc_avro_registry_add(reg, "\"long\"", 52, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "schema id 52"));
    assert_null(bc_avro_registry_add(reg, "{nope", 53, errstr, sizeof(errstr)));
    assert_null(bc_avro_registry_by_id(reg, 53));

    avro_value_decref(&w);
    avro_value_decref(&r);
    bc_avro_buf_free(&buf);
    bc_avro_registry_destroy(reg);
}

static void test_schemas_offline(void **state)
{
    (void)state;
    struct bc_avro_registry *reg = load_t();
    struct bc_schemas *sc = (struct bc_schemas *)1;
    char errstr[256];
    struct bc_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.schemas.registry = "file";
    assert_int_equal(bc_schemas_new(&cfg, reg, &sc, errstr, sizeof(errstr)), 0);
    assert_null(sc);
    assert_int_equal(bc_schemas_new(NULL, reg, &sc, errstr, sizeof(errstr)), 0);
    assert_null(sc);
    assert_ptr_equal(bc_avro_registry_by_id(reg, 1), bc_avro_registry_lookup(reg, "T"));

    /* A URL: local ids become provisional; nothing is sent before a call needs it. */
    cfg.schemas.registry = "http://127.0.0.1:1";
    assert_int_equal(bc_schemas_new(&cfg, reg, &sc, errstr, sizeof(errstr)), 0);
    assert_non_null(sc);
    assert_null(bc_avro_registry_by_id(reg, 1));
    assert_ptr_equal(bc_avro_registry_by_id(reg, -1), bc_avro_registry_lookup(reg, "T"));
    bc_schemas_expect(sc, "t.out", "T");
    bc_schemas_expect(sc, "t.out", "NoSuchSchema"); /* ignored */
    bc_schemas_expect_output(sc, "repartition", "t.rep"); /* unknown output: ignored */
    const uint8_t json[] = "{\"a\": 1}";
    const uint8_t provisional[] = {0, 0xff, 0xff, 0xff, 0xff, 14};
    assert_int_equal(bc_schemas_input(sc, json, sizeof(json) - 1), 0);
    assert_int_equal(bc_schemas_input(sc, provisional, sizeof(provisional)), 0);
    assert_int_equal(bc_schemas_input(sc, NULL, 0), 0);
    bc_schemas_free(sc);
    bc_schemas_free(NULL);

    cfg.schemas.registry = "http://127.0.0.1:1";
    cfg.schemas.ca_file = "/nonexistent/ca.pem"; /* read only when a request is made */
    assert_int_equal(bc_schemas_new(&cfg, reg, &sc, errstr, sizeof(errstr)), 0);
    bc_schemas_free(sc);
    bc_avro_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_set_id),
        cmocka_unit_test(test_registry_add_foreign_version),
        cmocka_unit_test(test_schemas_offline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
